/** The local launcher: each flow run in its own child process, so a crash or OOM never takes the agent down. */
import { spawn, type ChildProcess } from 'node:child_process'
import path from 'node:path'
import type { ClaimedRun, ExitInfo, LaunchedRun, Launcher } from './launcher.ts'
import { readLines, type RunOutputSink } from './output.ts'
import { resolveEntrypoint } from '../entrypoint.ts'

export interface LocalLauncherOptions {
  projectRoot: string
  /** Seconds between SIGTERM and SIGKILL when stopping a run. */
  killGraceSeconds?: number
  /** Keep one process warm for the next run (default true). */
  warm?: boolean
}

export class LocalLauncher implements Launcher {
  readonly type = 'local' as const
  /** A process started ahead of need, Rota already loaded, waiting for its run: a run starts in ms, not in ~0.5 s. */
  private spare: ChildProcess | undefined
  private closed = false

  constructor(private readonly options: LocalLauncherOptions) {}

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
    if (this.options.warm !== false) setImmediate(() => this.prepareSpare())
    return this.watch(child, output)
  }

  /** Stops the spare process; call when the agent stops. */
  async close(): Promise<void> {
    this.closed = true
    const spare = this.spare
    this.spare = undefined
    if (spare?.pid) killGroup(spare.pid, 'SIGKILL')
  }

  private takeSpare(): ChildProcess | undefined {
    const spare = this.spare
    this.spare = undefined
    return spare && spare.exitCode === null && spare.signalCode === null && spare.connected ? spare : undefined
  }

  private prepareSpare(): void {
    if (this.closed || this.spare || this.options.warm === false) return
    const child = this.spawnChild({ ROTA_WARM: '1' }, true)
    child.once('exit', () => {
      if (this.spare === child) this.spare = undefined
    })
    // A spare that never gets a run must not keep the agent's event loop alive.
    child.unref()
    child.channel?.unref()
    this.spare = child
  }

  private spawnChild(env: Record<string, string>, ipc: boolean): ChildProcess {
    const bin = path.join(this.options.projectRoot, 'bin/rota.js')
    return spawn(process.execPath, [bin, 'internal', 'run-child'], {
      cwd: this.options.projectRoot,
      env: { ...process.env, ...env },
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
function killGroup(pid: number, signal: NodeJS.Signals): void {
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
