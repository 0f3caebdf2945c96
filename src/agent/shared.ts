/**
 * The `shared` isolation: flow runs executed inside a pool of long-lived, warm worker processes
 * (worker.ts), many runs at once in each, the flow modules loaded once per worker. A run starts in
 * about a millisecond instead of paying a process start (~0.2 s of CPU), so an agent on 2
 * cores runs over a hundred short runs a second where one process per run manages a few.
 *
 * Glossary: the pool is `workers` processes, each a WorkerProcess here; a run is handed to the
 * least loaded worker that may load its flow's version (a worker loads each entrypoint once: a new
 * version goes to a new worker, and workers that hold an old one retire: they take no new run and
 * leave when their runs end). The run's lines (what its code prints outside the SDK's capture)
 * come back over IPC and go to the RunOutput the agent made for it.
 *
 * Life of a worker and what it costs its runs:
 * - it crashes (exits, is killed, runs out of memory): every run in it ends crashed, through the
 *   agent's settle, with a message naming the cause and the worker's last lines; a new worker
 *   replaces it. A run's own uncaught error or process.exit() ends only that run (worker.ts).
 * - a run's code blocks the event loop (a synchronous loop): every run of the worker stalls. A
 *   cancel the worker does not answer within `killGraceSeconds`, or a task still running that long
 *   past its timeout (which cannot fire in a blocked loop), gets the worker killed: that run and
 *   the others in the worker end crashed, saying which run blocked it. This is why `process`
 *   stays the default: flows that may block, exit, leak or change globals belong there.
 */
import { fork, type ChildProcess } from 'node:child_process'
import os from 'node:os'
import path from 'node:path'
import type { ClaimedRun, ExitInfo, LaunchedRun, Launcher } from './launcher.ts'
import { readLines, type RunOutputSink } from './output.ts'
import type { FromWorker, ToWorker } from './worker.ts'
import type { Isolation } from '../core/isolation.ts'
import { backoffDelay } from '../core/backoff.ts'
import { resolveEntrypoint } from '../entrypoint.ts'
import { killGroup } from './local.ts'

export interface SharedLauncherOptions {
  projectRoot: string
  /** Worker processes in the pool (default: the CPU cores, at most 4). */
  workers?: number
  /** Environment the workers start with besides this process's (the agent's extra env for runs). */
  env?: Readonly<Record<string, string>>
  /** Seconds a stopped run, or a task past its timeout, may hold its worker's event loop before the worker is killed (default 5). */
  killGraceSeconds?: number
  /** Start the pool now (default) rather than at the first run. */
  warm?: boolean
  /** The workers' own lines (what no run owns) and the pool's notes. */
  log?: (line: string) => void
}

interface ActiveRun {
  run: ClaimedRun
  output: RunOutputSink
  done(exit: ExitInfo): void
  stopTimer?: NodeJS.Timeout
}

interface WorkerProcess {
  n: number
  proc: ChildProcess
  ready: Promise<void>
  runs: Map<string, ActiveRun>
  /** Entrypoint -> the version this worker loads for it. */
  flows: Map<string, string>
  /** It said it is ready. */
  started: boolean
  /** Takes no new run; leaves when its runs end. */
  retiring: boolean
  gone: boolean
  /** Why the launcher killed it, for its runs' messages. */
  killedFor?: string
  /** Its last lines of output, for the message of a crash. */
  lastLines: string[]
  deadlines: Map<number, NodeJS.Timeout>
}

/** Lines of a crashed worker's own output kept for its runs' logs. */
const LAST_LINES = 10

export class SharedLauncher implements Launcher {
  readonly type = 'local' as const
  private readonly pool: WorkerProcess[] = []
  private readonly size: number
  private readonly graceMs: number
  private readonly log: (line: string) => void
  private spawned = 0
  /** Workers in a row that exited before they were ready. */
  private failedStarts = 0
  private closed = false

  constructor(private readonly options: SharedLauncherOptions) {
    this.size = Math.max(1, options.workers ?? Math.min(4, os.availableParallelism()))
    this.graceMs = (options.killGraceSeconds ?? 5) * 1000
    this.log = options.log ?? ((line) => console.log(line))
    if (options.warm !== false) this.fill()
  }

  /** Workers in the pool now (for tests and the agent's notes). */
  get workerPids(): number[] {
    return this.pool.filter((w) => !w.gone).map((w) => w.proc.pid as number)
  }

  async launch(run: ClaimedRun, env: Record<string, string>, output: RunOutputSink): Promise<LaunchedRun> {
    if (this.closed) throw new Error('the shared worker pool is closed')
    // Checked here, before a worker takes the run, and again by the worker before it imports (loader.ts).
    resolveEntrypoint(run.entrypoint, this.options.projectRoot)
    const worker = this.workerFor(run)
    if (!worker.flows.get(run.entrypoint)) worker.flows.set(run.entrypoint, run.flowVersion ?? '')
    let done!: (exit: ExitInfo) => void
    const exited = new Promise<ExitInfo>((resolve) => (done = resolve))
    const active: ActiveRun = { run, output, done }
    worker.runs.set(run.id, active)
    await worker.ready
    if (worker.gone) return { exited, stop: async () => undefined } // its exit already ended the run
    // `env` is this run's alone (its id, its token): it travels with the run, never into the worker's environment.
    this.send(worker, { type: 'run', id: run.id, env })
    return {
      exited,
      stop: async () => {
        if (!worker.runs.has(run.id)) return
        this.send(worker, { type: 'stop', id: run.id })
        // A worker that does not answer a stop in time is stuck in some run's code: only killing it frees the others.
        active.stopTimer ??= setTimeout(() => {
          if (worker.runs.has(run.id)) {
            this.kill(worker, `run ${run.name} (${run.id}) did not stop within ${this.graceMs / 1000} s of being asked to: its code blocks the event loop of its shared worker, which was killed`)
          }
        }, this.graceMs)
        await exited
      },
    }
  }

  async close(): Promise<void> {
    this.closed = true
    await Promise.all(
      this.pool.map(
        (w) =>
          new Promise<void>((resolve) => {
            if (w.gone) return resolve()
            w.proc.once('exit', () => resolve())
            stopWorker(w.proc, 'SIGTERM')
            setTimeout(() => stopWorker(w.proc, 'SIGKILL'), 3000).unref()
          }),
      ),
    )
  }

  /** The least loaded worker that may load this run's flow version; a new one when none may. */
  private workerFor(run: ClaimedRun): WorkerProcess {
    const version = run.flowVersion ?? ''
    const live = this.pool.filter((w) => !w.gone && !w.retiring)
    const fits = (w: WorkerProcess) => {
      const loaded = w.flows.get(run.entrypoint)
      // '' is a version nobody told us (a run re-delivered by an older server): it fits anywhere
      return !loaded || loaded === version || version === ''
    }
    let candidates = live.filter(fits)
    if (candidates.length === 0) {
      // A new version of this flow: workers holding the old one finish their runs and leave; fresh ones take over.
      for (const w of live) this.retire(w, `flow ${run.flowName} has a new version`)
      this.fill()
      candidates = this.pool.filter((w) => !w.gone && !w.retiring)
    }
    if (candidates.length === 0) throw new Error('no shared worker is available (the pool is closing)')
    return candidates.reduce((a, b) => (b.runs.size < a.runs.size ? b : a))
  }

  private fill(): void {
    while (!this.closed && this.pool.filter((w) => !w.gone && !w.retiring).length < this.size) this.spawn()
  }

  private spawn(): WorkerProcess {
    const n = ++this.spawned
    const proc = fork(path.join(this.options.projectRoot, 'bin/rota.js'), ['internal', 'shared-worker'], {
      cwd: this.options.projectRoot,
      env: { ...process.env, ...this.options.env },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      // its own process group, so killing it also stops what its runs started (dbt, python)
      detached: true,
    })
    let ready!: () => void
    const worker: WorkerProcess = {
      n,
      proc,
      ready: new Promise<void>((resolve) => (ready = resolve)),
      runs: new Map(),
      flows: new Map(),
      started: false,
      retiring: false,
      gone: false,
      lastLines: [],
      deadlines: new Map(),
    }
    this.pool.push(worker)
    // The agent's poll loop keeps the agent alive; an idle pool must not.
    proc.unref()
    proc.channel?.unref()
    for (const stream of [proc.stdout, proc.stderr]) {
      if (!stream) continue
      void readLines(stream, (line) => {
        worker.lastLines.push(line)
        if (worker.lastLines.length > LAST_LINES) worker.lastLines.shift()
        this.log(`[shared worker ${n}] ${line}`)
      })
    }
    proc.on('message', (message: FromWorker) => {
      if (message.type === 'ready') {
        worker.started = true
        this.failedStarts = 0
      }
      this.onMessage(worker, message, ready)
    })
    const gone = (code: number | null, signal: string | null) => {
      if (worker.gone) return
      ready() // runs waiting for it are ended by onExit
      this.onExit(worker, code, signal)
    }
    proc.once('error', (err) => {
      this.log(`[shared worker ${n}] ${err.message}`)
      if (proc.pid === undefined) gone(null, 'spawn-error')
    })
    proc.once('exit', gone)
    return worker
  }

  private onMessage(worker: WorkerProcess, message: FromWorker, ready: () => void): void {
    switch (message.type) {
      case 'ready':
        ready()
        return
      case 'output':
        worker.runs.get(message.id)?.output.line({ stream: message.stream, line: message.line, time: new Date() })
        return
      case 'ended': {
        const active = worker.runs.get(message.id)
        if (!active) return
        worker.runs.delete(message.id)
        clearTimeout(active.stopTimer)
        active.done({ exitCode: message.code, signal: null, state: message.state, reason: message.reason })
        if (worker.retiring && worker.runs.size === 0) stopWorker(worker.proc, 'SIGTERM')
        return
      }
      case 'deadline': {
        const run = worker.runs.get(message.id)?.run
        const timer = setTimeout(() => {
          worker.deadlines.delete(message.key)
          // Its timeout could not fire: the task's code holds the event loop. Only killing the worker ends it.
          this.kill(
            worker,
            `task "${message.task}" of run ${run?.name ?? message.id} ran ${this.graceMs / 1000} s past its timeout of ${message.timeoutMs / 1000} s: its code blocks the event loop of its shared worker, which was killed`,
          )
        }, message.timeoutMs + this.graceMs)
        worker.deadlines.set(message.key, timer)
        return
      }
      case 'deadline-done':
        clearTimeout(worker.deadlines.get(message.key))
        worker.deadlines.delete(message.key)
        return
    }
  }

  private onExit(worker: WorkerProcess, code: number | null, signal: string | null): void {
    worker.gone = true
    if (!worker.started) this.failedStarts++
    for (const timer of worker.deadlines.values()) clearTimeout(timer)
    this.pool.splice(this.pool.indexOf(worker), 1)
    const how = signal ? `signal ${signal}` : `code ${code}`
    if (worker.runs.size > 0) {
      const reason = worker.killedFor ? worker.killedFor : `its shared worker (pid ${worker.proc.pid}) exited with ${how}${this.closed ? ' (the agent is stopping)' : ''}`
      this.log(`[shared worker ${worker.n}] exited with ${how}; ${worker.runs.size} run(s) in it end: ${reason}`)
      for (const active of worker.runs.values()) {
        clearTimeout(active.stopTimer)
        // The worker's last words, in each of its runs' logs: they usually say why it died.
        for (const line of worker.lastLines) active.output.line({ stream: 'stderr', line: `[shared worker] ${line}`, time: new Date() })
        active.done({ exitCode: code, signal, reason })
      }
      worker.runs.clear()
    }
    if (this.closed) return
    // A worker that cannot start (a broken install) must not be restarted in a tight loop.
    const delay = this.failedStarts === 0 ? 0 : backoffDelay({ baseMs: 500, maxMs: 30_000 }, this.failedStarts)
    if (delay === 0) this.fill()
    else setTimeout(() => this.fill(), delay).unref()
  }

  private retire(worker: WorkerProcess, why: string): void {
    worker.retiring = true
    this.log(`[shared worker ${worker.n}] retiring: ${why}`)
    if (worker.runs.size === 0) stopWorker(worker.proc, 'SIGTERM')
  }

  private kill(worker: WorkerProcess, why: string): void {
    if (worker.gone || worker.killedFor) return
    worker.killedFor = why
    this.log(`[shared worker ${worker.n}] ${why}`)
    stopWorker(worker.proc, 'SIGKILL')
  }

  private send(worker: WorkerProcess, message: ToWorker): void {
    if (!worker.gone && worker.proc.connected) worker.proc.send(message)
  }
}

/**
 * An agent's launcher for both isolations: each run where its flow asks (`defineFlow({ isolation })`),
 * or else where the agent's own `--isolation` says. The flow's choice wins: a flow that needs a process
 * of its own gets one on a shared agent, and a flow made for many short runs shares on a process agent.
 */
export class IsolationLauncher implements Launcher {
  readonly type = 'local' as const

  constructor(
    private readonly launchers: Readonly<Record<Isolation, Launcher>>,
    private readonly fallback: Isolation,
  ) {}

  launch(run: ClaimedRun, env: Record<string, string>, output: RunOutputSink): Promise<LaunchedRun> {
    return this.launchers[run.isolation ?? this.fallback].launch(run, env, output)
  }

  async close(): Promise<void> {
    await Promise.all(Object.values(this.launchers).map((l) => l.close?.()))
  }
}

/** Signals a worker and its group, unless it has already exited. */
function stopWorker(proc: ChildProcess, signal: NodeJS.Signals): void {
  if (proc.pid === undefined || proc.exitCode !== null || proc.signalCode !== null) return
  killGroup(proc.pid, signal)
}
