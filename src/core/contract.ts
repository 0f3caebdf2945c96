/**
 * The wire contract: the zod schema of every request and response of Rota's JSON API, each with its
 * inferred type. The server validates and documents with these schemas (/api/openapi.json is
 * generated from them), the client (src/client) and the dashboard (src/ui) import the types. Nothing
 * else writes a response shape by hand. Plain zod with `.meta()`: no server code, safe to import from
 * every part (the dashboard imports types only, so zod stays out of its bundle).
 *
 * Names: `XSchema` is the schema, `X` its type (`z.output`: what the server sends, what a client
 * reads). Request bodies that have defaults also have `XInput` (`z.input`: what a client may send).
 */
import { z } from 'zod'
import { STATES } from './states.ts'
import { ARTIFACT_KINDS } from './artifacts.ts'
import { ISOLATIONS } from './isolation.ts'
import { OVERLAPS, POOL_NAME } from './flow-control.ts'
import { RUN_TOKEN_HEADER } from './auth.ts'
import { MAX_DURATION_SECONDS } from './duration.ts'

/** Longest text of one log line, state message or task message. */
export const MAX_MESSAGE = 64 * 1024

const Time = z.string().meta({ format: 'date-time', example: '2026-11-25T12:00:00.000Z' })

/**
 * A named schema or null. Not `.nullable()`: on a schema with an id, the OpenAPI generator marks the
 * shared component itself nullable (zod-to-openapi 9, depending on which route it meets first).
 */
const orNull = <S extends z.ZodType>(schema: S) => z.union([schema, z.null()])
/** Largest value of an `integer` column: a larger one is a 400 here, not a database error. */
export const INT32_MAX = 2_147_483_647
/** An ISO 8601 time from a client: years 1 to 9999 (year 0000 does not exist; the format holds 4 digits). */
const TimeInput = z.iso
  .datetime({ offset: true })
  .refine((s) => !s.startsWith('0000'), { message: 'must be a time between the years 0001 and 9999' })
  .meta({ format: 'date-time', example: '2026-11-25T12:00:00.000Z' })

export const StateSchema = z.enum(STATES).meta({ id: 'State' })
export type { State } from './states.ts'

export const LogLevelSchema = z.enum(['debug', 'info', 'warn', 'error']).meta({ id: 'LogLevel' })
export type LogLevel = z.infer<typeof LogLevelSchema>

export const ErrorSchema = z.object({ error: z.object({ message: z.string() }) }).meta({ id: 'Error' })
export type ErrorBody = z.infer<typeof ErrorSchema>

// --- path parameters -------------------------------------------------------------------------

export const IdParam = z.object({ id: z.uuid({ message: 'must be a run id (a UUID)' }).meta({ param: { name: 'id', in: 'path' } }) })
export const FlowParam = z.object({ idOrName: z.string().min(1).max(200).meta({ param: { name: 'idOrName', in: 'path' } }) })
export const AgentParam = z.object({ id: z.uuid({ message: 'must be an agent id (a UUID)' }).meta({ param: { name: 'id', in: 'path' } }) })

/** The run token (src/server/run-access.ts), on the routes that act for a run: its execution details and its reports. */
export const RunTokenHeaders = z.object({
  [RUN_TOKEN_HEADER]: z
    .string()
    .max(200)
    .optional()
    .meta({ param: { name: RUN_TOKEN_HEADER, in: 'header' }, description: "the run's token: the agent that claimed the run has it, and gives it to the run's process as ROTA_RUN_TOKEN" }),
})

// --- retention and storage -------------------------------------------------------------------

/** A flow's own retention (`defineFlow({ retention })`); what it leaves out comes from the server's ROTA_RETENTION*. */
export const RetentionSchema = z
  .object({
    maxAgeSeconds: z
      .number()
      .int()
      .min(1)
      .max(MAX_DURATION_SECONDS)
      .nullable()
      .optional()
      .meta({ description: "finished runs older than this are deleted; null: never by age; absent: the server's ROTA_RETENTION" }),
    keepLast: z
      .number()
      .int()
      .min(0)
      .max(1_000_000)
      .optional()
      .meta({ description: "this many newest finished runs are kept whatever their age; absent: the server's ROTA_RETENTION_KEEP_LAST" }),
  })
  .meta({ id: 'Retention' })
export type Retention = z.infer<typeof RetentionSchema>

/** What the database holds and how long: GET /api/health. */
export const StorageSchema = z
  .object({
    databaseBytes: z.number().nullable().meta({ description: 'size of the database on disk; null when it cannot be read' }),
    oldestRun: Time.nullable().meta({ description: 'scheduled time of the oldest run kept' }),
    runs: z.number().int().meta({ description: 'flow runs kept (an estimate on PostgreSQL for large tables)' }),
    retention: z.object({ maxAgeSeconds: z.number().nullable(), keepLast: z.number().int() }).meta({ description: 'the server-wide policy (ROTA_RETENTION, ROTA_RETENTION_KEEP_LAST)' }),
  })
  .meta({ id: 'Storage' })
export type Storage = z.infer<typeof StorageSchema>

// --- server ----------------------------------------------------------------------------------

export const HealthSchema = z
  .object({
    status: z.literal('ok'),
    version: z.string(),
    database: z.enum(['pglite', 'postgres']),
    time: z.string(),
    authRequired: z.boolean(),
    storage: StorageSchema,
  })
  .meta({ id: 'Health' })
export type Health = z.infer<typeof HealthSchema>

export const HealthUnavailableSchema = z.object({ status: z.literal('unavailable'), error: z.object({ message: z.string() }) }).meta({ id: 'HealthUnavailable' })

// --- flows -----------------------------------------------------------------------------------

export const ParameterSpecSchema = z
  .object({ name: z.string(), type: z.enum(['string', 'number', 'boolean', 'json']), default: z.unknown(), secret: z.boolean() })
  .meta({ id: 'ParameterSpec' })
export type ParameterSpecBody = z.infer<typeof ParameterSpecSchema>

export const ScheduleSchema = z
  .union([
    // ten years at most: longer intervals leave the calendar JavaScript can count in; use cron for rare runs
    z.object({ intervalSeconds: z.number().int().positive().max(10 * 366 * 86_400), anchor: z.string().max(100).optional() }),
    z.object({ cron: z.string().max(200), timezone: z.string().max(100) }),
  ])
  .meta({ id: 'Schedule' })
export type ScheduleBody = z.infer<typeof ScheduleSchema>

export const FlowRunSchema = z
  .object({
    id: z.uuid(),
    name: z.string(),
    flowId: z.uuid(),
    flowName: z.string(),
    state: StateSchema,
    stateMessage: z.string().nullable(),
    parameters: z
      .record(z.string(), z.unknown())
      .meta({ description: 'effective values; secret ones are "********"; in lists (and the all-runs event stream) a value over 256 characters of JSON is a summary text: GET /flow-runs/{id} has it whole' }),
    parametersSummarized: z.boolean().meta({ description: 'true when some parameter values are summaries (lists), not the values' }),
    scheduledStartTime: Time,
    startTime: Time.nullable(),
    endTime: Time.nullable(),
    late: z.boolean(),
    durationMs: z.number().nullable(),
    agentId: z.uuid().nullable(),
    attempt: z.number().int(),
    retryOf: z.uuid().nullable(),
    autoScheduled: z.boolean(),
    createdAt: Time,
    updatedAt: Time,
    // flow control (issue 12)
    priority: z.number().int().meta({ description: 'higher first: orders claims among due runs' }),
    parentRunId: z.uuid().nullable().meta({ description: 'the run whose body started this one (a child flow run)' }),
    backfillId: z.uuid().nullable().meta({ description: 'the backfill that made this run' }),
    lateReason: z.string().nullable().meta({ description: 'why a late run is still waiting (no agent with its labels, agents busy); null when not late' }),
  })
  .meta({ id: 'FlowRun' })
export type FlowRun = z.infer<typeof FlowRunSchema>

export const CatchUpSchema = z.enum(['latest', 'all'])
/** What a run of a flow at its maxActiveRuns does: wait for a slot, end skipped, or cancel the running one. */
export const OverlapSchema = z.enum(OVERLAPS)
const PoolName = z.string().regex(POOL_NAME, 'a pool name is 1 to 100 letters, digits, "-", "_" or "." (starting with a letter or digit)')

export const IsolationSchema = z
  .enum(ISOLATIONS)
  .meta({ id: 'Isolation', description: "where agents run the flow's runs: 'process' (one process per run) or 'shared' (long-lived workers, many runs at once)" })
export type { Isolation } from './isolation.ts'

export const FlowSchema = z
  .object({
    id: z.uuid(),
    name: z.string(),
    description: z.string(),
    version: z.string(),
    entrypoint: z.string(),
    schedule: orNull(ScheduleSchema),
    scheduleText: z.string().meta({ example: 'every 1 minute' }),
    scheduleActive: z.boolean(),
    parameters: z.array(ParameterSpecSchema),
    tasks: z.array(z.string()),
    labels: z.array(z.string()),
    catchUp: CatchUpSchema,
    retries: z.number().int(),
    isolation: orNull(IsolationSchema).meta({ description: "null: the agent's --isolation decides" }),
    maxActiveRuns: z.number().int().nullable(),
    overlap: OverlapSchema,
    pool: z.string().nullable(),
    taskPools: z.record(z.string(), z.string()).meta({ description: 'task name -> the pool it takes a slot of' }),
    retention: orNull(RetentionSchema),
    lastRun: orNull(FlowRunSchema),
    createdAt: Time,
    updatedAt: Time,
  })
  .meta({ id: 'Flow' })
export type Flow = z.infer<typeof FlowSchema>

export const FlowListSchema = z.object({ items: z.array(FlowSchema) }).meta({ id: 'FlowList' })
export type FlowList = z.infer<typeof FlowListSchema>

export const FlowRegistrationSchema = z
  .object({
    name: z.string().min(1).max(100).regex(/^[a-z0-9][a-z0-9_.-]*$/i, 'letters, digits, "-", "_" or "."'),
    description: z.string().max(10_000).default(''),
    version: z.string().min(1).max(200),
    entrypoint: z.string().min(1).max(2000),
    schedule: orNull(ScheduleSchema),
    parameters: z.array(ParameterSpecSchema).max(200),
    tasks: z.array(z.string().max(200)).max(1000),
    labels: z.array(z.string().max(100)).max(50).default([]),
    catchUp: CatchUpSchema,
    retries: z.number().int().min(0).max(100).default(0),
    retryDelaySeconds: z.number().int().min(0).max(86_400).default(10),
    isolation: orNull(IsolationSchema).default(null),
    maxActiveRuns: z.number().int().min(1).max(10_000).nullable().default(null),
    overlap: OverlapSchema.default('queue'),
    pool: PoolName.nullable().default(null),
    taskPools: z.record(z.string().max(200), PoolName).default({}),
    retention: orNull(RetentionSchema).default(null),
  })
  .meta({ id: 'FlowRegistration' })
export type FlowRegistration = z.output<typeof FlowRegistrationSchema>
export type FlowRegistrationInput = z.input<typeof FlowRegistrationSchema>

export const RegistrationResultSchema = z.object({ status: z.enum(['created', 'updated', 'unchanged']), flow: FlowSchema }).meta({ id: 'RegistrationResult' })
export type RegistrationResult = z.infer<typeof RegistrationResultSchema>

export const ScheduleSwitchSchema = z.object({ active: z.boolean() }).meta({ id: 'ScheduleSwitch' })
export type ScheduleSwitch = z.infer<typeof ScheduleSwitchSchema>

export const QuickRunSchema = z
  .object({
    parameters: z.record(z.string(), z.unknown()).optional(),
    scheduledStartTime: TimeInput.optional(),
    priority: z.number().int().min(-INT32_MAX).max(INT32_MAX).optional().meta({ description: 'higher first (default 0)' }),
  })
  .meta({ id: 'QuickRun' })
export type QuickRun = z.infer<typeof QuickRunSchema>

// --- flow runs -------------------------------------------------------------------------------

export const RunListQuerySchema = z.object({
  flow: z.string().max(2000).optional().meta({ description: 'one flow (name or id) or several separated by commas' }),
  state: z.string().max(200).optional().meta({ description: 'one state or several separated by commas' }),
  late: z.enum(['true', 'false']).optional(),
  q: z.string().max(200).optional().meta({ description: "runs whose name contains this text (case-insensitive), or the run with this id" }),
  when: z.enum(['past', 'upcoming']).optional().meta({ description: 'upcoming: scheduled runs not yet due; past: every other run' }),
  limit: z.coerce.number().int().min(1).max(500).default(50),
  cursor: z.string().max(200).optional(),
  before: TimeInput.optional(),
  after: TimeInput.optional(),
  order: z.enum(['asc', 'desc']).default('desc'),
  parent: z.uuid({ message: 'must be a run id (a UUID)' }).optional().meta({ description: "only the child runs of this run" }),
})
export type RunListQuery = z.input<typeof RunListQuerySchema>

export const RunPageSchema = z.object({ items: z.array(FlowRunSchema), nextCursor: z.string().nullable() }).meta({ id: 'RunPage' })
export type RunPage = z.infer<typeof RunPageSchema>

export const RunStatsQuerySchema = z.object({ hours: z.coerce.number().int().min(1).max(24 * 14).default(24) })

export const RunStatsSchema = z
  .object({ buckets: z.array(z.object({ start: Time, counts: z.record(z.string(), z.number()) })) })
  .meta({ id: 'RunStats' })
export type RunStats = z.infer<typeof RunStatsSchema>
export type StatsBucket = RunStats['buckets'][number]

export const BulkActionSchema = z
  .object({ action: z.enum(['cancel', 'retry']), ids: z.array(z.uuid({ message: 'must be a run id (a UUID)' })).min(1).max(500) })
  .meta({ id: 'BulkAction', description: 'cancel or retry several runs; each goes through the same policy as one' })
export type BulkAction = z.infer<typeof BulkActionSchema>

export const BulkResultSchema = z
  .object({
    items: z.array(z.object({ id: z.uuid(), ok: z.boolean(), run: orNull(FlowRunSchema).meta({ description: 'the run cancelled, or the new run of a retry' }), error: z.string().nullable() })),
  })
  .meta({ id: 'BulkResult' })
export type BulkResult = z.infer<typeof BulkResultSchema>

export const StateProposalSchema = z
  .object({
    state: StateSchema,
    message: z.string().max(MAX_MESSAGE).optional(),
    agentId: z.uuid().optional(),
    withExecution: z.boolean().optional().meta({ description: "a run proposing running: answer with its execution details when accepted (one request less than GET .../execution); needs the run's token, like GET .../execution" }),
    result: z.unknown().optional().meta({ description: "with success: what the flow function returned (JSON, at most 1 MiB), kept with the run" }),
  })
  .meta({ id: 'StateProposal' })
export type StateProposal = z.infer<typeof StateProposalSchema>

export const VerdictSchema = z
  .object({
    status: z.enum(['accept', 'reject', 'wait', 'abort']),
    state: StateSchema.optional(),
    reason: z.string().optional(),
    retryAfterMs: z.number().optional(),
    rule: z.string().optional(),
  })
  .meta({ id: 'Verdict' })
export type Verdict = z.infer<typeof VerdictSchema>

export const ExecutionSchema = z
  .object({
    run: FlowRunSchema,
    entrypoint: z.string(),
    flowName: z.string(),
    parameters: z.record(z.string(), z.unknown()),
    secretParameters: z.array(z.string()).meta({ description: 'names of the parameters whose values are secret (hidden in everything the run reports)' }),
    tasks: z.array(z.string()).default([]).meta({ description: "the flow's tasks (declared, or learned from its runs): those a run never reaches are recorded as skipped" }),
  })
  .meta({ id: 'Execution' })
export type Execution = z.infer<typeof ExecutionSchema>

export const StateResultSchema = z
  .object({ verdict: VerdictSchema, run: FlowRunSchema, execution: ExecutionSchema.optional().meta({ description: 'when asked (withExecution) and running was accepted' }) })
  .meta({ id: 'StateResult' })
export type StateResult = z.infer<typeof StateResultSchema>

export const StateHistorySchema = z
  .object({ items: z.array(z.object({ fromState: z.string().nullable(), toState: z.string(), message: z.string().nullable(), time: Time })) })
  .meta({ id: 'StateHistory' })
export type StateHistory = z.infer<typeof StateHistorySchema>

// --- task runs -------------------------------------------------------------------------------

export const TaskAttemptSchema = z
  .object({ attempt: z.number().int(), state: StateSchema, startTime: Time, endTime: Time.nullable(), message: z.string().nullable() })
  .meta({ id: 'TaskAttempt', description: 'one attempt of a task run: when it ran and how it ended (failed for an attempt that was retried)' })
export type TaskAttempt = z.infer<typeof TaskAttemptSchema>

export const TaskRunSchema = z
  .object({
    id: z.uuid(),
    flowRunId: z.uuid(),
    taskKey: z.string(),
    taskName: z.string(),
    position: z.number().int(),
    state: StateSchema,
    message: z.string().nullable(),
    attempts: z.number().int(),
    startTime: Time.nullable(),
    endTime: Time.nullable(),
    mapIndex: z.number().int().nullable().meta({ description: "the item's index when the task run is one of a map()" }),
    stack: z.string().nullable().meta({ description: "the stack of the error that failed (or is retrying) the task, source-mapped to the flow's TypeScript" }),
    inputs: z.array(z.uuid()).meta({ description: 'the task runs whose results this one was called with (data flow)' }),
    attemptLog: z.array(TaskAttemptSchema),
  })
  .meta({ id: 'TaskRun' })
export type TaskRun = z.infer<typeof TaskRunSchema>

export const TaskRunListSchema = z.object({ items: z.array(TaskRunSchema) }).meta({ id: 'TaskRunList' })
export type TaskRunList = z.infer<typeof TaskRunListSchema>

export const TaskEventSchema = z
  .object({
    taskRunId: z.uuid(),
    taskKey: z.string().min(1).max(300),
    taskName: z.string().min(1).max(200),
    position: z.number().int().min(0).max(INT32_MAX),
    state: StateSchema,
    message: z.string().max(MAX_MESSAGE).nullish(),
    stack: z.string().max(MAX_MESSAGE).nullish(),
    inputs: z.array(z.uuid()).max(1000).optional(),
    attempts: z.number().int().min(0).max(INT32_MAX),
    time: TimeInput,
    mapIndex: z.number().int().min(0).max(INT32_MAX).nullish(),
  })
  .meta({ id: 'TaskEvent' })
export type TaskEvent = z.infer<typeof TaskEventSchema>

export const TaskEventBatchSchema = z.object({ events: z.array(TaskEventSchema).max(5000) }).meta({ id: 'TaskEventBatch' })

export const TaskEventResultSchema = z
  .object({ applied: z.number(), rejected: z.array(z.object({ index: z.number(), reason: z.string() })) })
  .meta({ id: 'TaskEventResult' })
export type TaskEventResult = z.infer<typeof TaskEventResultSchema>

// --- logs ------------------------------------------------------------------------------------

export const LogSchema = z
  .object({
    id: z.number().int().meta({ description: 'increasing per server: the order of lines and the `after` cursor' }),
    flowRunId: z.uuid(),
    taskName: z.string().nullable(),
    time: Time,
    level: LogLevelSchema,
    message: z.string(),
  })
  .meta({ id: 'Log' })
export type LogLine = z.infer<typeof LogSchema>

export const LogListSchema = z.object({ items: z.array(LogSchema) }).meta({ id: 'LogList' })
export type LogList = z.infer<typeof LogListSchema>

export const LogQuerySchema = z.object({
  after: z.coerce.number().int().min(0).default(0),
  limit: z.coerce.number().int().min(1).max(5000).default(1000),
  level: z.string().max(100).optional().meta({ description: 'one level or several separated by commas' }),
  task: z.string().max(200).optional(),
})
export type LogQuery = z.input<typeof LogQuerySchema>

export const LogInputSchema = z
  .object({
    seq: z.number().int().min(0),
    time: TimeInput,
    level: LogLevelSchema,
    // Oversized lines are cut by the client; the server refuses anything still too large.
    message: z.string().max(MAX_MESSAGE),
    taskName: z.string().max(200).nullish(),
  })
  .meta({ id: 'LogInput' })
export type LogInput = z.infer<typeof LogInputSchema>

export const LogBatchSchema = z
  .object({ source: z.string().max(200).default(''), logs: z.array(LogInputSchema).max(10_000) })
  .meta({ id: 'LogBatch', description: '(source, seq) makes a resent batch harmless' })
export type LogBatchInput = z.input<typeof LogBatchSchema>

export const LogBatchResultSchema = z.object({ inserted: z.number() }).meta({ id: 'LogBatchResult' })
export type LogBatchResult = z.infer<typeof LogBatchResultSchema>

// --- artifacts -------------------------------------------------------------------------------

export const ArtifactKindSchema = z.enum(ARTIFACT_KINDS).meta({ id: 'ArtifactKind' })

/** The data of each kind of artifact. */
export const ArtifactDataSchemas = {
  link: z.object({ url: z.string().min(1).max(4000), text: z.string().max(1000).optional() }),
  table: z.object({ columns: z.array(z.string().max(200)).max(200), rows: z.array(z.record(z.string(), z.unknown())).max(10_000) }),
  files: z.array(z.string().min(1).max(4000)).max(10_000),
  markdown: z.string().max(1024 * 1024),
  json: z.unknown(),
} as const

const artifactFields = {
  id: z.number().int(),
  key: z.string(),
  taskName: z.string().nullable(),
  description: z.string().nullable(),
  createdAt: Time,
}

export const ArtifactSchema = z
  .discriminatedUnion('kind', [
    z.object({ ...artifactFields, kind: z.literal('link'), data: ArtifactDataSchemas.link }),
    z.object({ ...artifactFields, kind: z.literal('table'), data: ArtifactDataSchemas.table }),
    z.object({ ...artifactFields, kind: z.literal('files'), data: ArtifactDataSchemas.files }),
    z.object({ ...artifactFields, kind: z.literal('markdown'), data: ArtifactDataSchemas.markdown }),
    z.object({ ...artifactFields, kind: z.literal('json'), data: ArtifactDataSchemas.json }),
  ])
  .meta({ id: 'Artifact' })
export type Artifact = z.infer<typeof ArtifactSchema>

export const ArtifactListSchema = z.object({ items: z.array(ArtifactSchema) }).meta({ id: 'ArtifactList' })
export type ArtifactList = z.infer<typeof ArtifactListSchema>

/** What a run process posts; `kind` defaults to json (the plain `artifact(key, data)`). */
export const ArtifactInputSchema = z
  .object({
    key: z.string().min(1).max(200),
    kind: ArtifactKindSchema.default('json'),
    data: z.unknown(),
    description: z.string().max(10_000).nullish(),
    taskName: z.string().max(200).nullish(),
  })
  .superRefine((a, ctx) => {
    const checked = ArtifactDataSchemas[a.kind].safeParse(a.data)
    if (!checked.success) {
      for (const issue of checked.error.issues) ctx.addIssue({ code: 'custom', message: `${a.kind} artifact: ${issue.message}`, path: ['data', ...issue.path] })
    }
  })
  .meta({ id: 'ArtifactInput' })
export type ArtifactInput = z.input<typeof ArtifactInputSchema>

// --- agents ----------------------------------------------------------------------------------

export const AgentSchema = z
  .object({
    id: z.uuid(),
    name: z.string(),
    type: z.enum(['local', 'docker']),
    labels: z.array(z.string()),
    concurrency: z.number().int(),
    startedAt: Time,
    lastHeartbeat: Time,
    status: z.enum(['active', 'unhealthy', 'offline']),
  })
  .meta({ id: 'Agent' })
export type Agent = z.infer<typeof AgentSchema>

export const AgentListSchema = z.object({ items: z.array(AgentSchema) }).meta({ id: 'AgentList' })
export type AgentList = z.infer<typeof AgentListSchema>

export const AgentRegistrationSchema = z
  .object({
    name: z.string().min(1).max(200),
    type: z.enum(['local', 'docker']),
    labels: z.array(z.string().min(1).max(100)).max(50).default([]),
    concurrency: z.number().int().min(1).max(1000).default(4),
  })
  .meta({ id: 'AgentRegistration' })
export type AgentRegistration = z.input<typeof AgentRegistrationSchema>

export const ClaimedRunSchema = z
  .object({
    id: z.uuid(),
    name: z.string(),
    flowName: z.string(),
    entrypoint: z.string(),
    scheduledStartTime: Time,
    flowVersion: z.string().meta({ description: 'the version of the flow the run executes: a shared worker loads each version of a module once' }),
    isolation: orNull(IsolationSchema).meta({ description: "the flow's choice; null: the agent's --isolation decides" }),
    token: z.string().meta({ description: "the run's token, for its process (ROTA_RUN_TOKEN) and for the agent's own calls for the run; issued anew each time the run is handed over" }),
  })
  .meta({ id: 'ClaimedRun' })
export type ClaimedRunBody = z.infer<typeof ClaimedRunSchema>

export const PollSchema = z
  .object({
    slots: z.number().int().min(0).max(1000),
    runIds: z.array(z.uuid()).max(1000).default([]),
    waitMs: z.number().int().min(0).max(30_000).default(5_000),
    prefetchMs: z.number().int().min(0).max(60_000).default(5_000),
  })
  .meta({ id: 'Poll' })
export type PollInput = z.input<typeof PollSchema>

export const PollResultSchema = z
  .object({
    runs: z.array(ClaimedRunSchema),
    cancel: z.array(z.uuid()).meta({ description: 'held runs being cancelled: stop them' }),
    lost: z.array(z.uuid()).meta({ description: 'held runs that already ended on the server (for example crashed while this agent was unreachable): stop them' }),
  })
  .meta({ id: 'PollResult' })
export type PollResult = z.infer<typeof PollResultSchema>

export const OkSchema = z.object({ ok: z.boolean() }).meta({ id: 'Ok' })
export type Ok = z.infer<typeof OkSchema>

// --- flow control: pools, backfills, child runs, results (issue 12) -----------------------------

export const PoolParam = z.object({ name: PoolName.meta({ param: { name: 'name', in: 'path' } }) })

/** Who holds a slot of a pool: a whole flow run (its flow's pool) or one task run. */
export const PoolHolderSchema = z
  .object({
    flowRunId: z.uuid(),
    flowRunName: z.string(),
    flowName: z.string(),
    taskName: z.string().nullable().meta({ description: 'null: the whole run holds the slot (defineFlow({ pool }))' }),
    since: Time.nullable(),
  })
  .meta({ id: 'PoolHolder' })
export type PoolHolder = z.infer<typeof PoolHolderSchema>

export const PoolSchema = z
  .object({
    name: z.string(),
    slots: z.number().int(),
    held: z.number().int(),
    holders: z.array(PoolHolderSchema),
    waiting: z.array(PoolHolderSchema).meta({ description: 'task runs asking for a slot, and due runs of flows using the pool that wait to be claimed' }),
    createdAt: Time,
    updatedAt: Time,
  })
  .meta({ id: 'Pool' })
export type Pool = z.infer<typeof PoolSchema>

export const PoolListSchema = z.object({ items: z.array(PoolSchema) }).meta({ id: 'PoolList' })
export type PoolList = z.infer<typeof PoolListSchema>

export const PoolUpdateSchema = z.object({ slots: z.number().int().min(0).max(10_000).meta({ description: '0 closes the pool: nothing new takes a slot' }) }).meta({ id: 'PoolUpdate' })
export type PoolUpdate = z.infer<typeof PoolUpdateSchema>

/** A task of a run asks for a slot; the answer comes when it holds one or after waitMs (long-poll). */
export const PoolSlotRequestSchema = z
  .object({
    pool: PoolName,
    taskRunId: z.uuid(),
    taskKey: z.string().min(1).max(300),
    taskName: z.string().min(1).max(200),
    waitMs: z.number().int().min(0).max(30_000).default(20_000),
    told: z.string().max(MAX_MESSAGE).optional().meta({ description: 'the waiting message the task already has: the answer comes when the slot is held or the message changes' }),
  })
  .meta({ id: 'PoolSlotRequest' })
export type PoolSlotRequest = z.input<typeof PoolSlotRequestSchema>

export const PoolSlotResultSchema = z
  .object({
    status: z.enum(['held', 'waiting']),
    slotId: z.number().int().nullable().meta({ description: 'release it when done; null when the run already holds a slot of this pool for itself' }),
    pool: z.string(),
    message: z.string().meta({ example: 'waiting for a slot in pool warehouse (2/2 held by run calm-otter, task dbt of run brave-fox)' }),
  })
  .meta({ id: 'PoolSlotResult' })
export type PoolSlotResult = z.infer<typeof PoolSlotResultSchema>

export const SlotParam = z.object({
  id: z.uuid({ message: 'must be a run id (a UUID)' }).meta({ param: { name: 'id', in: 'path' } }),
  slotId: z.coerce.number().int().min(1).max(Number.MAX_SAFE_INTEGER).meta({ param: { name: 'slotId', in: 'path' } }),
})

export const BackfillRequestSchema = z
  .object({
    from: TimeInput,
    to: TimeInput,
    missingOnly: z.boolean().default(false).meta({ description: 'only schedule times with no run at all; by default also times whose runs all failed, crashed, were cancelled or skipped' }),
    maxActive: z.number().int().min(1).max(10_000).nullable().default(null).meta({ description: "at most this many of the backfill's runs active at once" }),
    priority: z.number().int().min(-INT32_MAX).max(INT32_MAX).default(0),
    parameters: z.record(z.string(), z.unknown()).default({}),
  })
  .meta({ id: 'BackfillRequest' })
export type BackfillRequest = z.input<typeof BackfillRequestSchema>

export const BackfillSchema = z
  .object({
    id: z.uuid(),
    flowName: z.string(),
    from: Time,
    to: Time,
    missingOnly: z.boolean(),
    maxActive: z.number().int().nullable(),
    times: z.number().int().meta({ description: 'schedule times in the range (inclusive)' }),
    created: z.number().int().meta({ description: 'runs created' }),
    existing: z.number().int().meta({ description: 'times left alone: they have a run (missingOnly), or a successful or unfinished one' }),
    runIds: z.array(z.uuid()),
    createdAt: Time,
  })
  .meta({ id: 'Backfill' })
export type Backfill = z.infer<typeof BackfillSchema>

/** A flow's body calls another flow: its child run, created and started inside the parent's process. */
export const ChildRunRequestSchema = z
  .object({
    id: z.uuid().meta({ description: 'chosen by the caller: a resent request finds the run it created' }),
    flow: z.string().min(1).max(200),
    parameters: z.record(z.string(), z.unknown()).default({}),
  })
  .meta({ id: 'ChildRunRequest' })
export type ChildRunRequest = z.input<typeof ChildRunRequestSchema>

/** What the parent's process needs to execute its child run, with the child's own run token (its reports need it). */
export const ChildExecutionSchema = ExecutionSchema.extend({
  token: z.string().meta({ description: "the child run's token, for the reports the parent's process makes for it; issued anew on each (resent) request" }),
}).meta({ id: 'ChildExecution' })
export type ChildExecution = z.infer<typeof ChildExecutionSchema>

export const RunWaitQuerySchema = z.object({
  whileState: StateSchema.meta({ description: 'answer as soon as the run is in another state' }),
  waitMs: z.coerce.number().int().min(0).max(30_000).default(20_000),
})

export const RunResultSchema = z
  .object({ state: StateSchema, result: z.unknown().meta({ description: 'what the flow function returned (JSON); null when it returned nothing or the run did not succeed' }) })
  .meta({ id: 'RunResult' })
export type RunResult = z.infer<typeof RunResultSchema>

// --- server-sent events (GET /api/events) ----------------------------------------------------

/**
 * The data of each event of the stream. On one server an event carries the whole object; when it
 * crossed from another replica without its body it is a notice to refetch (`refresh: true`).
 */
export interface EventData {
  ready: { flowRunId: string | null }
  'flow-run': FlowRun
  'task-run': TaskRun | { flowRunId: string; refresh: true; items: TaskRun[] }
  log: LogLine | { flowRunId: string; refresh: true }
  agent: { agentId: string }
  pool: { pool: string }
  /** Runs deleted without ending (a paused schedule's upcoming runs); no ids: refetch the lists. */
  'runs-removed': { flowId: string; ids: string[] }
  ping: Record<string, never>
}

// --- automations -----------------------------------------------------------------------------

/** A flow named by an automation (it must be registered when the automation is saved). */
const FlowRef = z.string().min(1).max(100)
const Seconds = z.number().int().min(1).max(MAX_DURATION_SECONDS)

export const AutomationTriggerSchema = z
  .discriminatedUnion('type', [
    z.object({
      type: z.literal('flow-run-state'),
      flow: FlowRef.optional().meta({ description: 'absent: runs of any flow' }),
      states: z.array(StateSchema).min(1).max(10),
    }),
    z.object({ type: z.literal('late'), flow: FlowRef.optional(), forSeconds: Seconds.meta({ description: 'a run still not started this long after its scheduled time' }) }),
    z.object({
      type: z.literal('no-success'),
      flow: FlowRef,
      withinSeconds: Seconds.meta({ description: 'fires once when the flow has had no successful run for this long, and once more when it recovers' }),
    }),
    z.object({ type: z.literal('consecutive-failures'), flow: FlowRef.optional(), count: z.number().int().min(1).max(1000) }),
  ])
  .meta({ id: 'AutomationTrigger' })
export type AutomationTrigger = z.infer<typeof AutomationTriggerSchema>

/** An HTTP header name (RFC 9110 token). */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}$/
/** A header value: printable ASCII (no line breaks, which would start another header). */
const HeaderValue = z.string().max(4000).regex(/^[\t\x20-\x7e]*$/, 'header values are printable ASCII on one line')

/** True for an absolute http: or https: URL with a host. */
export function isHttpUrl(raw: string): boolean {
  try {
    const url = new URL(raw)
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.hostname !== ''
  } catch {
    return false
  }
}

export const AutomationActionSchema = z
  .discriminatedUnion('type', [
    z.object({
      type: z.literal('webhook'),
      url: z.string().max(2000).refine(isHttpUrl, 'must be an http(s) URL, like https://hooks.slack.com/services/...').meta({ format: 'uri' }),
      headers: z
        .record(z.string(), HeaderValue)
        .refine((h) => Object.keys(h).every((k) => HEADER_NAME.test(k)), "header names are 1 to 100 letters, digits and !#$%&'*+.^_`|~-")
        .refine((h) => Object.keys(h).length <= 20, 'at most 20 headers')
        .optional()
        .meta({ description: 'sent with each delivery; their values are never shown again (answers show "********")' }),
    }),
    z.object({ type: z.literal('pause-schedule'), flow: FlowRef.optional().meta({ description: "absent: the flow of the run that fired (or the trigger's flow)" }) }),
    z.object({ type: z.literal('run-flow'), flow: FlowRef, parameters: z.record(z.string(), z.unknown()).optional() }),
  ])
  .meta({ id: 'AutomationAction' })
export type AutomationAction = z.infer<typeof AutomationActionSchema>

const AutomationName = z
  .string()
  .trim()
  .min(1)
  .max(100)
  .regex(/^[^\x00-\x1f\x7f]+$/, 'a name on one line, without control characters')
/** At most one firing per this many seconds per automation; the rest are recorded as throttled. */
const MinGap = z.number().int().min(0).max(7 * 86_400)

export const AutomationInputSchema = z
  .object({
    name: AutomationName,
    trigger: AutomationTriggerSchema,
    action: AutomationActionSchema,
    enabled: z.boolean().default(true),
    minGapSeconds: MinGap.default(60).meta({ description: 'at most one delivery per this many seconds (recoveries excepted); firings in between are recorded as throttled' }),
  })
  .meta({ id: 'AutomationInput' })
export type AutomationInput = z.input<typeof AutomationInputSchema>

export const AutomationPatchSchema = z
  .object({
    name: AutomationName.optional(),
    trigger: AutomationTriggerSchema.optional(),
    action: AutomationActionSchema.optional().meta({ description: 'header values sent back as "********" keep the stored ones' }),
    enabled: z.boolean().optional(),
    minGapSeconds: MinGap.optional(),
  })
  .meta({ id: 'AutomationPatch' })
export type AutomationPatch = z.infer<typeof AutomationPatchSchema>

export const FIRING_KINDS = ['flow-run-state', 'late', 'no-success', 'recovery', 'consecutive-failures'] as const
export const FIRING_STATUSES = ['pending', 'delivered', 'failed', 'throttled'] as const

export const FiringSchema = z
  .object({
    id: z.number().int(),
    automationId: z.uuid(),
    kind: z.enum(FIRING_KINDS),
    flowName: z.string().nullable(),
    flowRunId: z.uuid().nullable(),
    flowRunName: z.string().nullable(),
    state: z.string().nullable(),
    message: z.string(),
    status: z.enum(FIRING_STATUSES).meta({ description: 'pending: being delivered (or retried); throttled: not delivered, within the minimum gap' }),
    attempts: z.number().int(),
    statusCode: z.number().int().nullable().meta({ description: "the webhook's last HTTP status" }),
    error: z.string().nullable(),
    createdAt: Time,
    finishedAt: Time.nullable(),
  })
  .meta({ id: 'Firing' })
export type Firing = z.infer<typeof FiringSchema>

export const FiringListSchema = z.object({ items: z.array(FiringSchema) }).meta({ id: 'FiringList' })
export type FiringList = z.infer<typeof FiringListSchema>

export const AutomationSchema = z
  .object({
    id: z.uuid(),
    name: z.string(),
    enabled: z.boolean(),
    trigger: AutomationTriggerSchema,
    action: AutomationActionSchema.meta({ description: 'header values are "********"; a webhook URL shows its host and first path segment only' }),
    minGapSeconds: z.number().int(),
    lastFiring: orNull(FiringSchema),
    createdAt: Time,
    updatedAt: Time,
  })
  .meta({ id: 'Automation' })
export type Automation = z.infer<typeof AutomationSchema>

export const AutomationListSchema = z.object({ items: z.array(AutomationSchema) }).meta({ id: 'AutomationList' })
export type AutomationList = z.infer<typeof AutomationListSchema>

export const AutomationParam = z.object({ idOrName: z.string().min(1).max(200).meta({ param: { name: 'idOrName', in: 'path' } }) })
export const FiringQuerySchema = z.object({ limit: z.coerce.number().int().min(1).max(500).default(50) })
