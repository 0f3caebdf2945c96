/**
 * The Docker launcher against a real engine: real containers running small node scripts
 * (test/docker/fixtures, mounted at /app). No server, no agent loop: see agent.test.ts for those.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import path from 'node:path'
import readline from 'node:readline'
import { after, before, describe, test } from 'node:test'
import type Docker from 'dockerode'
import {
  checkApiUrlReachableFromContainer,
  containerName,
  DockerLauncher,
  DockerLauncherError,
  forwardedEnv,
  LABEL_AGENT,
  LABEL_FLOW_RUN_ID,
  LABEL_MANAGED,
  parseVolume,
  type DockerLauncherOptions,
} from '../../src/agent/docker.ts'
import type { OutputLine, RunOutputSink } from '../../src/agent/output.ts'
import type { ClaimedRun } from '../../src/agent/launcher.ts'
import { loadPlugins, pluginEnvNames } from '../../src/plugin.ts'
import { ensureContainerEngine, removeContainersLabelled, repoRoot, skipDocker, type ContainerEngine } from '../helpers/container-engine.ts'

const fixtures = path.join(repoRoot, 'test/docker/fixtures')

type ContainerOutputLine = OutputLine & { flowRunId: string }

/** Records a run's lines, as the agent's per-run output would forward them. */
function recorder(output: ContainerOutputLine[] | undefined, flowRunId: string): RunOutputSink {
  return { line: (l) => void output?.push({ ...l, flowRunId }) }
}

function claimedRun(id: string): ClaimedRun {
  return { id, name: `run-${id}`, flowName: 'docker-test', entrypoint: 'unused', scheduledStartTime: new Date() }
}

describe('docker launcher helpers', () => {
  test('a loopback server address is refused unless containers share the host network', () => {
    assert.throws(() => checkApiUrlReachableFromContainer('http://127.0.0.1:4200', undefined), /--network host/)
    assert.throws(() => checkApiUrlReachableFromContainer('http://localhost:4200', 'bridge'), /loopback/)
    assert.doesNotThrow(() => checkApiUrlReachableFromContainer('http://127.0.0.1:4200', 'host'))
    assert.doesNotThrow(() => checkApiUrlReachableFromContainer('http://server:4200', 'rota_default'))
    assert.throws(() => new DockerLauncher({ image: 'x', agentName: 'a', apiUrl: 'http://127.0.0.1:4200' }), /--network host/, 'at agent start')
  })

  test('volumes are host:container[:options]', () => {
    assert.deepEqual(parseVolume('/data:/data:ro'), { host: '/data', container: '/data', options: 'ro' })
    assert.deepEqual(parseVolume('named:/cache'), { host: 'named', container: '/cache', options: undefined })
    assert.throws(() => parseVolume('/just-one'), /host:container/)
    assert.throws(() => new DockerLauncher({ image: 'x', agentName: 'a', volumes: ['a:relative'] }), DockerLauncherError)
  })

  test('only the flow settings of the agent environment reach the containers', async () => {
    const names = pluginEnvNames(await loadPlugins(repoRoot))
    assert.deepEqual(forwardedEnv({ WAREHOUSE: 'bigquery', LAKE_URL: '', ROTA_HOME: '/home/me/.rota', PATH: '/bin', GCP_PROJECT: 'p', TZ: 'America/Sao_Paulo' }, names), {
      TZ: 'America/Sao_Paulo',
      WAREHOUSE: 'bigquery',
      GCP_PROJECT: 'p',
    })
  })

  test('one container name per run', () => {
    assert.equal(containerName('0b6f-11'), 'rota-run-0b6f-11')
  })
})

describe('docker launcher with a real engine', { skip: skipDocker ? 'ROTA_SKIP_DOCKER=1' : false, timeout: 180_000 }, () => {
  let engine: ContainerEngine
  const agentName = `test-launcher-${randomUUID().slice(0, 8)}`

  before(async () => {
    engine = await ensureContainerEngine()
  })

  after(async () => {
    if (engine) await removeContainersLabelled(engine.docker, LABEL_AGENT, agentName)
  })

  /** A launcher whose runs' lines go to `output`. */
  function launcher(options: Partial<DockerLauncherOptions> & { script: string }, output?: ContainerOutputLine[]) {
    const l = new DockerLauncher({
      image: engine.image,
      agentName,
      docker: engine.docker,
      projectDir: fixtures,
      network: engine.network,
      command: ['node', `/app/${options.script}`],
      onWarning: (message) => assert.fail(`unexpected launcher warning: ${message}`),
      ...options,
    })
    return {
      launch: (run: ClaimedRun, env: Record<string, string>) => l.launch(run, env, recorder(output, run.id)),
      reconcile: (name: string) => l.reconcile(name, (id) => recorder(output, id)),
    }
  }

  async function containersOfRun(docker: Docker, flowRunId: string) {
    return docker.listContainers({ all: true, filters: { label: [`${LABEL_FLOW_RUN_ID}=${flowRunId}`] } })
  }

  test('a run that succeeds: environment passed, output streamed, labelled, removed after use', async () => {
    const output: ContainerOutputLine[] = []
    const runId = randomUUID()
    const launched = await launcher({ script: 'print-and-exit.js' }, output).launch(claimedRun(runId), {
      ROTA_FLOW_RUN_ID: runId,
      ROTA_API_URL: 'http://127.0.0.1:9',
      DELAY_MS: '1500',
    })

    const [running] = await containersOfRun(engine.docker, runId)
    assert.ok(running, 'the container exists while the run runs')
    assert.equal(running.Labels[LABEL_MANAGED], 'true')
    assert.equal(running.Labels[LABEL_AGENT], agentName)
    assert.equal(running.State, 'running')

    assert.deepEqual(await launched.exited, { exitCode: 0, signal: null })
    // stdout and stderr are separate streams: order is kept within each, not across them.
    assert.deepEqual(linesOf(output, 'stdout'), [`run ${runId} starting in /app`, 'done'])
    assert.deepEqual(linesOf(output, 'stderr'), ['a line on stderr'])
    for (const line of output) {
      assert.equal(line.flowRunId, runId)
      assert.ok(Math.abs(line.time.getTime() - Date.now()) < 60_000, 'lines carry the engine time')
    }
    assert.deepEqual(await containersOfRun(engine.docker, runId), [], 'the container is removed once the run ended')
  })

  test('a run that fails: its exit code is reported', async () => {
    const runId = randomUUID()
    const launched = await launcher({ script: 'print-and-exit.js' }).launch(claimedRun(runId), { ROTA_FLOW_RUN_ID: runId, EXIT_CODE: '3' })
    assert.deepEqual(await launched.exited, { exitCode: 3, signal: null })
    assert.deepEqual(await containersOfRun(engine.docker, runId), [])
  })

  test('cancel: stop() sends SIGTERM, the run exits, the container is gone when stop returns', async () => {
    const output: ContainerOutputLine[] = []
    const runId = randomUUID()
    const launched = await launcher({ script: 'wait-for-stop.js' }, output).launch(claimedRun(runId), { ROTA_FLOW_RUN_ID: runId })
    await waitFor(() => output.some((o) => o.line === 'waiting to be stopped'), 'the script to start')
    const started = Date.now()
    await launched.stop('cancelled by the test')
    assert.ok(Date.now() - started < 8_000, 'SIGTERM ended it without waiting for the kill timeout')
    assert.deepEqual(await launched.exited, { exitCode: 42, signal: null })
    assert.ok(output.some((o) => o.line === 'got SIGTERM, exiting'), 'the init process forwarded SIGTERM to node')
    assert.ok(output.some((o) => o.line.includes('cancelled by the test')), 'the reason is in the output')
    assert.deepEqual(await containersOfRun(engine.docker, runId), [])
  })

  test('cancel: a run that ignores SIGTERM is killed after the stop timeout', async () => {
    const output: ContainerOutputLine[] = []
    const runId = randomUUID()
    const launched = await launcher({ script: 'wait-for-stop.js', stopTimeoutSeconds: 1 }, output).launch(claimedRun(runId), {
      ROTA_FLOW_RUN_ID: runId,
      IGNORE_SIGTERM: '1',
    })
    await waitFor(() => output.some((o) => o.line === 'waiting to be stopped'), 'the script to start')
    await launched.stop('cancelled')
    assert.deepEqual(await launched.exited, { exitCode: 137, signal: null })
    assert.ok(output.some((o) => o.line === 'ignoring SIGTERM'))
    assert.deepEqual(await containersOfRun(engine.docker, runId), [])
  })

  test('a missing image that cannot be pulled is an error at agent start that says how to get it', async () => {
    const missing = launcher({ script: 'print-and-exit.js', image: 'localhost/rota-no-such-image:0' })
    for (const attempt of [() => missing.reconcile(agentName), () => missing.launch(claimedRun(randomUUID()), {})]) {
      await assert.rejects(attempt(), (error: Error) => {
        assert.ok(error instanceof DockerLauncherError, String(error))
        assert.match(error.message, /pulling it failed .*Build it with "docker build -t localhost\/rota-no-such-image:0 \."/)
        return true
      })
    }
  })

  test('a loopback server address on a bridge network is refused before any container starts', async () => {
    const runId = randomUUID()
    await assert.rejects(
      launcher({ script: 'print-and-exit.js', network: 'bridge' }).launch(claimedRun(runId), { ROTA_API_URL: 'http://127.0.0.1:4200' }),
      /--network host/,
    )
    assert.deepEqual(await containersOfRun(engine.docker, runId), [])
  })

  test('reconcile after the agent died: running containers are adopted, ended ones reported and removed', async () => {
    const deadAgent = `${agentName}-dead`
    const otherAgent = `${agentName}-other`
    try {
      // A real agent process that launches two runs, then is SIGKILLed: nothing of it cleans up.
      const child = spawn(process.execPath, ['--import', 'tsx', path.join(fixtures, 'launch-and-hang.ts'), deadAgent, engine.image, fixtures, engine.network], {
        cwd: repoRoot,
        env: { ...process.env, DOCKER_HOST: engine.dockerHost },
        stdio: ['ignore', 'pipe', 'inherit'],
      })
      const firstLine = await Promise.race([
        readline.createInterface({ input: child.stdout })[Symbol.asyncIterator]().next(),
        new Promise<never>((_, reject) => setTimeout(() => reject(new Error('the agent process did not launch in 30 s')), 30_000).unref()),
      ])
      const { launched } = JSON.parse(String(firstLine.value)) as { launched: string[] }
      child.kill('SIGKILL')
      await new Promise((resolve) => child.once('exit', resolve))
      const [longRunId, shortRunId] = launched as [string, string]

      // The short run ends while no agent watches; its container stays behind.
      await waitFor(async () => (await containersOfRun(engine.docker, shortRunId))[0]?.State === 'exited', 'the short run to exit', 20_000)
      assert.equal((await containersOfRun(engine.docker, longRunId))[0]?.State, 'running', 'the long run outlived its agent')

      // Another agent's container on the same engine is none of our business.
      const foreign = await launcher({ script: 'wait-for-stop.js', agentName: otherAgent }).launch(claimedRun(`${otherAgent}-run`), {})

      const output: ContainerOutputLine[] = []
      const restarted = launcher({ script: 'wait-for-stop.js', agentName: deadAgent }, output)
      const reconciled = await restarted.reconcile(deadAgent)
      assert.deepEqual(reconciled.map((r) => r.flowRunId).sort(), [longRunId, shortRunId].sort())
      // The agent settles and reports for adopted runs with their tokens, read back from the containers' environment.
      assert.deepEqual(reconciled.map((r) => [r.flowRunId, r.token]).sort(), [[longRunId, `${longRunId}-token`], [shortRunId, `${shortRunId}-token`]].sort())

      const short = reconciled.find((r) => r.flowRunId === shortRunId)!
      assert.deepEqual(await short.launched.exited, { exitCode: 7, signal: null }, 'the ended run comes back with its exit code')
      assert.deepEqual(await containersOfRun(engine.docker, shortRunId), [], 'and its container is removed')

      const long = reconciled.find((r) => r.flowRunId === longRunId)!
      assert.equal((await containersOfRun(engine.docker, longRunId))[0]?.State, 'running', 'the running one is adopted, not killed')
      await long.launched.stop('the server says this run crashed')
      assert.deepEqual(await long.launched.exited, { exitCode: 42, signal: null })
      assert.deepEqual(await containersOfRun(engine.docker, longRunId), [], 'the adopted container is removed after its end')
      assert.ok(output.some((o) => o.flowRunId === longRunId && o.line === 'got SIGTERM, exiting'), 'the adopted container streams its new output')

      assert.deepEqual(await restarted.reconcile(deadAgent), [], 'a second reconcile finds nothing')
      assert.equal((await containersOfRun(engine.docker, `${otherAgent}-run`))[0]?.State, 'running', 'the other agent keeps its container')
      await foreign.stop('test over')
    } finally {
      await removeContainersLabelled(engine.docker, LABEL_AGENT, deadAgent)
      await removeContainersLabelled(engine.docker, LABEL_AGENT, otherAgent)
    }
  })
})

function linesOf(output: ContainerOutputLine[], stream: 'stdout' | 'stderr'): string[] {
  return output.filter((o) => o.stream === stream && !o.line.startsWith('[rota agent]')).map((o) => o.line)
}

async function waitFor(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}
