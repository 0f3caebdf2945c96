import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi'
import type { ServerContext } from './context.ts'
import {
  ArtifactSchema,
  errors,
  IdParam,
  json,
  LogInputSchema,
  LogSchema,
  FlowRunSchema,
  StateSchema,
  TaskEventSchema,
  TaskRunSchema,
  TimeInput,
  toBody,
  VerdictSchema,
} from './schemas.ts'
import { HttpError } from './errors.ts'
import { STATES, type State } from '../orchestration/states.ts'
import { applyTaskEvents, setFlowRunState } from '../orchestration/transition.ts'
import {
  decodeCursor,
  getFlowRun,
  insertArtifact,
  insertFlowRun,
  insertLogs,
  listArtifacts,
  listFlowRuns,
  listLogs,
  listTaskRuns,
  runStats,
  type FlowRunRow,
} from '../store/runs.ts'
import { getFlow } from '../store/flows.ts'
import { resolveParameters } from '../../sdk/parameters.ts'
import { runName } from '../names.ts'

const ProposalSchema = z.object({
  state: StateSchema,
  message: z.string().max(64 * 1024).optional(),
  agentId: z.uuid().optional(),
})

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
      request: {
        query: z.object({
          flow: z.string().max(200).optional(),
          state: z.string().max(200).optional().openapi({ description: 'one state or several separated by commas' }),
          late: z.enum(['true', 'false']).optional(),
          limit: z.coerce.number().int().min(1).max(500).default(50),
          cursor: z.string().max(200).optional(),
          before: TimeInput.optional(),
          after: TimeInput.optional(),
          order: z.enum(['asc', 'desc']).default('desc'),
        }),
      },
      responses: { 200: json(z.object({ items: z.array(FlowRunSchema), nextCursor: z.string().nullable() }), 'A page of runs'), ...errors },
    }),
    async (c) => {
      const q = c.req.valid('query')
      let flowId: string | undefined
      if (q.flow) {
        const flow = await getFlow(db, q.flow)
        if (!flow) throw new HttpError(404, `flow "${q.flow}" does not exist`)
        flowId = flow.id
      }
      const states = q.state ? q.state.split(',').map((s) => s.trim()) : undefined
      const bad = states?.find((s) => !(STATES as readonly string[]).includes(s))
      if (bad !== undefined) throw new HttpError(400, `unknown state "${bad}"; states are: ${STATES.join(', ')}`)
      const cursor = q.cursor ? decodeCursor(q.cursor) : undefined
      if (q.cursor && !cursor) throw new HttpError(400, 'cursor is not one this API returned; pass nextCursor from the previous page')
      const page = await listFlowRuns(db, {
        flowId,
        states: states as State[] | undefined,
        late: q.late === undefined ? undefined : q.late === 'true',
        limit: q.limit,
        cursor,
        before: q.before ? new Date(q.before) : undefined,
        after: q.after ? new Date(q.after) : undefined,
        order: q.order,
      })
      return c.json({ items: page.items.map((r) => toBody(FlowRunSchema, r)), nextCursor: page.nextCursor }, 200)
    },
  )

  app.openapi(
    createRoute({
      method: 'get',
      path: '/flow-runs/stats',
      tags: ['flow runs'],
      summary: 'Runs per state in hourly buckets',
      request: { query: z.object({ hours: z.coerce.number().int().min(1).max(24 * 14).default(24) }) },
      responses: { 200: json(z.object({ buckets: z.array(z.object({ start: z.string(), counts: z.record(z.string(), z.number()) })) }), 'Buckets'), ...errors },
    }),
    async (c) => {
      const buckets = await runStats(db, c.req.valid('query').hours)
      return c.json({ buckets: buckets.map((b) => ({ start: b.start.toISOString(), counts: b.counts })) }, 200)
    },
  )

  app.openapi(
    createRoute({ method: 'get', path: '/flow-runs/{id}', tags: ['flow runs'], request: { params: IdParam }, responses: { 200: json(FlowRunSchema, 'A run'), ...errors } }),
    async (c) => c.json(toBody(FlowRunSchema, await mustGetRun(c.req.valid('param').id)), 200),
  )

  app.openapi(
    createRoute({
      method: 'post',
      path: '/flow-runs/{id}/cancel',
      tags: ['flow runs'],
      summary: 'Cancel a scheduled or running run (its agent stops the process)',
      request: { params: IdParam },
      responses: { 200: json(FlowRunSchema, 'The run'), 409: json(z.object({ error: z.object({ message: z.string() }) }), 'Already finished'), ...errors },
    }),
    async (c) => {
      const id = c.req.valid('param').id
      await mustGetRun(id)
      const { verdict, run } = await setFlowRunState(db, bus, id, { state: 'cancelling', message: 'cancel requested', by: { kind: 'user' } })
      if (verdict.status !== 'accept') throw new HttpError(409, `cannot cancel: ${verdict.reason}`)
      return c.json(toBody(FlowRunSchema, run), 200)
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
    async (c) => {
      const old = await mustGetRun(c.req.valid('param').id)
      const raw = await db.query<{ parameters: Record<string, unknown>; attempt: number; version: string }>(
        `select r.parameters, r.attempt, f.version from rota_flow_runs r join rota_flows f on f.id = r.flow_id where r.id = $1`,
        [old.id],
      )
      const src = raw[0] as { parameters: Record<string, unknown>; attempt: number; version: string }
      const id = await db.transaction((tx) =>
        insertFlowRun(tx, { flowId: old.flowId, name: runName(), parameters: src.parameters, scheduledStartTime: new Date(), flowVersion: src.version, attempt: src.attempt + 1, retryOf: old.id }),
      )
      bus.publish({ type: 'runs-available' })
      bus.publish({ type: 'flow-run', flowRunId: id, flowId: old.flowId, state: 'scheduled' })
      return c.json(toBody(FlowRunSchema, await mustGetRun(id)), 201)
    },
  )

  app.openapi(
    createRoute({
      method: 'post',
      path: '/flow-runs/{id}/state',
      tags: ['flow runs'],
      summary: 'Propose a state (agents and flow processes); answers with the orchestration verdict',
      request: { params: IdParam, body: { required: true, content: { 'application/json': { schema: ProposalSchema } } } },
      responses: { 200: json(z.object({ verdict: VerdictSchema, run: FlowRunSchema }), 'Verdict'), ...errors },
    }),
    async (c) => {
      const id = c.req.valid('param').id
      const p = c.req.valid('json')
      const { verdict, run } = await setFlowRunState(db, bus, id, {
        state: p.state,
        message: p.message,
        by: p.agentId ? { kind: 'agent', agentId: p.agentId } : { kind: 'child' },
      })
      return c.json({ verdict: toBody(VerdictSchema, verdict), run: toBody(FlowRunSchema, run) }, 200)
    },
  )

  app.openapi(
    createRoute({
      method: 'get',
      path: '/flow-runs/{id}/execution',
      tags: ['internal'],
      summary: "What a flow's process needs to execute the run: entrypoint and effective parameters (secrets included)",
      request: { params: IdParam },
      responses: {
        200: json(z.object({ run: FlowRunSchema, entrypoint: z.string(), flowName: z.string(), parameters: z.record(z.string(), z.unknown()) }), 'Execution details'),
        ...errors,
      },
    }),
    async (c) => {
      const run = await mustGetRun(c.req.valid('param').id)
      const raw = await db.query<{ overrides: Record<string, unknown>; entrypoint: string; specs: [] }>(
        `select r.parameters as overrides, f.entrypoint, f.parameters as specs from rota_flow_runs r join rota_flows f on f.id = r.flow_id where r.id = $1`,
        [run.id],
      )
      const row = raw[0] as { overrides: Record<string, unknown>; entrypoint: string; specs: [] }
      const parameters = resolveParameters(row.specs, row.overrides)
      return c.json({ run: toBody(FlowRunSchema, run), entrypoint: row.entrypoint, flowName: run.flowName, parameters }, 200)
    },
  )

  app.openapi(
    createRoute({
      method: 'get',
      path: '/flow-runs/{id}/task-runs',
      tags: ['flow runs'],
      request: { params: IdParam },
      responses: { 200: json(z.object({ items: z.array(TaskRunSchema) }), 'Task runs in flow order'), ...errors },
    }),
    async (c) => {
      const run = await mustGetRun(c.req.valid('param').id)
      const items = await listTaskRuns(db, run.id)
      return c.json({ items: items.map((t) => toBody(TaskRunSchema, t)) }, 200)
    },
  )

  app.openapi(
    createRoute({
      method: 'post',
      path: '/flow-runs/{id}/task-runs',
      tags: ['internal'],
      summary: "A batch of task-run state events from the flow's process, applied in order",
      request: { params: IdParam, body: { required: true, content: { 'application/json': { schema: z.object({ events: z.array(TaskEventSchema).max(5000) }) } } } },
      responses: { 200: json(z.object({ applied: z.number(), rejected: z.array(z.object({ index: z.number(), reason: z.string() })) }), 'Result'), ...errors },
    }),
    async (c) => {
      const id = c.req.valid('param').id
      const { events } = c.req.valid('json')
      const result = await applyTaskEvents(db, bus, id, events.map((e) => ({ ...e, time: new Date(e.time) })))
      return c.json(result, 200)
    },
  )

  app.openapi(
    createRoute({
      method: 'get',
      path: '/flow-runs/{id}/logs',
      tags: ['flow runs'],
      summary: 'Logs in order; poll with after=<last id> or stream them from /api/events',
      request: {
        params: IdParam,
        query: z.object({
          after: z.coerce.number().int().min(0).default(0),
          limit: z.coerce.number().int().min(1).max(5000).default(1000),
          level: z.string().max(100).optional(),
          task: z.string().max(200).optional(),
        }),
      },
      responses: { 200: json(z.object({ items: z.array(LogSchema) }), 'Logs'), ...errors },
    }),
    async (c) => {
      const run = await mustGetRun(c.req.valid('param').id)
      const q = c.req.valid('query')
      const levels = q.level?.split(',').map((l) => l.trim())
      const bad = levels?.find((l) => !['debug', 'info', 'warn', 'error'].includes(l))
      if (bad !== undefined) throw new HttpError(400, `unknown log level "${bad}"; levels are debug, info, warn, error`)
      const items = await listLogs(db, run.id, { afterId: q.after, limit: q.limit, levels, ...(q.task !== undefined ? { taskName: q.task } : {}) })
      return c.json({ items: items.map((l) => toBody(LogSchema, l)) }, 200)
    },
  )

  app.openapi(
    createRoute({
      method: 'post',
      path: '/flow-runs/{id}/logs',
      tags: ['internal'],
      summary: 'A batch of log lines; (source, seq) makes a resent batch harmless',
      request: {
        params: IdParam,
        body: { required: true, content: { 'application/json': { schema: z.object({ source: z.string().max(200).default(''), logs: z.array(LogInputSchema).max(10_000) }) } } },
      },
      responses: { 200: json(z.object({ inserted: z.number() }), 'Stored'), ...errors },
    }),
    async (c) => {
      const id = c.req.valid('param').id
      const { source, logs } = c.req.valid('json')
      await mustGetRun(id)
      const rows = await insertLogs(db, id, source, logs.map((l) => ({ ...l, time: new Date(l.time) })))
      bus.publishBatch(
        rows.map((log) => ({ type: 'log' as const, flowRunId: id, log })),
        { type: 'log', flowRunId: id, log: undefined },
      )
      return c.json({ inserted: rows.length }, 200)
    },
  )

  app.openapi(
    createRoute({
      method: 'get',
      path: '/flow-runs/{id}/artifacts',
      tags: ['flow runs'],
      summary: 'What the run produced (artifact() in flows)',
      request: { params: IdParam },
      responses: { 200: json(z.object({ items: z.array(ArtifactSchema) }), 'Artifacts'), ...errors },
    }),
    async (c) => {
      const run = await mustGetRun(c.req.valid('param').id)
      return c.json({ items: (await listArtifacts(db, run.id)).map((a) => toBody(ArtifactSchema, a)) }, 200)
    },
  )

  app.openapi(
    createRoute({
      method: 'post',
      path: '/flow-runs/{id}/artifacts',
      tags: ['internal'],
      request: {
        params: IdParam,
        body: { required: true, content: { 'application/json': { schema: z.object({ key: z.string().min(1).max(200), data: z.unknown(), taskName: z.string().max(200).nullish() }) } } },
      },
      responses: { 201: json(ArtifactSchema, 'Stored'), ...errors },
    }),
    async (c) => {
      const id = c.req.valid('param').id
      await mustGetRun(id)
      const body = c.req.valid('json')
      return c.json(toBody(ArtifactSchema, await insertArtifact(db, id, body)), 201)
    },
  )

  app.openapi(
    createRoute({
      method: 'get',
      path: '/flow-runs/{id}/states',
      tags: ['flow runs'],
      summary: "The run's state history",
      request: { params: IdParam },
      responses: { 200: json(z.object({ items: z.array(z.object({ fromState: z.string().nullable(), toState: z.string(), message: z.string().nullable(), time: z.string() })) }), 'History'), ...errors },
    }),
    async (c) => {
      const run = await mustGetRun(c.req.valid('param').id)
      const rows = await db.query<{ fromState: string | null; toState: string; message: string | null; time: Date }>(
        `select from_state as "fromState", to_state as "toState", message, time from rota_flow_run_states where flow_run_id = $1 order by id`,
        [run.id],
      )
      return c.json({ items: rows.map((r) => ({ ...r, time: new Date(r.time).toISOString() })) }, 200)
    },
  )

  return app
}
