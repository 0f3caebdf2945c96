/** Flow runs: list, read, cancel, retry, states, and what their processes report (task states, logs, artifacts). */
import { createRoute, OpenAPIHono } from '@hono/zod-openapi'
import type { ServerContext } from './context.ts'
import { body, errors, json } from './openapi.ts'
import { HttpError } from './errors.ts'
import { presentArtifact, presentExecution, presentHistory, presentLog, presentRun, presentStats, presentTaskRun, presentVerdict } from './presenter.ts'
import {
  BulkActionSchema,
  BulkResultSchema,
  type BulkResult,
  ArtifactInputSchema,
  ArtifactListSchema,
  ArtifactSchema,
  ErrorSchema,
  ExecutionSchema,
  type FlowRun,
  FlowRunSchema,
  IdParam,
  LogBatchResultSchema,
  LogBatchSchema,
  LogListSchema,
  LogQuerySchema,
  RunListQuerySchema,
  RunPageSchema,
  RunStatsQuerySchema,
  RunStatsSchema,
  RunTokenHeaders,
  StateHistorySchema,
  StateProposalSchema,
  StateResultSchema,
  TaskEventBatchSchema,
  TaskEventResultSchema,
  TaskRunListSchema,
} from '../../core/contract.ts'
import { STATES, type State } from '../../core/states.ts'
import { MAX_RESULT_BYTES } from '../../core/flow-control.ts'
import { NotFoundError, retryFlowRun, setFlowRunState } from '../orchestration/transition.ts'
import { appendLogs, keepArtifact, reportTaskEvents } from '../reports.ts'
import { requireRunToken } from './middleware/run-token.ts'
import { RUN_TOKEN_HEADER } from '../../core/auth.ts'
import { decodeCursor, getExecution, getFlowRun, listFlowRuns, listStateHistory, runStats, type FlowRunRow } from '../store/runs.ts'
import { listTaskRuns } from '../store/task-runs.ts'
import { listLogs } from '../store/logs.ts'
import { listArtifacts } from '../store/artifacts.ts'
import { getFlows } from '../store/flows.ts'
import { activeAgentCapacity } from '../store/agents.ts'
import { lateReason } from '../orchestration/late.ts'
import type { Queryable } from '../db/index.ts'

/** Runs as the API shows them; a late run says why it waits (the active agents are read once, and only if some run is late). */
export async function presentRuns(db: Queryable, rows: readonly FlowRunRow[], view: 'detail' | 'list' = 'list'): Promise<FlowRun[]> {
  const agents = rows.some((r) => r.late) ? await activeAgentCapacity(db) : []
  return rows.map((r) => presentRun(r, view, lateReason(r, { agents })))
}

/** Runs a bulk retry may bring back: the ones that did not succeed. */
const RETRYABLE: ReadonlySet<string> = new Set(['failed', 'crashed', 'cancelled'])

const LOG_LEVELS = ['debug', 'info', 'warn', 'error']
/** Answers of the routes that act for a run (its token is checked). */
const runTokenErrors = { 401: json(ErrorSchema, 'No run token'), 403: json(ErrorSchema, 'Not the run token of this run') }

/** A flow's return value as stored: JSON up to MAX_RESULT_BYTES; a larger one is not kept (the run process says so in its logs). */
function resultJson(result: unknown): string | undefined {
  if (result === undefined) return undefined
  const text = JSON.stringify(result)
  return Buffer.byteLength(text) <= MAX_RESULT_BYTES ? text : undefined
}

export function runRoutes(ctx: ServerContext, hook: ConstructorParameters<typeof OpenAPIHono>[0]) {
  const app = new OpenAPIHono(hook)
  const { db, bus } = ctx

  async function mustGetRun(id: string): Promise<FlowRunRow> {
    const run = await getFlowRun(db, id)
    if (!run) throw new HttpError(404, `flow run ${id} does not exist`)
    return run
  }

  app.openapi(
    createRoute({
      method: 'get',
      path: '/flow-runs',
      tags: ['flow runs'],
      summary: 'Runs, newest scheduled time first, with keyset paging (pass nextCursor as cursor)',
      request: { query: RunListQuerySchema },
      responses: { 200: json(RunPageSchema, 'A page of runs'), ...errors },
    }),
    async (c) => {
      const q = c.req.valid('query')
      let flowIds: string[] | undefined
      if (q.flow) {
        const names = [...new Set(q.flow.split(',').map((f) => f.trim()).filter(Boolean))]
        const { found, missing } = await getFlows(db, names)
        if (missing.length) throw new HttpError(404, `flow "${missing[0]}" does not exist; \`rota flows\` lists the registered flows`)
        flowIds = found.map((f) => f.id)
      }
      const states = q.state ? q.state.split(',').map((s) => s.trim()) : undefined
      const bad = states?.find((s) => !(STATES as readonly string[]).includes(s))
      if (bad !== undefined) throw new HttpError(400, `unknown state "${bad}"; states are: ${STATES.join(', ')}`)
      const cursor = q.cursor ? decodeCursor(q.cursor) : undefined
      if (q.cursor && !cursor) throw new HttpError(400, 'cursor is not one this API returned; pass nextCursor from the previous page')
      const page = await listFlowRuns(db, {
        flowIds,
        states: states as State[] | undefined,
        late: q.late === undefined ? undefined : q.late === 'true',
        search: q.q?.trim() || undefined,
        when: q.when,
        limit: q.limit,
        cursor,
        before: q.before ? new Date(q.before) : undefined,
        after: q.after ? new Date(q.after) : undefined,
        order: q.order,
        parentRunId: q.parent,
      })
      return c.json({ items: await presentRuns(db, page.items), nextCursor: page.nextCursor }, 200)
    },
  )

  app.openapi(
    createRoute({
      method: 'get',
      path: '/flow-runs/stats',
      tags: ['flow runs'],
      summary: 'Runs per state in hourly buckets',
      request: { query: RunStatsQuerySchema },
      responses: { 200: json(RunStatsSchema, 'Buckets'), ...errors },
    }),
    async (c) => c.json(presentStats(await runStats(db, c.req.valid('query').hours)), 200),
  )

  app.openapi(
    createRoute({ method: 'get', path: '/flow-runs/{id}', tags: ['flow runs'], request: { params: IdParam }, responses: { 200: json(FlowRunSchema, 'A run'), ...errors } }),
    async (c) => c.json((await presentRuns(db, [await mustGetRun(c.req.valid('param').id)], 'detail'))[0] as FlowRun, 200),
  )

  app.openapi(
    createRoute({
      method: 'post',
      path: '/flow-runs/bulk',
      tags: ['flow runs'],
      summary: 'Cancel or retry several runs; each is decided by the policy like one, and answered one by one',
      request: { body: body(BulkActionSchema) },
      responses: { 200: json(BulkResultSchema, 'One result per run, in order'), ...errors },
    }),
    async (c) => {
      const { action, ids } = c.req.valid('json')
      const items: BulkResult['items'] = []
      for (const id of [...new Set(ids)]) {
        try {
          if (action === 'cancel') {
            const { verdict, run } = await setFlowRunState(db, bus, id, { state: 'cancelling', message: 'cancel requested', by: { kind: 'user' } })
            items.push(verdict.status === 'accept' ? { id, ok: true, run: presentRun(run), error: null } : { id, ok: false, run: null, error: `cannot cancel: ${verdict.reason}` })
          } else {
            const run = await getFlowRun(db, id)
            if (!run) items.push({ id, ok: false, run: null, error: `flow run ${id} does not exist` })
            else if (!RETRYABLE.has(run.state)) items.push({ id, ok: false, run: null, error: `run ${run.name} is ${run.state}; only failed, crashed or cancelled runs are retried` })
            else items.push({ id, ok: true, run: presentRun(await retryFlowRun(db, bus, id)), error: null })
          }
        } catch (err) {
          if (!(err instanceof NotFoundError)) throw err
          items.push({ id, ok: false, run: null, error: err.message })
        }
      }
      return c.json({ items }, 200)
    },
  )

  app.openapi(
    createRoute({
      method: 'post',
      path: '/flow-runs/{id}/cancel',
      tags: ['flow runs'],
      summary: 'Cancel a scheduled or running run (its agent stops the process)',
      request: { params: IdParam },
      responses: { 200: json(FlowRunSchema, 'The run'), 409: json(ErrorSchema, 'Already finished'), ...errors },
    }),
    async (c) => {
      const { verdict, run } = await setFlowRunState(db, bus, c.req.valid('param').id, { state: 'cancelling', message: 'cancel requested', by: { kind: 'user' } })
      if (verdict.status !== 'accept') throw new HttpError(409, `cannot cancel: ${verdict.reason}`)
      return c.json(presentRun(run), 200)
    },
  )

  app.openapi(
    createRoute({
      method: 'post',
      path: '/flow-runs/{id}/retry',
      tags: ['flow runs'],
      summary: 'Run a finished run again, as a new run with the same parameters',
      request: { params: IdParam },
      responses: { 201: json(FlowRunSchema, 'The new run'), ...errors },
    }),
    async (c) => c.json(presentRun(await retryFlowRun(db, bus, c.req.valid('param').id)), 201),
  )

  app.openapi(
    createRoute({
      method: 'post',
      path: '/flow-runs/{id}/state',
      tags: ['flow runs'],
      summary: "Propose a state (the run's process and its agent, with the run token); answers with the orchestration verdict",
      request: { params: IdParam, headers: RunTokenHeaders, body: body(StateProposalSchema) },
      responses: { 200: json(StateResultSchema, 'Verdict'), ...errors, ...runTokenErrors },
    }),
    async (c) => {
      const p = c.req.valid('json')
      const id = c.req.valid('param').id
      // The token is checked before anything else: the execution details a starting run may ask for
      // (withExecution) carry its secrets, exactly as GET .../execution does.
      const secrets = await requireRunToken(db, id, c.req.valid('header')[RUN_TOKEN_HEADER])
      // The result is kept with the run and read back by its parent and the API: secrets hidden like in the logs.
      const { verdict, run } = await setFlowRunState(
        db,
        bus,
        id,
        { state: p.state, message: p.message === undefined ? undefined : secrets.text(p.message), by: p.agentId ? { kind: 'agent', agentId: p.agentId } : { kind: 'child' } },
        { resultJson: resultJson(p.result === undefined ? undefined : secrets.value(p.result)) },
      )
      // A run starting asks for what it executes with the same request (the row a written state returns carries the flow's tasks).
      const execution =
        p.withExecution && verdict.status === 'accept' && run.state === 'running' && 'flowTasks' in run ? presentExecution(run, run.entrypoint, run.specs, run.overrides, run.flowTasks) : undefined
      return c.json({ verdict: presentVerdict(verdict), run: presentRun(run), ...(execution ? { execution } : {}) }, 200)
    },
  )

  app.openapi(
    createRoute({
      method: 'get',
      path: '/flow-runs/{id}/execution',
      tags: ['internal'],
      summary: "What a flow's process needs to execute the run: entrypoint and effective parameters (secrets included); only with the run's token",
      request: { params: IdParam, headers: RunTokenHeaders },
      responses: { 200: json(ExecutionSchema, 'Execution details'), ...errors, ...runTokenErrors },
    }),
    async (c) => {
      const id = c.req.valid('param').id
      await requireRunToken(db, id, c.req.valid('header')[RUN_TOKEN_HEADER])
      const run = await getExecution(db, id)
      if (!run) throw new HttpError(404, `flow run ${id} does not exist`)
      return c.json(presentExecution(run, run.entrypoint, run.specs, run.overrides, run.flowTasks), 200)
    },
  )

  app.openapi(
    createRoute({
      method: 'get',
      path: '/flow-runs/{id}/task-runs',
      tags: ['flow runs'],
      request: { params: IdParam },
      responses: { 200: json(TaskRunListSchema, 'Task runs in flow order'), ...errors },
    }),
    async (c) => {
      const run = await mustGetRun(c.req.valid('param').id)
      return c.json({ items: (await listTaskRuns(db, run.id)).map(presentTaskRun) }, 200)
    },
  )

  app.openapi(
    createRoute({
      method: 'post',
      path: '/flow-runs/{id}/task-runs',
      tags: ['internal'],
      summary: "A batch of task-run state events from the flow's process, applied in order (with the run token)",
      request: { params: IdParam, headers: RunTokenHeaders, body: body(TaskEventBatchSchema) },
      responses: { 200: json(TaskEventResultSchema, 'Result'), ...errors, ...runTokenErrors },
    }),
    async (c) => {
      const { events } = c.req.valid('json')
      const id = c.req.valid('param').id
      const secrets = await requireRunToken(db, id, c.req.valid('header')[RUN_TOKEN_HEADER])
      return c.json(await reportTaskEvents(db, bus, id, events.map((e) => ({ ...e, time: new Date(e.time) })), secrets), 200)
    },
  )

  app.openapi(
    createRoute({
      method: 'get',
      path: '/flow-runs/{id}/logs',
      tags: ['flow runs'],
      summary: 'Logs in order; poll with after=<last id> or stream them from /api/events',
      request: { params: IdParam, query: LogQuerySchema },
      responses: { 200: json(LogListSchema, 'Logs'), ...errors },
    }),
    async (c) => {
      const run = await mustGetRun(c.req.valid('param').id)
      const q = c.req.valid('query')
      const levels = q.level?.split(',').map((l) => l.trim())
      const bad = levels?.find((l) => !LOG_LEVELS.includes(l))
      if (bad !== undefined) throw new HttpError(400, `unknown log level "${bad}"; levels are debug, info, warn, error`)
      const items = await listLogs(db, run.id, { afterId: q.after, limit: q.limit, levels, taskName: q.task })
      return c.json({ items: items.map(presentLog) }, 200)
    },
  )

  app.openapi(
    createRoute({
      method: 'post',
      path: '/flow-runs/{id}/logs',
      tags: ['internal'],
      summary: 'A batch of log lines (with the run token); (source, seq) makes a resent batch harmless',
      request: { params: IdParam, headers: RunTokenHeaders, body: body(LogBatchSchema) },
      responses: { 200: json(LogBatchResultSchema, 'Stored'), ...errors, ...runTokenErrors },
    }),
    async (c) => {
      const { source, logs } = c.req.valid('json')
      const id = c.req.valid('param').id
      const secrets = await requireRunToken(db, id, c.req.valid('header')[RUN_TOKEN_HEADER])
      const rows = await appendLogs(db, bus, id, source, logs.map((l) => ({ ...l, time: new Date(l.time) })), secrets)
      return c.json({ inserted: rows.length }, 200)
    },
  )

  app.openapi(
    createRoute({
      method: 'get',
      path: '/flow-runs/{id}/artifacts',
      tags: ['flow runs'],
      summary: 'What the run produced (artifact() in flows), each with its kind',
      request: { params: IdParam },
      responses: { 200: json(ArtifactListSchema, 'Artifacts'), ...errors },
    }),
    async (c) => {
      const run = await mustGetRun(c.req.valid('param').id)
      return c.json({ items: (await listArtifacts(db, run.id)).map(presentArtifact) }, 200)
    },
  )

  app.openapi(
    createRoute({
      method: 'post',
      path: '/flow-runs/{id}/artifacts',
      tags: ['internal'],
      summary: 'Something the run produced (with the run token)',
      request: { params: IdParam, headers: RunTokenHeaders, body: body(ArtifactInputSchema) },
      responses: { 201: json(ArtifactSchema, 'Stored'), ...errors, ...runTokenErrors },
    }),
    async (c) => {
      const id = c.req.valid('param').id
      const secrets = await requireRunToken(db, id, c.req.valid('header')[RUN_TOKEN_HEADER])
      return c.json(presentArtifact(await keepArtifact(db, id, c.req.valid('json'), secrets)), 201)
    },
  )

  app.openapi(
    createRoute({
      method: 'get',
      path: '/flow-runs/{id}/states',
      tags: ['flow runs'],
      summary: "The run's state history",
      request: { params: IdParam },
      responses: { 200: json(StateHistorySchema, 'History'), ...errors },
    }),
    async (c) => {
      const run = await mustGetRun(c.req.valid('param').id)
      return c.json(presentHistory(await listStateHistory(db, run.id)), 200)
    },
  )

  return app
}
