/** Launchers start one flow run somewhere (a child process, a container) and can stop it. */

export interface ClaimedRun {
  id: string
  name: string
  flowName: string
  /** e.g. "pipelines/brt/flow.ts:default", relative to the project root. */
  entrypoint: string
  scheduledStartTime: Date
}

export interface ExitInfo {
  exitCode: number | null
  signal: string | null
}

export interface LaunchedRun {
  readonly exited: Promise<ExitInfo>
  stop(reason: string): Promise<void>
}

export interface Launcher {
  readonly type: 'local' | 'docker'
  /** `env` holds ROTA_API_URL, ROTA_API_KEY (if any), ROTA_FLOW_RUN_ID and ROTA_AGENT_ID. */
  launch(run: ClaimedRun, env: Record<string, string>): Promise<LaunchedRun>
  /** Called once at agent start: adopt or clean up what a previous agent process left. */
  reconcile?(agentName: string): Promise<Array<{ flowRunId: string; launched: LaunchedRun }>>
  /** Releases what the launcher keeps between runs (a warm process); called when the agent stops. */
  close?(): Promise<void>
}
