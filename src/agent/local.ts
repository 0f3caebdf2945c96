/** The local launcher: each flow run in its own child process, so a crash or OOM never takes the agent down. */
import { spawn, type ChildProcess } from 'node:child_process'
import path from 'node:path'
import type { ClaimedRun, ExitInfo, LaunchedRun, Launcher } from './launcher.ts'
import { readLines, type RunOutputSink } from './output.ts'
import { resolveEntrypoint } from '../entrypoint.ts'
import { makePrivateDir, privateCacheDir } from '../private-files.ts'

export interface LocalLauncherOptions {
  projectRoot: string
  /** Seconds between SIGTERM and SIGKILL when stopping a run. */
  killGraceSeconds?: number
  /** Keep processes warm for the next runs (default true). */
  warm?: boolean
  /** How many warm processes wait for runs (default 1): a steady rate of runs needs about rate x start-up time of them. */
  spares?: number
}

export class LocalLauncher implements Launcher {
  readonly type = 'local' as const
  /** Processes started ahead of need, Rota already loaded, waiting for their run: a run starts in ms, not in ~0.2 s. */
  private spares: ChildProcess[] = []
  private closed = false
  /** Where run processes keep the JavaScript they compiled from TypeScript (src/agent/ts-hooks.mjs); none if no private folder. */
  private readonly tsCache: Record<string, string>

  constructor(private readonly options: LocalLauncherOptions) {
    const cache = privateCacheDir()
    if (cache.dir) makePrivateDir(path.join(cache.dir, 'ts'))
    this.tsCache = cache.dir ? { ROTA_TS_CACHE: path.join(cache.dir, 'ts') } : {}
  }

  async launch(run: ClaimedRun, env: Record<string, string>, output: RunOutputSink): Promise<LaunchedRun> {
    // Checked here, before any process starts, and again by the run process before it imports.
    resolveEntrypoint(run.entrypoint, this.options.projectRoot)
    let child = this.takeSpare()
    if (child) {
      // the agent's environment as it is now (it may have changed since the spare started), plus the run's
      child.send({ type: 'run', env: { ...process.env, ...env } })
    } else {
      child = this.spawnChild(env, false)
    }
    this.attachOutput(child, output)
    if (this.options.warm !== false) setImmediate(() => this.prepareSpares())
    return this.watch(child, output)
  }

  /** Stops the spare processes; call when the agent stops. */
  async close(): Promise<void> {
    this.closed = true
    for (const spare of this.spares.splice(0)) if (spare.pid) killGroup(spare.pid, 'SIGKILL')
  }

  private takeSpare(): ChildProcess | undefined {
    for (let spare = this.spares.shift(); spare; spare = this.spares.shift()) {
      if (spare.exitCode === null && spare.signalCode === null && spare.connected) return spare
    }
    return undefined
  }

  private prepareSpares(): void {
    if (this.options.warm === false) return
    while (!this.closed && this.spares.length < Math.max(1, this.options.spares ?? 1)) {
      const child = this.spawnChild({ ROTA_WARM: '1' }, true)
      child.once('exit', () => {
        const i = this.spares.indexOf(child)
        if (i >= 0) this.spares.splice(i, 1)
      })
      // A spare that never gets a run must not keep the agent's event loop alive.
      child.unref()
      child.channel?.unref()
      this.spares.push(child)
    }
  }

  private spawnChild(env: Record<string, string>, ipc: boolean): ChildProcess {
    const bin = path.join(this.options.projectRoot, 'bin/rota.js')
    return spawn(process.execPath, [bin, 'internal', 'run-child'], {
      cwd: this.options.projectRoot,
      env: { ...process.env, ...this.tsCache, ...env },
      stdio: ipc ? ['ignore', 'pipe', 'pipe', 'ipc'] : ['ignore', 'pipe', 'pipe'],
      // its own process group, so stopping the run also stops what it started (dbt, python)
      detached: true,
    })
  }

  private attachOutput(child: ChildProcess, output: RunOutputSink): void {
    for (const stream of [child.stdout, child.stderr]) {
      if (!stream) continue
      const name = stream === child.stdout ? 'stdout' : 'stderr'
      void readLines(stream, (line) => output.line({ stream: name, line, time: new Date() }))
    }
  }

  private watch(child: ChildProcess, output: RunOutputSink): LaunchedRun {
    child.ref()
    child.channel?.ref()
    const exited = new Promise<ExitInfo>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve({ exitCode: child.exitCode, signal: child.signalCode })
      child.once('error', (err) => {
        output.line({ stream: 'stderr', line: `could not start a run process: ${err.message}`, time: new Date() })
        resolve({ exitCode: null, signal: 'spawn-error' })
      })
      child.once('exit', (code, signal) => resolve({ exitCode: code, signal }))
    })
    const grace = (this.options.killGraceSeconds ?? 5) * 1000
    return {
      exited,
      async stop() {
        if (child.exitCode !== null || child.pid === undefined) return
        killGroup(child.pid, 'SIGTERM')
        const timer = setTimeout(() => killGroup(child.pid as number, 'SIGKILL'), grace)
        await exited
        clearTimeout(timer)
        killGroup(child.pid, 'SIGKILL') // leftovers in the group
      },
    }
  }
}
/** Signals a process and its group (launchers start runs and workers as group leaders, so what they start goes too). */
export function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal)
  } catch {
    try {
      process.kill(pid, signal)
    } catch {
      // already gone
    }
  }
}
