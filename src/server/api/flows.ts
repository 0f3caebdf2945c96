import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi'
import type { ServerContext } from './context.ts'
import { errors, FlowParam, FlowRegistrationSchema, FlowRunSchema, FlowSchema, json, TimeInput, toBody } from './schemas.ts'
import { HttpError } from './errors.ts'
import { getFlow, listFlows, setScheduleActive, type FlowRow } from '../store/flows.ts'
import { getFlowRun, insertFlowRun, listFlowRuns, type FlowRunRow } from '../store/runs.ts'
import { registerFlow, scheduleFlow } from '../scheduler.ts'
import { describeSchedule, normalizeSchedule } from '../../sdk/schedule.ts'
import { resolveParameters } from '../../sdk/parameters.ts'
import { runName } from '../names.ts'

export function flowRoutes(ctx: ServerContext, hook: ConstructorParameters<typeof OpenAPIHono>[0]) {
  const app = new OpenAPIHono(hook)
  const { db, bus } = ctx

  async function present(flow: FlowRow, lastRun?: FlowRunRow | null) {
    const last = lastRun !== undefined ? lastRun : ((await listFlowRuns(db, { flowId: flow.id, limit: 1, before: new Date(Date.now() + 1) })).items[0] ?? null)
    return toBody(FlowSchema, { ...flow, scheduleText: describeSchedule(flow.schedule), lastRun: last })
  }

  async function mustGetFlow(idOrName: string): Promise<FlowRow> {
    const flow = await getFlow(db, idOrName)
    if (!flow) throw new HttpError(404, `flow "${idOrName}" does not exist; \`rota flows\` lists the registered flows`)
    return flow
  }

  app.openapi(
    createRoute({ method: 'get', path: '/flows', tags: ['flows'], responses: { 200: json(z.object({ items: z.array(FlowSchema) }), 'All flows') } }),
    async (c) => {
      const flows = await listFlows(db)
      return c.json({ items: await Promise.all(flows.map((f) => present(f))) }, 200)
    },
  )

  app.openapi(
    createRoute({ method: 'get', path: '/flows/{idOrName}', tags: ['flows'], request: { params: FlowParam }, responses: { 200: json(FlowSchema, 'A flow'), ...errors } }),
    async (c) => c.json(await present(await mustGetFlow(c.req.valid('param').idOrName)), 200),
  )

  app.openapi(
    createRoute({
      method: 'post',
      path: '/flows',
      tags: ['flows'],
      summary: 'Register a flow (used by `rota register`); unchanged flows are left alone',
      request: { body: { required: true, content: { 'application/json': { schema: FlowRegistrationSchema } } } },
      responses: { 200: json(z.object({ status: z.enum(['created', 'updated', 'unchanged']), flow: FlowSchema }), 'Registered'), ...errors },
    }),
    async (c) => {
      const reg = c.req.valid('json')
      const schedule = reg.schedule === null ? null : 'cron' in reg.schedule ? normalizeSchedule(reg.schedule) : normalizeSchedule({ interval: reg.schedule.intervalSeconds, anchor: reg.schedule.anchor })
      const { flow, status } = await registerFlow(db, bus, { ...reg, schedule })
      return c.json({ status, flow: await present(flow) }, 200)
    },
  )

  app.openapi(
    createRoute({
      method: 'post',
      path: '/flows/{idOrName}/schedule',
      tags: ['flows'],
      summary: 'Pause or resume a flow schedule',
      request: { params: FlowParam, body: { required: true, content: { 'application/json': { schema: z.object({ active: z.boolean() }) } } } },
      responses: { 200: json(FlowSchema, 'The flow'), ...errors },
    }),
    async (c) => {
      const flow = await mustGetFlow(c.req.valid('param').idOrName)
      const { active } = c.req.valid('json')
      if (!flow.schedule) throw new HttpError(400, `flow "${flow.name}" has no schedule to ${active ? 'resume' : 'pause'}`)
      const updated = await db.transaction(async (tx) => {
        const row = (await setScheduleActive(tx, flow.id, active)) as FlowRow
        // Pausing removes the upcoming runs the scheduler made; resuming recreates them from now.
        if (!active) await tx.query(`delete from rota_flow_runs where flow_id = $1 and auto_scheduled and state = 'scheduled'`, [flow.id])
        return row
      })
      if (active) await scheduleFlow(db, updated)
      bus.publish({ type: 'runs-available' })
      return c.json(await present(updated), 200)
    },
  )

  app.openapi(
    createRoute({
      method: 'post',
      path: '/flows/{idOrName}/runs',
      tags: ['flows'],
      summary: 'Quick Run: create a run that starts now',
      request: {
        params: FlowParam,
        body: { required: false, content: { 'application/json': { schema: z.object({ parameters: z.record(z.string(), z.unknown()).optional(), scheduledStartTime: TimeInput.optional() }) } } },
      },
      responses: { 201: json(FlowRunSchema, 'The new run'), ...errors },
    }),
    async (c) => {
      const flow = await mustGetFlow(c.req.valid('param').idOrName)
      const body = c.req.valid('json') ?? {}
      const parameters = body.parameters ?? {}
      resolveParameters(flow.parameters, parameters) // validates names and types; throws a 400
      const id = await db.transaction((tx) =>
        insertFlowRun(tx, {
          flowId: flow.id,
          name: runName(),
          parameters,
          scheduledStartTime: body.scheduledStartTime ? new Date(body.scheduledStartTime) : new Date(),
          flowVersion: flow.version,
        }),
      )
      bus.publish({ type: 'runs-available' })
      const run = (await getFlowRun(db, id)) as FlowRunRow
      bus.publish({ type: 'flow-run', flowRunId: id, flowId: flow.id, state: run.state })
      return c.json(toBody(FlowRunSchema, run), 201)
    },
  )

  return app
}
