/**
 * The Docker agent end to end: a real server (in this process), a real agent (`rota agent start
 * --type docker` as a child process) and real containers, each running `node bin/rota.js internal
 * run-child` from the project mounted at /app.
 */
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { after, before, describe, test } from 'node:test'
import { LABEL_AGENT, LABEL_FLOW_RUN_ID, LABEL_MANAGED } from '../../src/agent/docker.ts'
import { ensureContainerEngine, removeContainersLabelled, skipDocker, type ContainerEngine } from '../helpers/container-engine.ts'
import { ROOT, spawnCli, startHarness, waitFor, waitForRunState, type Harness } from '../helpers/rota.ts'

const FLOWS = 'test/docker/fixtures/flows.ts'
// Each test that kills agents has its own flow label and agent: a stopped agent's last long-poll
// can stay open on the server until its wait ends and claim a run meant for the next agent.
// The reaper marks runs crashed after this much agent silence. Above the agent's 5 s long-poll,
// which is also its heartbeat period.
const SILENCE_MS = 8_000

describe('docker agent', { skip: skipDocker ? 'ROTA_SKIP_DOCKER=1' : false, timeout: 300_000 }, () => {
  let engine: ContainerEngine
  let h: Harness
  const agentNames: string[] = []
  // One agent for the tests that don't kill it. (A stopped agent's last long-poll may still be open on
  // the server and claim the next run; one agent throughout avoids depending on that.)
  let agent: Awaited<ReturnType<typeof startDockerAgent>> | undefined

  before(async () => {
    engine = await ensureContainerEngine()
    h = await startHarness({ silenceMs: SILENCE_MS })
    await h.register(FLOWS)
    agent = await startDockerAgent(`docker-test-${randomUUID().slice(0, 6)}`)
  })

  after(async () => {
    await agent?.kill('SIGTERM')
    for (const name of agentNames) await removeContainersLabelled(engine.docker, LABEL_AGENT, name)
    await h?.close()
  })

  function startDockerAgent(name: string, labels: string[] = []) {
    if (!agentNames.includes(name)) agentNames.push(name)
    return spawnCli(
      [
        'agent', 'start', '--type', 'docker', '--name', name, '--image', engine.image, '--network', engine.network, '--volume', `${ROOT}:/app`,
        ...labels.flatMap((label) => ['--label', label]),
      ],
      { ROTA_API_URL: h.server.url, ROTA_API_KEY: undefined, DOCKER_HOST: engine.dockerHost },
      /started \(id/,
    )
  }

  async function containersOf(flowRunId: string) {
    return engine.docker.listContainers({ all: true, filters: { label: [`${LABEL_FLOW_RUN_ID}=${flowRunId}`] } })
  }

  /** Waits for a run to be running; on timeout, says where it is and what the agent printed. */
  async function waitUntilRunning(flowRunId: string, agent: { output(): string }): Promise<void> {
    await waitForRunState(h.client, flowRunId, ['running'], 90_000).catch(async (error: Error) => {
      const run = await h.client.getRun(flowRunId)
      const containers = await containersOf(flowRunId)
      throw new Error(
        `${error.message}; the run is ${run.state} (${run.stateMessage}); containers: ${JSON.stringify(containers.map((c) => c.State))}\n` +
          `agent output:\n${agent.output()}\nrun logs:\n${(await logMessages(flowRunId)).join('\n')}`,
      )
    })
  }

  async function logMessages(flowRunId: string): Promise<string[]> {
    return (await h.client.logs(flowRunId)).items.map((l) => l.message)
  }

  test('a run succeeds in its own container, which is removed afterwards', async () => {
    const created = await h.client.createRun('docker-hello', {})
    const run = await waitForRunState(h.client, created.id, undefined, 90_000)
    assert.equal(run.state, 'success', `run ended ${run.state}: ${run.stateMessage}\n${agent?.output()}`)
    const messages = await logMessages(run.id)
    assert.ok(messages.includes('in container: true'), `the flow ran inside a container; logs:\n${messages.join('\n')}`)
    assert.ok(messages.includes(`flow run ${run.id} working in /app`), 'the run id reached the container, console output reached the logs')
    await waitFor('the container to be removed', async () => ((await containersOf(run.id)).length === 0 ? true : undefined), 15_000)
  })

  test('cancel stops the run and its container', async () => {
    const created = await h.client.createRun('docker-sleepy', { seconds: 120 })
    await waitUntilRunning(created.id, agent!)
    const [container] = await waitFor('the run container', async () => {
      const found = await containersOf(created.id)
      return found.length > 0 ? found : undefined
    })
    assert.equal(container?.State, 'running')
    assert.equal(container?.Labels[LABEL_MANAGED], 'true')

    const cancelledAt = Date.now()
    await h.client.cancelRun(created.id)
    const run = await waitForRunState(h.client, created.id, undefined, 30_000)
    assert.equal(run.state, 'cancelled', `run ended ${run.state}: ${run.stateMessage}`)
    assert.doesNotMatch(run.stateMessage ?? '', /137/, 'ended by SIGTERM, not killed')
    await waitFor('the container to be gone', async () => ((await containersOf(created.id)).length === 0 ? true : undefined), 20_000)
    assert.ok(Date.now() - cancelledAt < 8_000, 'the container stopped on SIGTERM, without waiting for the kill timeout')
  })

  test('an agent killed mid-run leaves the run crashed; its container is cleaned up when it restarts', async () => {
    const name = `docker-crash-${randomUUID().slice(0, 6)}`
    // Its flow carries a label only this agent has, so the shared agent can't take the run.
    const first = await startDockerAgent(name, ['crash-test'])
    let createdId = ''
    try {
      const created = await h.client.createRun('docker-sleepy-crash', { seconds: 120 })
      createdId = created.id
      await waitUntilRunning(created.id, first)
      await waitFor('the run container', async () => ((await containersOf(created.id)).length > 0 ? true : undefined))
    } finally {
      await first.kill('SIGKILL')
    }
    const created = { id: createdId }
    const run = await waitForRunState(h.client, created.id, ['crashed', 'failed', 'cancelled', 'success'], SILENCE_MS + 20_000)
    assert.equal(run.state, 'crashed', `run ended ${run.state}: ${run.stateMessage}`)
    assert.equal((await containersOf(created.id))[0]?.State, 'running', 'a dead agent cannot clean up: its container outlives it')

    const restarted = await startDockerAgent(name, ['crash-test'])
    try {
      await waitFor('the restarted agent to remove the container', async () => ((await containersOf(created.id)).length === 0 ? true : undefined), 30_000)
      assert.match(restarted.output(), new RegExp(`re-adopted run ${created.id}`))
      assert.equal((await h.client.getRun(created.id)).state, 'crashed', 'the run stays crashed')
    } finally {
      await restarted.kill('SIGTERM')
    }
  })

  test('an agent restarted in time re-adopts its running container and the run finishes', async () => {
    const name = `docker-adopt-${randomUUID().slice(0, 6)}`
    const first = await startDockerAgent(name, ['adopt-test'])
    let createdId = ''
    try {
      const created = await h.client.createRun('docker-sleepy-adopt', { seconds: 8 })
      createdId = created.id
      await waitUntilRunning(created.id, first)
      await waitFor('the run container', async () => ((await containersOf(created.id)).length > 0 ? true : undefined))
    } finally {
      await first.kill('SIGKILL')
    }
    // Back before the server gives up on it (SILENCE_MS): the run is still running.
    const restarted = await startDockerAgent(name, ['adopt-test'])
    try {
      await waitFor('the restarted agent to re-adopt the run', () => (restarted.output().includes(`re-adopted run ${createdId}`) ? true : undefined), 15_000)
      const run = await waitForRunState(h.client, createdId, undefined, 60_000)
      assert.equal(run.state, 'success', `run ended ${run.state}: ${run.stateMessage}\n${restarted.output()}`)
      await waitFor('the container to be removed', async () => ((await containersOf(createdId)).length === 0 ? true : undefined), 15_000)
    } finally {
      await restarted.kill('SIGTERM')
    }
  })
})
