/**
 * The shared isolation: flow runs in an agent's long-lived worker processes, many at once, against
 * a real server and real workers. Output attribution, cancel, timeouts, a runaway loop, a worker
 * crash, a run's own crash, retries, the flow's choice of isolation, a new flow version.
 * The database plays no part beyond what api.test.ts covers: the heavier cases run once, on PGlite.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import fs from 'node:fs'
import { DB_KIND, ROOT, startHarness, waitFor, waitForRunState, type Harness } from '../helpers/rota.ts'
import { Agent } from '../../src/agent/agent.ts'
import { LocalLauncher } from '../../src/agent/local.ts'
import { IsolationLauncher, SharedLauncher } from '../../src/agent/shared.ts'
import type { Isolation } from '../../src/core/isolation.ts'
import type { FlowRun } from '../../src/client/index.ts'

interface SharedAgent {
  agent: Agent
  shared: SharedLauncher
}

/** An agent with both isolations, as `rota agent start --isolation ...` makes it. */
async function startAgent(h: Harness, isolation: Isolation, options: { workers?: number; killGraceSeconds?: number; concurrency?: number } = {}): Promise<SharedAgent> {
  // one agent at a time: the previous test's agent leaves first
  await Promise.all(h.agents.splice(0).map((a) => a.stop()))
  const shared = new SharedLauncher({ projectRoot: ROOT, workers: options.workers ?? 2, killGraceSeconds: options.killGraceSeconds ?? 2, warm: isolation === 'shared', log: (l) => h.logs.push(l) })
  const agent = new Agent({
    client: h.client,
    launcher: new IsolationLauncher({ process: new LocalLauncher({ projectRoot: ROOT }), shared }, isolation),
    name: `shared-test-${randomUUID().slice(0, 6)}`,
    concurrency: options.concurrency ?? 20,
    prefetchMs: 1000,
    log: (l) => h.logs.push(l),
  })
  await agent.start()
  h.agents.push(agent)
  return { agent, shared }
}

async function logsOf(h: Harness, id: string): Promise<string[]> {
  return (await h.client.logs(id)).items.map((l) => `${l.level} ${l.message}`)
}

async function run(h: Harness, flow: string, parameters: Record<string, unknown> = {}): Promise<string> {
  return (await h.client.createRun(flow, parameters)).id
}

const ended = (h: Harness, id: string, timeoutMs = 60_000): Promise<FlowRun> => waitForRunState(h.client, id, undefined, timeoutMs)
const why = (h: Harness, r: FlowRun) => `${r.state}: ${r.stateMessage}\n${h.logs.slice(-30).join('\n')}`

describe('shared isolation (both databases): a flow chooses where it runs, through registration and the claim', () => {
  let h: Harness
  before(async () => {
    h = await startHarness()
    await h.register('test/fixtures/shared.ts')
  })
  after(async () => h.close())

  it('a process flow on a shared agent gets a process of its own; other flows share the workers', async () => {
    assert.equal((await h.client.getFlow('shared-pid-process')).isolation, 'process')
    assert.equal((await h.client.getFlow('shared-pid-default')).isolation, null)
    const { shared } = await startAgent(h, 'shared', { workers: 1 })
    const ids = { def: await run(h, 'shared-pid-default'), proc: await run(h, 'shared-pid-process'), sh: await run(h, 'shared-pid-shared') }
    const pid = async (id: string) => {
      const r = await ended(h, id)
      assert.equal(r.state, 'success', why(h, r))
      return Number(/pid (\d+)/.exec((await logsOf(h, id)).join('\n'))?.[1])
    }
    const workers = shared.workerPids
    assert.equal(workers.length, 1)
    assert.equal(await pid(ids.def), workers[0], 'no choice: the agent shares')
    assert.equal(await pid(ids.sh), workers[0])
    const own = await pid(ids.proc)
    assert.ok(own > 0 && !workers.includes(own) && own !== process.pid, 'a process flow runs in a process of its own')
  })
})

describe('shared isolation', { skip: DB_KIND === 'postgres' ? 'runs once, on PGlite: the database plays no part here' : false }, () => {
  let h: Harness
  before(async () => {
    h = await startHarness()
    await h.register('test/fixtures/shared.ts')
    await h.register('test/fixtures/flows.ts')
  })
  after(async () => h.close())

  it('ten runs interleaved in one worker: each run gets its own logs, console and printed lines, and the module loads once', async () => {
    const { shared } = await startAgent(h, 'shared', { workers: 1 })
    const tags = Array.from({ length: 10 }, (_, i) => `run${i}`)
    const ids = await Promise.all(tags.map((tag) => run(h, 'shared-chatty', { tag, lines: 5 })))
    const loaders: string[] = []
    for (const [i, id] of ids.entries()) {
      const tag = tags[i] as string
      const r = await ended(h, id)
      assert.equal(r.state, 'success', why(h, r))
      const lines = await logsOf(h, id)
      const text = lines.join('\n')
      // nothing of another run
      for (const other of tags) if (other !== tag) assert.ok(!lines.some((l) => l.includes(`${other} `)), `run ${tag} has a line of ${other}:\n${text}`)
      for (let n = 0; n < 5; n++) {
        assert.ok(lines.includes(`info ${tag} log ${n}`), `log line ${n} of ${tag}:\n${text}`)
        assert.ok(lines.includes(`info ${tag} console ${n}`), `console line ${n} of ${tag}:\n${text}`)
        assert.ok(lines.includes(`info ${tag} stdout ${n}`), `stdout line ${n} of ${tag}:\n${text}`)
        assert.ok(lines.includes(`warn ${tag} stderr ${n}`), `stderr line ${n} (written in two halves) of ${tag}:\n${text}`)
      }
      assert.ok(lines.includes(`info ${tag} flow-level console, outside any task`), text)
      const [, pid, loads] = /pid (\d+) loads (\d+)/.exec(text) ?? []
      assert.equal(Number(pid), shared.workerPids[0], 'all ten in the one worker')
      assert.equal(loads, '1', 'the flow module was loaded once')
      if (text.includes('shared fixture module loaded')) loaders.push(tag)
    }
    assert.equal(loaders.length, 1, `the module's top-level line belongs to the one run that loaded it: ${loaders.join(', ')}`)
  })

  it("runs of one worker each act with their own run token, which never enters the worker's environment", async () => {
    const { shared } = await startAgent(h, 'shared', { workers: 1 })
    const keys = ['key-of-run-0', 'key-of-run-1', 'key-of-run-2', 'key-of-run-3']
    const ids = await Promise.all(keys.map((key) => run(h, 'shared-token', { key })))
    const [worker] = shared.workerPids
    for (const id of ids) {
      // The server takes a run's start (with its parameters), logs, task states and end only with
      // that run's token: a run that succeeded with its lines stored acted with its own.
      const r = await ended(h, id)
      assert.equal(r.state, 'success', why(h, r))
      const text = (await logsOf(h, id)).join('\n')
      assert.match(text, /env token: unset/)
      assert.match(text, /program sees: none/)
      assert.match(text, new RegExp(`pid ${worker} key \\*{8}`), 'in the one worker, its secret parameter (from its start) hidden')
      assert.ok(!text.includes('key-of-run'), text)
    }
    // Read from outside: the worker process's own environment holds no run token.
    const environ = fs.readFileSync(`/proc/${worker}/environ`, 'latin1').split('\0')
    assert.ok(!environ.some((v) => v.startsWith('ROTA_RUN_TOKEN=')), 'no ROTA_RUN_TOKEN in the worker environment')
    assert.ok(environ.some((v) => v.startsWith('PATH=')), 'the environment was read')
  })

  it('cancelling a shared run ends it cancelled; the other runs of its worker go on', async () => {
    await startAgent(h, 'shared', { workers: 1 })
    const victim = await run(h, 'shared-sleeper', { seconds: 60 })
    const bystander = await run(h, 'shared-sleeper', { seconds: 3 })
    await waitForRunState(h.client, victim, ['running'])
    await waitFor('a log line of the victim', async () => ((await logsOf(h, victim)).length > 0 ? true : undefined))
    const t0 = Date.now()
    await h.client.cancelRun(victim)
    const cancelled = await ended(h, victim, 15_000)
    assert.equal(cancelled.state, 'cancelled', why(h, cancelled))
    assert.ok(Date.now() - t0 < 10_000, `cancelled after ${Date.now() - t0} ms`)
    const other = await ended(h, bystander)
    assert.equal(other.state, 'success', why(h, other))
  })

  it('a task that awaits past its timeout fails the run; the worker goes on', async () => {
    await startAgent(h, 'shared', { workers: 1 })
    const r = await ended(h, await run(h, 'shared-overstay'))
    assert.equal(r.state, 'failed', why(h, r))
    assert.match(r.stateMessage ?? '', /timed out after 1s/)
    const next = await ended(h, await run(h, 'shared-pid-default'))
    assert.equal(next.state, 'success', why(h, next))
  })

  it("a runaway synchronous loop past its task's timeout gets its worker killed: its runs crash, saying why, and a new worker takes the next runs", async () => {
    const { shared } = await startAgent(h, 'shared', { workers: 1, killGraceSeconds: 2 })
    const before = shared.workerPids
    const bystander = await run(h, 'shared-sleeper', { seconds: 60 })
    await waitForRunState(h.client, bystander, ['running'])
    const spinner = await run(h, 'shared-spin', { seconds: 120 })
    const spun = await ended(h, spinner, 30_000)
    assert.equal(spun.state, 'crashed', why(h, spun))
    assert.match(spun.stateMessage ?? '', /task "spin" of run .* ran 2 s past its timeout of 1 s: its code blocks the event loop of its shared worker, which was killed/)
    const other = await ended(h, bystander, 15_000)
    assert.equal(other.state, 'crashed', why(h, other))
    assert.match(other.stateMessage ?? '', /task "spin" of run/, 'the bystander says which run took its worker down')
    await waitFor('a new worker', () => (shared.workerPids.length === 1 && shared.workerPids[0] !== before[0] ? true : undefined))
    const next = await ended(h, await run(h, 'shared-pid-default'))
    assert.equal(next.state, 'success', why(h, next))
  })

  it('cancelling a run whose code never yields kills its worker after the grace: it ends cancelled, the others crashed, saying why', async () => {
    await startAgent(h, 'shared', { workers: 1, killGraceSeconds: 2 })
    const bystander = await run(h, 'shared-sleeper', { seconds: 60 })
    await waitForRunState(h.client, bystander, ['running'])
    const spinner = await run(h, 'shared-spin-forever')
    await waitFor('the spinner to spin', async () => ((await logsOf(h, spinner)).some((l) => l.includes('spinning')) ? true : undefined))
    await h.client.cancelRun(spinner)
    const cancelled = await ended(h, spinner, 20_000)
    assert.equal(cancelled.state, 'cancelled', why(h, cancelled))
    assert.match(cancelled.stateMessage ?? '', /did not stop within 2 s of being asked to: its code blocks the event loop of its shared worker, which was killed/)
    const other = await ended(h, bystander, 15_000)
    assert.equal(other.state, 'crashed', why(h, other))
    assert.match(other.stateMessage ?? '', new RegExp(`run .* \\(${spinner}\\) did not stop`))
  })

  it("a worker killed (as by the OOM killer) crashes only its own runs; the pool replaces it and later runs succeed", async () => {
    const { shared } = await startAgent(h, 'shared', { workers: 2 })
    await waitFor('two workers', () => (shared.workerPids.length === 2 ? true : undefined))
    const before = shared.workerPids
    // Runs go to the least loaded worker: the killer and a sleeper in one, a sleeper in the other.
    const killer = await run(h, 'shared-killer', { delayMs: 1500 })
    await waitForRunState(h.client, killer, ['running'])
    const [a, b] = [await run(h, 'shared-sleeper', { seconds: 4 }), await run(h, 'shared-sleeper', { seconds: 4 })]
    const dead = await ended(h, killer)
    assert.equal(dead.state, 'crashed', why(h, dead))
    assert.match(dead.stateMessage ?? '', /its shared worker \(pid \d+\) exited with signal SIGKILL/)
    const killerLogs = (await logsOf(h, killer)).join('\n')
    assert.match(killerLogs, /about to take the whole worker down/)
    const states = [await ended(h, a), await ended(h, b)].map((r) => r.state).sort()
    assert.deepEqual(states, ['crashed', 'success'], 'the run in the same worker crashed, the one in the other worker did not')
    await waitFor('a replacement worker', () => (shared.workerPids.length === 2 && shared.workerPids.some((p) => !before.includes(p)) ? true : undefined))
    const later = await Promise.all([run(h, 'shared-pid-default'), run(h, 'shared-pid-default'), run(h, 'shared-pid-default')])
    for (const id of later) {
      const r = await ended(h, id)
      assert.equal(r.state, 'success', why(h, r))
    }
  })

  it("a run's own process.exit() or uncaught exception ends only that run, as crashed; the worker goes on", async () => {
    const { shared } = await startAgent(h, 'shared', { workers: 1 })
    const bystander = await run(h, 'shared-sleeper', { seconds: 4 })
    await waitForRunState(h.client, bystander, ['running'])
    const before = shared.workerPids
    const exited = await ended(h, await run(h, 'shared-exit'))
    assert.equal(exited.state, 'crashed', why(h, exited))
    assert.match(exited.stateMessage ?? '', /the flow called process\.exit\(3\)/)
    const thrown = await ended(h, await run(h, 'shared-throw'))
    assert.equal(thrown.state, 'crashed', why(h, thrown))
    assert.match(thrown.stateMessage ?? '', /uncaught exception in the run's code: Error: late boom from a timer/)
    const other = await ended(h, bystander)
    assert.equal(other.state, 'success', why(h, other))
    assert.deepEqual(shared.workerPids, before, 'the same worker throughout')
  })

  it('task retries work in a shared worker', async () => {
    await startAgent(h, 'shared', { workers: 1 })
    const id = await run(h, 'shared-retrying')
    const r = await ended(h, id)
    assert.equal(r.state, 'success', why(h, r))
    const [task] = (await h.client.taskRuns(id)).items
    assert.equal(task?.attempts, 3)
    assert.ok((await logsOf(h, id)).includes('info succeeded at attempt 3'))
  })

  it('a shared flow on a process agent shares; a new version of a flow goes to a new worker', async () => {
    const { shared } = await startAgent(h, 'process', { workers: 1 })
    assert.deepEqual(shared.workerPids, [], 'a process agent starts its pool only for a shared run')
    const first = await ended(h, await run(h, 'shared-pid-shared'))
    assert.equal(first.state, 'success', why(h, first))
    const [worker] = shared.workerPids
    assert.ok(worker)
    // the same flow registered again with another version (as after an edit): a fresh worker loads it
    const flow = await h.client.getFlow('shared-pid-shared')
    await h.client.registerFlow({ ...flow, version: `${flow.version}-2`, schedule: flow.schedule, isolation: 'shared' })
    const second = await run(h, 'shared-pid-shared')
    const r = await ended(h, second)
    assert.equal(r.state, 'success', why(h, r))
    const pid = Number(/pid (\d+)/.exec((await logsOf(h, second)).join('\n'))?.[1])
    assert.ok(pid > 0 && pid !== worker, `the new version ran in a new worker (${pid}, the old one was ${worker})`)
    await waitFor('the old worker to retire', () => (!shared.workerPids.includes(worker) ? true : undefined))
  })
})
