/**
 * The presenter: turns stored rows into the contract's bodies (src/core/contract.ts), in one place.
 * Times become ISO strings, and a run's parameters become its effective values with the secret ones
 * redacted: no route, event or list can show a secret by forgetting to.
 */
import type { Agent, Artifact, Backfill, ClaimedRunBody, Execution, Flow, FlowRun, LogLine, Pool, PoolHolder, RunStats, StateHistory, TaskRun, Verdict } from '../../core/contract.ts'
import type { PoolView } from '../pools.ts'
import type { BackfillOutcome } from '../backfill.ts'
import type { HolderRow } from '../store/pools.ts'
import type { Verdict as PolicyVerdict } from '../orchestration/rules.ts'
import { formatBytes, REDACTED, redactParameters, resolveParameters, type ParameterSpec } from '../../core/parameters.ts'
import { describeSchedule } from '../../core/schedule.ts'
import { flowTasks, type FlowRow } from '../store/flows.ts'
import type { FlowRunRow } from '../store/runs.ts'
import type { TaskRunRow } from '../store/task-runs.ts'
import type { LogRow } from '../store/logs.ts'
import type { ArtifactRow } from '../store/artifacts.ts'
import type { AgentRow } from '../store/agents.ts'
import type { ClaimedRunRow } from '../store/queue.ts'
import type { Automation, AutomationAction, Firing, Storage } from '../../core/contract.ts'
import type { AutomationRow, FiringRow } from '../store/automations.ts'
import type { StorageRow } from '../store/retention.ts'
import type { RetentionPolicy } from '../../config.ts'

const iso = (t: Date | string): string => new Date(t).toISOString()
const isoOrNull = (t: Date | string | null): string | null => (t === null ? null : iso(t))

/** The run's values over the flow's defaults; a flow changed since the run keeps what can be shown. */
function effectiveParameters(specs: readonly ParameterSpec[], overrides: Record<string, unknown>): Record<string, unknown> {
  try {
    return resolveParameters(specs, overrides)
  } catch {
    return { ...Object.fromEntries(specs.map((s) => [s.name, s.default])), ...overrides }
  }
}

/** In lists, a parameter value whose JSON is longer than this is replaced by a summary. */
export const SUMMARY_CHARS = 256

/** A value's kind and size, instead of the value (lists: a page of 50 runs is never 50 x 256 KiB). */
function summarize(value: unknown): { value: unknown; summarized: boolean } {
  const json = JSON.stringify(value) ?? 'null'
  if (json.length <= SUMMARY_CHARS) return { value, summarized: false }
  const kind =
    typeof value === 'string'
      ? `text of ${value.length.toLocaleString('en-US')} characters`
      : Array.isArray(value)
        ? `list of ${value.length.toLocaleString('en-US')} items`
        : `object of ${Object.keys(value as object).length.toLocaleString('en-US')} keys`
  return { value: `[${kind}, ${formatBytes(new TextEncoder().encode(json).length)} of JSON: see the run]`, summarized: true }
}

/**
 * A run as the API shows it. `detail` (one run: its page, the answers to actions on it) carries the
 * parameter values whole; lists carry summaries of the big ones.
 */
/** `lateReason`: why a late run waits (orchestration/late.ts), when the caller worked it out. */
export function presentRun(r: FlowRunRow, view: 'detail' | 'list' = 'detail', lateReason: string | null = null): FlowRun {
  let parameters = redactParameters(r.specs, effectiveParameters(r.specs, r.overrides))
  let parametersSummarized = false
  if (view === 'list') {
    const entries = Object.entries(parameters).map(([k, v]) => {
      const s = summarize(v)
      parametersSummarized ||= s.summarized
      return [k, s.value] as const
    })
    if (parametersSummarized) parameters = Object.fromEntries(entries)
  }
  return {
    id: r.id,
    name: r.name,
    flowId: r.flowId,
    flowName: r.flowName,
    state: r.state,
    stateMessage: r.stateMessage,
    parameters,
    parametersSummarized,
    scheduledStartTime: iso(r.scheduledStartTime),
    startTime: isoOrNull(r.startTime),
    endTime: isoOrNull(r.endTime),
    late: r.late,
    durationMs: r.durationMs === null ? null : Math.round(Number(r.durationMs)),
    agentId: r.agentId,
    attempt: r.attempt,
    retryOf: r.retryOf,
    autoScheduled: r.autoScheduled,
    createdAt: iso(r.createdAt),
    updatedAt: iso(r.updatedAt),
    priority: r.priority,
    parentRunId: r.parentRunId,
    backfillId: r.backfillId,
    lateReason: r.late ? lateReason : null,
  }
}

/** What the run's own process gets: the effective parameters with their secrets (it needs them to run). */
export function presentExecution(r: FlowRunRow, entrypoint: string, specs: readonly ParameterSpec[], overrides: Record<string, unknown>, tasks: readonly string[]): Execution {
  return { run: presentRun(r), entrypoint, flowName: r.flowName, parameters: resolveParameters(specs, overrides), secretParameters: specs.filter((s) => s.secret).map((s) => s.name), tasks: [...tasks] }
}

export function presentFlow(f: FlowRow, lastRun: FlowRunRow | null, lastRunLateReason: string | null = null): Flow {
  return {
    id: f.id,
    name: f.name,
    description: f.description,
    version: f.version,
    entrypoint: f.entrypoint,
    schedule: f.schedule,
    scheduleText: describeSchedule(f.schedule),
    scheduleActive: f.scheduleActive,
    // A secret's default is kept for the runs that use it, and never shown.
    parameters: f.parameters.map((p) => ({ name: p.name, type: p.type, default: p.secret ? REDACTED : p.default, secret: p.secret })),
    tasks: flowTasks(f),
    labels: f.labels,
    catchUp: f.catchUp,
    retries: f.retries,
    isolation: f.isolation,
    maxActiveRuns: f.maxActiveRuns,
    overlap: f.overlap,
    pool: f.pool,
    taskPools: f.taskPools,
    retention: f.retention,
    lastRun: lastRun ? presentRun(lastRun, 'list', lastRunLateReason) : null,
    createdAt: iso(f.createdAt),
    updatedAt: iso(f.updatedAt),
  }
}

export function presentTaskRun(t: TaskRunRow): TaskRun {
  return {
    id: t.id,
    flowRunId: t.flowRunId,
    taskKey: t.taskKey,
    taskName: t.taskName,
    position: t.position,
    state: t.state,
    message: t.message,
    attempts: t.attempts,
    startTime: isoOrNull(t.startTime),
    endTime: isoOrNull(t.endTime),
    mapIndex: t.mapIndex,
    stack: t.stack,
    inputs: t.inputs,
    attemptLog: t.attemptLog.map((a) => ({ attempt: a.attempt, state: a.state, startTime: iso(a.startTime), endTime: isoOrNull(a.endTime), message: a.message })),
  }
}

export function presentLog(l: LogRow): LogLine {
  return { id: Number(l.id), flowRunId: l.flowRunId, taskName: l.taskName, time: iso(l.time), level: l.level, message: l.message }
}

export function presentArtifact(a: ArtifactRow): Artifact {
  // The kind and the data were checked together when the artifact was kept (ArtifactInputSchema).
  return { id: Number(a.id), key: a.key, kind: a.kind, description: a.description, taskName: a.taskName, data: a.data, createdAt: iso(a.createdAt) } as Artifact
}

export function presentAgent(a: AgentRow): Agent {
  return {
    id: a.id,
    name: a.name,
    type: a.type,
    labels: a.labels,
    concurrency: a.concurrency,
    startedAt: iso(a.startedAt),
    lastHeartbeat: iso(a.lastHeartbeat),
    status: a.status,
  }
}

export function presentClaimedRun(r: ClaimedRunRow & { token: string }): ClaimedRunBody {
  return {
    id: r.id,
    name: r.name,
    flowName: r.flowName,
    entrypoint: r.entrypoint,
    scheduledStartTime: iso(r.scheduledStartTime),
    flowVersion: r.flowVersion,
    isolation: r.isolation,
    token: r.token,
  }
}

export function presentHistory(rows: readonly { fromState: string | null; toState: string; message: string | null; time: Date }[]): StateHistory {
  return { items: rows.map((r) => ({ fromState: r.fromState, toState: r.toState, message: r.message, time: iso(r.time) })) }
}

export function presentStats(buckets: readonly { start: Date; counts: Record<string, number> }[]): RunStats {
  return { buckets: buckets.map((b) => ({ start: iso(b.start), counts: b.counts })) }
}

/** The policy's answer as the proposer reads it (its side effects stay on the server). */
export function presentVerdict(v: PolicyVerdict & { rule?: string | undefined }): Verdict {
  const rule = v.rule === undefined ? {} : { rule: v.rule }
  switch (v.status) {
    case 'accept':
      return { status: 'accept', state: v.state, ...rule }
    case 'wait':
      return { status: 'wait', reason: v.reason, retryAfterMs: v.retryAfterMs, ...rule }
    default:
      return { status: v.status, reason: v.reason, ...rule }
  }
}

// --- flow control (issue 12) -----------------------------------------------------------------

function presentHolder(h: HolderRow): PoolHolder {
  return { flowRunId: h.flowRunId, flowRunName: h.flowRunName, flowName: h.flowName, taskName: h.taskName, since: isoOrNull(h.since) }
}

export function presentPool(p: PoolView): Pool {
  return {
    name: p.name,
    slots: p.slots,
    held: p.holders.length,
    holders: p.holders.map(presentHolder),
    waiting: p.waiting.map(presentHolder),
    createdAt: iso(p.createdAt),
    updatedAt: iso(p.updatedAt),
  }
}

export function presentBackfill(b: BackfillOutcome): Backfill {
  return {
    id: b.id,
    flowName: b.flowName,
    from: iso(b.from),
    to: iso(b.to),
    missingOnly: b.missingOnly,
    maxActive: b.maxActive,
    times: b.times,
    created: b.created,
    existing: b.existing,
    runIds: b.runIds,
    createdAt: iso(b.createdAt),
  }
}

// --- automations and storage -------------------------------------------------------------------

/**
 * A webhook URL as answers show it: scheme, host and first path segment (a Slack or Discord webhook
 * URL carries its secret in the rest of the path, other services in the query or the user info).
 */
export function redactUrl(raw: string): string {
  try {
    const url = new URL(raw)
    const segments = url.pathname.split('/').filter(Boolean)
    const path = segments.length > 1 ? `/${segments[0]}/…` : url.pathname
    return `${url.protocol}//${url.host}${path}${url.search ? '?…' : ''}`
  } catch {
    return '…'
  }
}

/** An action as answers show it: header values and the secret part of a webhook URL hidden. */
export function presentAction(a: AutomationAction): AutomationAction {
  if (a.type !== 'webhook') return a
  const headers = a.headers ? { headers: Object.fromEntries(Object.keys(a.headers).map((k) => [k, REDACTED])) } : {}
  return { type: 'webhook', url: redactUrl(a.url), ...headers }
}

export function presentFiring(f: FiringRow): Firing {
  return {
    id: Number(f.id),
    automationId: f.automationId,
    kind: f.kind,
    flowName: f.flowName,
    flowRunId: f.flowRunId,
    flowRunName: f.flowRunName,
    state: f.state,
    message: f.message,
    status: f.status,
    attempts: f.attempts,
    statusCode: f.statusCode,
    error: f.error,
    createdAt: iso(f.createdAt),
    finishedAt: isoOrNull(f.finishedAt),
  }
}

export function presentAutomation(a: AutomationRow, lastFiring: FiringRow | null): Automation {
  return {
    id: a.id,
    name: a.name,
    enabled: a.enabled,
    trigger: a.trigger,
    action: presentAction(a.action),
    minGapSeconds: a.minGapSeconds,
    lastFiring: lastFiring ? presentFiring(lastFiring) : null,
    createdAt: iso(a.createdAt),
    updatedAt: iso(a.updatedAt),
  }
}

export function presentStorage(s: StorageRow, retention: RetentionPolicy): Storage {
  return { databaseBytes: s.databaseBytes, oldestRun: isoOrNull(s.oldestRun), runs: s.runs, retention: { maxAgeSeconds: retention.maxAgeSeconds, keepLast: retention.keepLast } }
}
