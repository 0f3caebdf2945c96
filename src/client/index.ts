/**
 * A small typed client for the Rota API, used by the CLI, agents and flow processes. It speaks
 * node:http with keep-alive connections shared by every client of the process, not fetch: a shared
 * worker makes thousands of small requests a second, and fetch's web streams cost about ten times
 * the CPU of a plain request (measured: ~3 ms against ~0.3 ms a request).
 */
import http from 'node:http'
import https from 'node:https'

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

import { RUN_TOKEN_HEADER } from '../core/auth.ts'

// Every shape comes from the wire contract; the client imports types only (no zod at run time).
import type {
  Agent,
  AgentList,
  Backfill,
  BackfillRequest,
  ChildRunRequest,
  Pool,
  PoolList,
  PoolSlotRequest,
  PoolSlotResult,
  RunResult,
  Artifact,
  AgentRegistration,
  ArtifactInput,
  BulkAction,
  BulkResult,
  ClaimedRunBody,
  ChildExecution,
  Execution,
  Flow,
  FlowList,
  FlowRegistrationInput,
  FlowRun,
  Health,
  LogBatchResult,
  LogInput,
  LogList,
  Ok,
  PollInput,
  PollResult,
  RegistrationResult,
  RunListQuery,
  RunPage,
  State,
  StateResult,
  TaskEvent,
  TaskEventResult,
  TaskRunList,
  Automation,
  AutomationInput,
  AutomationList,
  AutomationPatch,
  FiringList,
} from '../core/contract.ts'

export type { Agent, Artifact, ArtifactInput, Backfill, Flow, FlowRun, LogLine, Pool, PoolSlotResult, State, TaskRun, Verdict } from '../core/contract.ts'
/** A claimed run as it travels (times are ISO strings). */
export type ClaimedRunWire = ClaimedRunBody
export type TaskEventWire = TaskEvent
export type LogWire = LogInput

export interface RotaClientOptions {
  /** A run's token (ROTA_RUN_TOKEN): sent with every request, for the routes that act for that run. */
  runToken?: string | undefined
}

export class RotaClient {
  readonly baseUrl: string
  constructor(
    baseUrl: string,
    private readonly apiKey?: string,
    private readonly options: RotaClientOptions = {},
  ) {
    this.baseUrl = baseUrl.replace(/\/+$/, '')
  }

  /** The same server and key, acting for one run with its token (the agent has one per run it holds). */
  forRun(runToken: string): RotaClient {
    return new RotaClient(this.baseUrl, this.apiKey, { ...this.options, runToken })
  }

  async request<T>(method: string, path: string, body?: unknown, options: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<T> {
    const headers: Record<string, string> = { accept: 'application/json' }
    // The server takes state changes only as JSON (so that no web page can forge them): actions without a body send {}.
    if (body === undefined && method !== 'GET' && method !== 'HEAD') body = {}
    if (body !== undefined) headers['content-type'] = 'application/json'
    if (this.apiKey) headers['x-api-key'] = this.apiKey
    if (this.options.runToken) headers[RUN_TOKEN_HEADER] = this.options.runToken
    let res: { status: number; statusText: string; text: string }
    try {
      res = await send(new URL(`${this.baseUrl}${path}`), method, headers, body === undefined ? undefined : JSON.stringify(body), options.timeoutMs ?? 30_000, options.signal)
    } catch (err) {
      if (options.signal?.aborted) throw err
      const cause = (err as { code?: string }).code ?? (err as Error).message
      throw new ServerUnreachableError(`cannot reach the Rota server at ${this.baseUrl} (${cause}); start it with \`rota up\` or \`rota server start\`, or set ROTA_API_URL`)
    }
    let data: unknown
    try {
      data = res.text ? JSON.parse(res.text) : undefined
    } catch {
      data = undefined
    }
    if (res.status < 200 || res.status >= 300) {
      const message = (data as { error?: { message?: string } } | undefined)?.error?.message ?? `${res.status} ${res.statusText}`
      throw new ApiError(res.status, message)
    }
    return data as T
  }

  health() {
    return this.request<Health>('GET', '/api/health')
  }
  listFlows() {
    return this.request<FlowList>('GET', '/api/flows')
  }
  getFlow(idOrName: string) {
    return this.request<Flow>('GET', `/api/flows/${encodeURIComponent(idOrName)}`)
  }
  registerFlow(reg: FlowRegistrationInput) {
    return this.request<RegistrationResult>('POST', '/api/flows', reg)
  }
  setSchedule(flow: string, active: boolean) {
    return this.request<Flow>('POST', `/api/flows/${encodeURIComponent(flow)}/schedule`, { active })
  }
  createRun(flow: string, parameters: Record<string, unknown>, options: { priority?: number } = {}) {
    return this.request<FlowRun>('POST', `/api/flows/${encodeURIComponent(flow)}/runs`, { parameters, ...options })
  }
  listRuns(q: Pick<RunListQuery, 'flow' | 'state' | 'limit' | 'cursor' | 'parent' | 'q' | 'when' | 'order' | 'before' | 'after'> = {}) {
    const params = new URLSearchParams()
    for (const [k, v] of Object.entries(q)) if (v !== undefined) params.set(k, String(v))
    return this.request<RunPage>('GET', `/api/flow-runs?${params}`)
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
  bulk(action: BulkAction['action'], ids: string[]) {
    return this.request<BulkResult>('POST', '/api/flow-runs/bulk', { action, ids })
  }
  taskRuns(id: string) {
    return this.request<TaskRunList>('GET', `/api/flow-runs/${encodeURIComponent(id)}/task-runs`)
  }
  logs(id: string, after = 0, limit = 1000) {
    return this.request<LogList>('GET', `/api/flow-runs/${encodeURIComponent(id)}/logs?after=${after}&limit=${limit}`)
  }
  listAgents() {
    return this.request<AgentList>('GET', '/api/agents')
  }
  backfill(flow: string, request: BackfillRequest) {
    return this.request<Backfill>('POST', `/api/flows/${encodeURIComponent(flow)}/backfills`, request)
  }
  listPools() {
    return this.request<PoolList>('GET', '/api/pools')
  }
  getPool(name: string) {
    return this.request<Pool>('GET', `/api/pools/${encodeURIComponent(name)}`)
  }
  setPool(name: string, slots: number) {
    return this.request<Pool>('PUT', `/api/pools/${encodeURIComponent(name)}`, { slots })
  }
  runResult(id: string) {
    return this.request<RunResult>('GET', `/api/flow-runs/${encodeURIComponent(id)}/result`)
  }

  // --- automations ---
  listAutomations() {
    return this.request<AutomationList>('GET', '/api/automations')
  }
  getAutomation(idOrName: string) {
    return this.request<Automation>('GET', `/api/automations/${encodeURIComponent(idOrName)}`)
  }
  createAutomation(input: AutomationInput) {
    return this.request<Automation>('POST', '/api/automations', input)
  }
  updateAutomation(idOrName: string, patch: AutomationPatch) {
    return this.request<Automation>('PATCH', `/api/automations/${encodeURIComponent(idOrName)}`, patch)
  }
  deleteAutomation(idOrName: string) {
    return this.request<Ok>('DELETE', `/api/automations/${encodeURIComponent(idOrName)}`)
  }
  firings(idOrName: string, limit = 50) {
    return this.request<FiringList>('GET', `/api/automations/${encodeURIComponent(idOrName)}/firings?limit=${limit}`)
  }

  // --- for agents and flow processes (the run routes need a client made with forRun(token)) ---
  registerAgent(a: AgentRegistration) {
    return this.request<Agent>('POST', '/api/agents', a)
  }
  poll(agentId: string, body: PollInput & { waitMs: number }, signal?: AbortSignal) {
    return this.request<PollResult>('POST', `/api/agents/${agentId}/poll`, body, {
      timeoutMs: body.waitMs + 15_000,
      ...(signal ? { signal } : {}),
    })
  }
  stopAgent(agentId: string) {
    return this.request<Ok>('POST', `/api/agents/${agentId}/stop`, {}, { timeoutMs: 3000 })
  }
  /**
   * `withExecution`: a run proposing running also gets its execution details in the answer (a server
   * older than that omits them). `result`: what the flow returned, with its final state.
   */
  proposeState(flowRunId: string, state: State, message?: string, agentId?: string, options: { withExecution?: boolean; result?: unknown } = {}) {
    return this.request<StateResult>('POST', `/api/flow-runs/${flowRunId}/state`, { state, message, agentId, ...options })
  }
  execution(flowRunId: string) {
    return this.request<Execution>('GET', `/api/flow-runs/${flowRunId}/execution`)
  }
  postTaskEvents(flowRunId: string, events: TaskEventWire[]) {
    return this.request<TaskEventResult>('POST', `/api/flow-runs/${flowRunId}/task-runs`, { events })
  }
  postLogs(flowRunId: string, source: string, logs: LogWire[]) {
    return this.request<LogBatchResult>('POST', `/api/flow-runs/${flowRunId}/logs`, { source, logs })
  }
  postArtifact(flowRunId: string, artifact: ArtifactInput) {
    return this.request<Artifact>('POST', `/api/flow-runs/${flowRunId}/artifacts`, artifact)
  }
  /** Long-polls up to `request.waitMs` (default 20 s) for a pool slot. */
  acquireSlot(flowRunId: string, request: PoolSlotRequest, signal?: AbortSignal) {
    return this.request<PoolSlotResult>('POST', `/api/flow-runs/${flowRunId}/pool-slots`, request, {
      timeoutMs: (request.waitMs ?? 20_000) + 15_000,
      ...(signal ? { signal } : {}),
    })
  }
  releaseSlot(flowRunId: string, slotId: number) {
    return this.request<Ok>('POST', `/api/flow-runs/${flowRunId}/pool-slots/${slotId}/release`)
  }
  startChildRun(parentRunId: string, request: ChildRunRequest) {
    return this.request<ChildExecution>('POST', `/api/flow-runs/${parentRunId}/children`, request)
  }
  /** Long-polls up to `waitMs` for the run to leave `whileState`. */
  waitRun(flowRunId: string, whileState: State, waitMs = 20_000, signal?: AbortSignal) {
    return this.request<FlowRun>('GET', `/api/flow-runs/${flowRunId}/wait?whileState=${whileState}&waitMs=${waitMs}`, undefined, {
      timeoutMs: waitMs + 15_000,
      ...(signal ? { signal } : {}),
    })
  }
}

const keepAlive = { http: new http.Agent({ keepAlive: true }), https: new https.Agent({ keepAlive: true }) }

/**
 * One request; resolves with the whole response text. Rejects on network errors, the timeout and `signal`.
 * A kept-alive connection can be closed by the server (its idle timeout) just as a request leaves
 * on it: that request never reached the server, and goes again on another connection (Node's
 * documented remedy, `request.reusedSocket`), a few times at most.
 */
async function send(url: URL, method: string, headers: Record<string, string>, body: string | undefined, timeoutMs: number, signal: AbortSignal | undefined): Promise<{ status: number; statusText: string; text: string }> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await sendOnce(url, method, headers, body, timeoutMs, signal)
    } catch (err) {
      const stale = (err as { reusedSocket?: boolean; code?: string }).reusedSocket === true && (err as { code?: string }).code === 'ECONNRESET'
      if (!stale || attempt >= 4 || signal?.aborted) throw err
    }
  }
}

function sendOnce(url: URL, method: string, headers: Record<string, string>, body: string | undefined, timeoutMs: number, signal: AbortSignal | undefined): Promise<{ status: number; statusText: string; text: string }> {
  return new Promise((resolve, reject) => {
    const secure = url.protocol === 'https:'
    if (!secure && url.protocol !== 'http:') return reject(Object.assign(new Error(`unsupported protocol ${url.protocol}`), { code: 'ERR_INVALID_URL' }))
    if (body !== undefined) headers['content-length'] = String(Buffer.byteLength(body))
    let responded = false
    const req = (secure ? https : http).request(url, { method, headers, agent: secure ? keepAlive.https : keepAlive.http, ...(signal ? { signal } : {}) }, (res) => {
      responded = true
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => chunks.push(chunk))
      res.once('error', fail)
      res.once('end', () => {
        clearTimeout(timer)
        resolve({ status: res.statusCode ?? 0, statusText: res.statusMessage ?? '', text: Buffer.concat(chunks).toString('utf8') })
      })
    })
    const timer = setTimeout(() => req.destroy(Object.assign(new Error(`no answer within ${timeoutMs} ms`), { code: 'ETIMEDOUT' })), timeoutMs)
    function fail(err: Error) {
      clearTimeout(timer)
      // whether it left on a kept-alive connection; only such a request may go again (send)
      reject(Object.assign(err, { reusedSocket: req.reusedSocket && !responded }))
    }
    req.once('error', fail)
    req.end(body)
  })
}
