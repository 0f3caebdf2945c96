/** A small typed client for the Rota API, used by the CLI, agents and flow processes. */

export class ApiError extends Error {
  override name = 'ApiError'
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message)
  }
}

export class ServerUnreachableError extends Error {
  override name = 'ServerUnreachableError'
}

export type { State } from '../server/orchestration/states.ts'
import type { State } from '../server/orchestration/states.ts'

export interface FlowRun {
  id: string
  name: string
  flowId: string
  flowName: string
  state: State
  stateMessage: string | null
  parameters: Record<string, unknown>
  scheduledStartTime: string
  startTime: string | null
  endTime: string | null
  late: boolean
  durationMs: number | null
  agentId: string | null
  attempt: number
  retryOf: string | null
}

export interface Flow {
  id: string
  name: string
  description: string
  version: string
  schedule: unknown
  scheduleText: string
  scheduleActive: boolean
  parameters: { name: string; type: string; default: unknown; secret: boolean }[]
  tasks: string[]
  lastRun: FlowRun | null
}

export interface TaskRun {
  id: string
  taskName: string
  state: State
  attempts: number
  startTime: string | null
  endTime: string | null
  message: string | null
}

export interface LogLine {
  id: number
  taskName: string | null
  time: string
  level: 'debug' | 'info' | 'warn' | 'error'
  message: string
}

export interface Agent {
  id: string
  name: string
  type: 'local' | 'docker'
  labels: string[]
  lastHeartbeat: string
  status: 'active' | 'unhealthy' | 'offline'
}

export interface ClaimedRunWire {
  id: string
  name: string
  flowName: string
  entrypoint: string
  scheduledStartTime: string
}

export interface Verdict {
  status: 'accept' | 'reject' | 'wait' | 'abort'
  state?: State
  reason?: string
  retryAfterMs?: number
}

export interface TaskEventWire {
  taskRunId: string
  taskKey: string
  taskName: string
  position: number
  state: State
  message?: string | undefined
  attempts: number
  time: string
}

export interface LogWire {
  seq: number
  time: string
  level: 'debug' | 'info' | 'warn' | 'error'
  message: string
  taskName?: string | null | undefined
}

export class RotaClient {
  readonly baseUrl: string
  constructor(
    baseUrl: string,
    private readonly apiKey?: string,
  ) {
    this.baseUrl = baseUrl.replace(/\/+$/, '')
  }

  async request<T>(method: string, path: string, body?: unknown, options: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<T> {
    const headers: Record<string, string> = { accept: 'application/json' }
    // The server takes state changes only as JSON (so that no web page can forge them): actions without a body send {}.
    if (body === undefined && method !== 'GET' && method !== 'HEAD') body = {}
    if (body !== undefined) headers['content-type'] = 'application/json'
    if (this.apiKey) headers['x-api-key'] = this.apiKey
    const signals = [AbortSignal.timeout(options.timeoutMs ?? 30_000)]
    if (options.signal) signals.push(options.signal)
    let res: Response
    try {
      res = await fetch(`${this.baseUrl}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.any(signals) })
    } catch (err) {
      if (options.signal?.aborted) throw err
      const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message
      throw new ServerUnreachableError(`cannot reach the Rota server at ${this.baseUrl} (${cause}); start it with \`rota up\` or \`rota server start\`, or set ROTA_API_URL`)
    }
    const text = await res.text()
    let data: unknown
    try {
      data = text ? JSON.parse(text) : undefined
    } catch {
      data = undefined
    }
    if (!res.ok) {
      const message = (data as { error?: { message?: string } } | undefined)?.error?.message ?? `${res.status} ${res.statusText}`
      throw new ApiError(res.status, message)
    }
    return data as T
  }

  health() {
    return this.request<{ status: string; version: string; database: string }>('GET', '/api/health')
  }
  listFlows() {
    return this.request<{ items: Flow[] }>('GET', '/api/flows')
  }
  getFlow(idOrName: string) {
    return this.request<Flow>('GET', `/api/flows/${encodeURIComponent(idOrName)}`)
  }
  registerFlow(reg: unknown) {
    return this.request<{ status: 'created' | 'updated' | 'unchanged'; flow: Flow }>('POST', '/api/flows', reg)
  }
  setSchedule(flow: string, active: boolean) {
    return this.request<Flow>('POST', `/api/flows/${encodeURIComponent(flow)}/schedule`, { active })
  }
  createRun(flow: string, parameters: Record<string, unknown>) {
    return this.request<FlowRun>('POST', `/api/flows/${encodeURIComponent(flow)}/runs`, { parameters })
  }
  listRuns(q: { flow?: string; state?: string; limit?: number; cursor?: string } = {}) {
    const params = new URLSearchParams()
    for (const [k, v] of Object.entries(q)) if (v !== undefined) params.set(k, String(v))
    return this.request<{ items: FlowRun[]; nextCursor: string | null }>('GET', `/api/flow-runs?${params}`)
  }
  getRun(id: string) {
    return this.request<FlowRun>('GET', `/api/flow-runs/${encodeURIComponent(id)}`)
  }
  cancelRun(id: string) {
    return this.request<FlowRun>('POST', `/api/flow-runs/${encodeURIComponent(id)}/cancel`)
  }
  retryRun(id: string) {
    return this.request<FlowRun>('POST', `/api/flow-runs/${encodeURIComponent(id)}/retry`)
  }
  taskRuns(id: string) {
    return this.request<{ items: TaskRun[] }>('GET', `/api/flow-runs/${encodeURIComponent(id)}/task-runs`)
  }
  logs(id: string, after = 0, limit = 1000) {
    return this.request<{ items: LogLine[] }>('GET', `/api/flow-runs/${encodeURIComponent(id)}/logs?after=${after}&limit=${limit}`)
  }
  listAgents() {
    return this.request<{ items: Agent[] }>('GET', '/api/agents')
  }

  // --- for agents and flow processes ---
  registerAgent(a: { name: string; type: 'local' | 'docker'; labels: string[]; concurrency: number }) {
    return this.request<Agent>('POST', '/api/agents', a)
  }
  poll(agentId: string, body: { slots: number; runIds: string[]; waitMs: number; prefetchMs: number }, signal?: AbortSignal) {
    return this.request<{ runs: ClaimedRunWire[]; cancel: string[]; lost: string[] }>('POST', `/api/agents/${agentId}/poll`, body, {
      timeoutMs: body.waitMs + 15_000,
      ...(signal ? { signal } : {}),
    })
  }
  stopAgent(agentId: string) {
    return this.request<{ ok: boolean }>('POST', `/api/agents/${agentId}/stop`, {}, { timeoutMs: 3000 })
  }
  proposeState(flowRunId: string, state: State, message?: string, agentId?: string) {
    return this.request<{ verdict: Verdict; run: FlowRun }>('POST', `/api/flow-runs/${flowRunId}/state`, { state, message, agentId })
  }
  execution(flowRunId: string) {
    return this.request<{ run: FlowRun; entrypoint: string; flowName: string; parameters: Record<string, unknown> }>('GET', `/api/flow-runs/${flowRunId}/execution`)
  }
  postTaskEvents(flowRunId: string, events: TaskEventWire[]) {
    return this.request<{ applied: number; rejected: { index: number; reason: string }[] }>('POST', `/api/flow-runs/${flowRunId}/task-runs`, { events })
  }
  postLogs(flowRunId: string, source: string, logs: LogWire[]) {
    return this.request<{ inserted: number }>('POST', `/api/flow-runs/${flowRunId}/logs`, { source, logs })
  }
  postArtifact(flowRunId: string, key: string, data: unknown, taskName?: string) {
    return this.request('POST', `/api/flow-runs/${flowRunId}/artifacts`, { key, data, taskName })
  }
}
