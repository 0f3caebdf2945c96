/**
 * Flow control: slot pools (and the task slots run processes ask for), backfills, child runs, a run's
 * result, and the long-poll a parent process uses to watch its child.
 */
import { createRoute, OpenAPIHono } from '@hono/zod-openapi'
import type { ServerContext } from './context.ts'
import { body, errors, json } from './openapi.ts'
import { HttpError } from './errors.ts'
import { presentBackfill, presentExecution, presentPool, presentRun } from './presenter.ts'
import {
  BackfillRequestSchema,
  BackfillSchema,
  ChildExecutionSchema,
  ChildRunRequestSchema,
  ErrorSchema,
  FlowParam,
  FlowRunSchema,
  IdParam,
  OkSchema,
  PoolListSchema,
  PoolParam,
  PoolSchema,
  PoolSlotRequestSchema,
  PoolSlotResultSchema,
  PoolUpdateSchema,
  RunResultSchema,
  RunTokenHeaders,
  RunWaitQuerySchema,
  SlotParam,
} from '../../core/contract.ts'
import { acquireSlot, getPool, listPools, releaseSlot, setPool } from '../pools.ts'
import { createBackfill } from '../backfill.ts'
import { startChildRun, waitForRun } from '../children.ts'
import { getFlow } from '../store/flows.ts'
import { getRunResult } from '../store/runs.ts'
import { runCredentials } from '../store/run-tokens.ts'
import { requireRunToken } from './middleware/run-token.ts'
import { issueChildRunToken, runRedactor } from '../run-access.ts'
import { RUN_TOKEN_HEADER } from '../../core/auth.ts'

const conflict = { 409: json(ErrorSchema, 'Not possible in the current state') }
/** Answers of the routes that act for a run (its token is checked), as on the run routes (runs.ts). */
const runTokenErrors = { 401: json(ErrorSchema, 'No run token'), 403: json(ErrorSchema, 'Not the run token of this run') }

export function controlRoutes(ctx: ServerContext, hook: ConstructorParameters<typeof OpenAPIHono>[0]) {
  const app = new OpenAPIHono(hook)
  const { db, bus } = ctx

  // --- pools ---------------------------------------------------------------------------------

  app.openapi(
    createRoute({ method: 'get', path: '/pools', tags: ['pools'], summary: 'Slot pools, with who holds and who waits', responses: { 200: json(PoolListSchema, 'Pools') } }),
    async (c) => c.json({ items: (await listPools(db)).map(presentPool) }, 200),
  )

  app.openapi(
    createRoute({ method: 'get', path: '/pools/{name}', tags: ['pools'], request: { params: PoolParam }, responses: { 200: json(PoolSchema, 'A pool'), ...errors } }),
    async (c) => c.json(presentPool(await getPool(db, c.req.valid('param').name)), 200),
  )

  app.openapi(
    createRoute({
      method: 'put',
      path: '/pools/{name}',
      tags: ['pools'],
      summary: 'Create a pool or change its number of slots (`rota pool set NAME --slots N`)',
      request: { params: PoolParam, body: body(PoolUpdateSchema) },
      responses: { 200: json(PoolSchema, 'The pool'), ...errors },
    }),
    async (c) => c.json(presentPool(await setPool(db, bus, c.req.valid('param').name, c.req.valid('json').slots)), 200),
  )

  app.openapi(
    createRoute({
      method: 'post',
      path: '/flow-runs/{id}/pool-slots',
      tags: ['internal'],
      summary: "A task of the run asks for a pool slot (the run's process, with the run token); answers when it holds one or after waitMs (long-poll: ask again)",
      request: { params: IdParam, headers: RunTokenHeaders, body: body(PoolSlotRequestSchema) },
      responses: { 200: json(PoolSlotResultSchema, 'Held, or still waiting'), ...errors, ...conflict, ...runTokenErrors },
    }),
    async (c) => {
      await requireRunToken(db, c.req.valid('param').id, c.req.valid('header')[RUN_TOKEN_HEADER])
      const answer = await acquireSlot(db, bus, c.req.valid('param').id, c.req.valid('json'), AbortSignal.any([ctx.shutdown, c.req.raw.signal]))
      return c.json(answer, 200)
    },
  )

  app.openapi(
    createRoute({
      method: 'post',
      path: '/flow-runs/{id}/pool-slots/{slotId}/release',
      tags: ['internal'],
      summary: "A task gives its pool slot back, or withdraws its request (the run's process, with the run token)",
      request: { params: SlotParam, headers: RunTokenHeaders },
      responses: { 200: json(OkSchema, 'Released'), ...errors, ...runTokenErrors },
    }),
    async (c) => {
      const { id, slotId } = c.req.valid('param')
      await requireRunToken(db, id, c.req.valid('header')[RUN_TOKEN_HEADER])
      await releaseSlot(db, bus, id, slotId)
      return c.json({ ok: true }, 200)
    },
  )

  // --- backfills -----------------------------------------------------------------------------

  app.openapi(
    createRoute({
      method: 'post',
      path: '/flows/{idOrName}/backfills',
      tags: ['flows'],
      summary: 'One run per schedule time in [from, to], except times that already have one (see missingOnly)',
      request: { params: FlowParam, body: body(BackfillRequestSchema) },
      responses: { 201: json(BackfillSchema, 'The backfill and the runs it made'), ...errors },
    }),
    async (c) => {
      const { idOrName } = c.req.valid('param')
      const flow = await getFlow(db, idOrName)
      if (!flow) throw new HttpError(404, `flow "${idOrName}" does not exist; \`rota flows\` lists the registered flows`)
      const b = c.req.valid('json')
      const outcome = await createBackfill(db, bus, flow, {
        from: new Date(b.from),
        to: new Date(b.to),
        missingOnly: b.missingOnly,
        maxActive: b.maxActive,
        priority: b.priority,
        parameters: b.parameters,
      })
      return c.json(presentBackfill(outcome), 201)
    },
  )

  // --- child runs, results -------------------------------------------------------------------

  app.openapi(
    createRoute({
      method: 'post',
      path: '/flow-runs/{id}/children',
      tags: ['internal'],
      summary:
        "The run's body calls another flow (the run's process, with the run token): its child run, started inside the run's process; answers what the process needs to execute it, with the child's own run token",
      request: { params: IdParam, headers: RunTokenHeaders, body: body(ChildRunRequestSchema) },
      responses: { 201: json(ChildExecutionSchema, 'The child run'), ...errors, ...conflict, ...runTokenErrors },
    }),
    async (c) => {
      const parentRunId = c.req.valid('param').id
      await requireRunToken(db, parentRunId, c.req.valid('header')[RUN_TOKEN_HEADER])
      const req = c.req.valid('json')
      const child = await startChildRun(db, bus, parentRunId, { id: req.id, flow: req.flow, parameters: req.parameters })
      const token = await issueChildRunToken(db, parentRunId, child.run.id)
      if (token === undefined) throw new HttpError(409, `child run ${child.run.id} has already ended (${child.run.state}): it takes no more reports`)
      return c.json({ ...presentExecution(child.run, child.entrypoint, child.specs, child.overrides, child.tasks), token }, 201)
    },
  )

  app.openapi(
    createRoute({
      method: 'get',
      path: '/flow-runs/{id}/wait',
      tags: ['flow runs'],
      summary: 'Answers the run as soon as it leaves whileState, or after waitMs (long-poll)',
      request: { params: IdParam, query: RunWaitQuerySchema },
      responses: { 200: json(FlowRunSchema, 'The run'), ...errors },
    }),
    async (c) => {
      const q = c.req.valid('query')
      const run = await waitForRun(db, bus, c.req.valid('param').id, q.whileState, q.waitMs, AbortSignal.any([ctx.shutdown, c.req.raw.signal]))
      return c.json(presentRun(run), 200)
    },
  )

  app.openapi(
    createRoute({
      method: 'get',
      path: '/flow-runs/{id}/result',
      tags: ['flow runs'],
      summary: 'What the flow function returned (JSON), kept with the run when it succeeded',
      request: { params: IdParam },
      responses: { 200: json(RunResultSchema, 'The result'), ...errors },
    }),
    async (c) => {
      const id = c.req.valid('param').id
      const found = await getRunResult(db, id)
      if (!found) throw new HttpError(404, `flow run ${id} does not exist`)
      // Redacted when it was reported (runs.ts); hidden again here with the run's secrets as they are now.
      const credentials = await runCredentials(db, id)
      const secrets = credentials ? runRedactor(id, credentials) : undefined
      const result = found.result ?? null
      return c.json({ state: found.state, result: secrets && !secrets.empty ? secrets.value(result) : result }, 200)
    },
  )

  return app
}
