/** The local launcher: each flow run in its own child process, so a crash or OOM never takes the agent down. */
import { spawn } from 'node:child_process'
import path from 'node:path'
import readline from 'node:readline'
import type { ClaimedRun, ExitInfo, LaunchedRun, Launcher } from './launcher.ts'

export interface LocalLauncherOptions {
  projectRoot: string
  /** Lines a run's process printed outside its tasks (start-up errors, crashes). */
  onOutput?: (flowRunId: string, line: string, stream: 'stdout' | 'stderr') => void
  /** Seconds between SIGTERM and SIGKILL when stopping a run. */
  killGraceSeconds?: number
}

export class LocalLauncher implements Launcher {
  readonly type = 'local' as const
  constructor(private readonly options: LocalLauncherOptions) {}

  async launch(run: ClaimedRun, env: Record<string, string>): Promise<LaunchedRun> {
    const bin = path.join(this.options.projectRoot, 'bin/rota.js')
    const child = spawn(process.execPath, [bin, 'internal', 'run-child'], {
      cwd: this.options.projectRoot,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
      // its own process group, so stopping the run also stops what it started (dbt, python)
      detached: true,
    })
    for (const stream of ['stdout', 'stderr'] as const) {
      readline.createInterface({ input: child[stream] }).on('line', (line) => this.options.onOutput?.(run.id, line, stream))
    }
    const exited = new Promise<ExitInfo>((resolve) => {
      child.once('error', (err) => {
        this.options.onOutput?.(run.id, `could not start the run's process: ${err.message}`, 'stderr')
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
