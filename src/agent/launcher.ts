/**
 * Launchers start one flow run somewhere (a child process, a container) and can stop it. What the
 * run prints goes to the `output` the agent hands over (one per run: src/agent/output.ts).
 */
import type { RunOutputSink } from './output.ts'
import type { Isolation } from '../core/isolation.ts'
import type { State } from '../core/states.ts'

export interface ClaimedRun {
  id: string
  name: string
  flowName: string
  /** e.g. "pipelines/brt/flow.ts:default", relative to the project root. */
  entrypoint: string
  scheduledStartTime: Date
  /** The flow's version: a shared worker loads each version of a flow module once. Unknown for re-adopted runs. */
  flowVersion?: string | undefined
  /** The flow's choice; null or absent: the agent's own. */
  isolation?: Isolation | null | undefined
}

export interface ExitInfo {
  exitCode: number | null
  signal: string | null
  /** The final state the server holds, when the run delivered it (the agent need not ask). */
  state?: State | undefined
  /** Why the run ended without a final state, when the launcher knows better than an exit code (a shared worker killed). */
  reason?: string | undefined
}

export interface LaunchedRun {
  readonly exited: Promise<ExitInfo>
  stop(reason: string): Promise<void>
}

export interface Launcher {
  readonly type: 'local' | 'docker'
  /** `env` holds ROTA_API_URL, ROTA_API_KEY (if any), ROTA_FLOW_RUN_ID, ROTA_RUN_TOKEN and ROTA_AGENT_ID; the run's lines go to `output`. */
  launch(run: ClaimedRun, env: Record<string, string>, output: RunOutputSink): Promise<LaunchedRun>
  /**
   * Called once at agent start: adopt or clean up what a previous agent process left; adopted runs'
   * lines go to `outputFor(id, token)`. `token` is the run's token, when the launcher can read it
   * back from what it started (a container's environment): the agent reports for the run with it.
   */
  reconcile?(agentName: string, outputFor: (flowRunId: string, token: string | undefined) => RunOutputSink): Promise<Array<{ flowRunId: string; launched: LaunchedRun; token: string | undefined }>>
  /** Releases what the launcher keeps between runs (a warm process); called when the agent stops. */
  close?(): Promise<void>
}
