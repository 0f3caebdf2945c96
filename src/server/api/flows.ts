/** Flows: list, read, register, pause or resume, Quick Run. */
import fs from 'node:fs'
import path from 'node:path'
import { createRoute, OpenAPIHono } from '@hono/zod-openapi'
import type { ServerContext } from './context.ts'
import { body, errors, json } from './openapi.ts'
import { HttpError } from './errors.ts'
import { presentFlow, presentRun } from './presenter.ts'
import { ErrorSchema, type Flow, FlowListSchema, FlowParam, FlowRegistrationSchema, FlowRunSchema, FlowSchema, QuickRunSchema, RegistrationResultSchema, ScheduleSwitchSchema } from '../../core/contract.ts'
import { getFlow, listFlows, type FlowRow } from '../store/flows.ts'
import { lastRunsOfFlows } from '../store/runs.ts'
import { activeAgentCapacity } from '../store/agents.ts'
import { lateReason } from '../orchestration/late.ts'
import { registerFlow, switchSchedule } from '../scheduler.ts'
import { createFlowRun } from '../orchestration/transition.ts'
import { normalizeSchedule } from '../../core/schedule.ts'
import { checkParametersSize, resolveParameters } from '../../core/parameters.ts'
import { confinedPath, parseEntrypoint } from '../../entrypoint.ts'

/**
 * An entrypoint is refused unless it is a path inside the project (src/entrypoint.ts). When this
 * server shares the agents' project folder and the file is there, its symbolic links are followed
 * too; agents check again before they import in any case.
 */
function checkEntrypoint(entrypoint: string, projectRoot: string | undefined): void {
  const { file } = parseEntrypoint(entrypoint)
  if (projectRoot && fs.existsSync(path.resolve(projectRoot, file))) confinedPath(file, projectRoot, `entrypoint ${JSON.stringify(entrypoint)}`)
}

export function flowRoutes(ctx: ServerContext, hook: ConstructorParameters<typeof OpenAPIHono>[0]) {
  const app = new OpenAPIHono(hook)
  const { db, bus } = ctx

  /** Flows with their last run, in two queries however many flows. */
  async function present(flows: readonly FlowRow[]): Promise<Flow[]> {
    const last = await lastRunsOfFlows(db, flows.map((f) => f.id))
    const agents = [...last.values()].some((r) => r.late) ? await activeAgentCapacity(db) : []
    return flows.map((f) => {
      const run = last.get(f.id) ?? null
      return presentFlow(f, run, run ? lateReason(run, { agents }) : null)
    })
  }
  const presentOne = async (flow: FlowRow): Promise<Flow> => (await present([flow]))[0] as Flow

  async function mustGetFlow(idOrName: string): Promise<FlowRow> {
    const flow = await getFlow(db, idOrName)
    if (!flow) throw new HttpError(404, `flow "${idOrName}" does not exist; \`rota flows\` lists the registered flows`)
    return flow
  }

  app.openapi(
    createRoute({ method: 'get', path: '/flows', tags: ['flows'], responses: { 200: json(FlowListSchema, 'All flows') } }),
    async (c) => c.json({ items: await present(await listFlows(db)) }, 200),
  )

  app.openapi(
    createRoute({ method: 'get', path: '/flows/{idOrName}', tags: ['flows'], request: { params: FlowParam }, responses: { 200: json(FlowSchema, 'A flow'), ...errors } }),
    async (c) => c.json(await presentOne(await mustGetFlow(c.req.valid('param').idOrName)), 200),
  )

  app.openapi(
    createRoute({
      method: 'post',
      path: '/flows',
      tags: ['flows'],
      summary: 'Register a flow (used by `rota register`); unchanged flows are left alone',
      request: { body: body(FlowRegistrationSchema) },
      responses: { 200: json(RegistrationResultSchema, 'Registered'), ...errors, 413: json(ErrorSchema, 'Parameter defaults over 256 KiB') },
    }),
    async (c) => {
      const reg = c.req.valid('json')
      checkParametersSize(Object.fromEntries(reg.parameters.map((p) => [p.name, p.default])), "the flow's parameter defaults")
      checkEntrypoint(reg.entrypoint, ctx.projectRoot)
      const schedule = reg.schedule === null ? null : 'cron' in reg.schedule ? normalizeSchedule(reg.schedule) : normalizeSchedule({ interval: reg.schedule.intervalSeconds, anchor: reg.schedule.anchor })
      const { flow, status } = await registerFlow(db, bus, { ...reg, schedule })
      return c.json({ status, flow: await presentOne(flow) }, 200)
    },
  )

  app.openapi(
    createRoute({
      method: 'post',
      path: '/flows/{idOrName}/schedule',
      tags: ['flows'],
      summary: 'Pause or resume a flow schedule',
      request: { params: FlowParam, body: body(ScheduleSwitchSchema) },
      responses: { 200: json(FlowSchema, 'The flow'), ...errors },
    }),
    async (c) => {
      const flow = await mustGetFlow(c.req.valid('param').idOrName)
      const { active } = c.req.valid('json')
      if (!flow.schedule) throw new HttpError(400, `flow "${flow.name}" has no schedule to ${active ? 'resume' : 'pause'}`)
      return c.json(await presentOne(await switchSchedule(db, bus, flow, active)), 200)
    },
  )

  app.openapi(
    createRoute({
      method: 'post',
      path: '/flows/{idOrName}/runs',
      tags: ['flows'],
      summary: 'Quick Run: create a run that starts now',
      request: { params: FlowParam, body: body(QuickRunSchema, false) },
      responses: { 201: json(FlowRunSchema, 'The new run'), ...errors, 413: json(ErrorSchema, 'Parameters over 256 KiB') },
    }),
    async (c) => {
      const flow = await mustGetFlow(c.req.valid('param').idOrName)
      const input = c.req.valid('json') ?? {}
      const parameters = input.parameters ?? {}
      checkParametersSize(resolveParameters(flow.parameters, parameters)) // validates names and types (400) and size (413)
      const run = await createFlowRun(db, bus, flow, {
        parameters,
        scheduledStartTime: input.scheduledStartTime ? new Date(input.scheduledStartTime) : undefined,
        priority: input.priority,
      })
      return c.json(presentRun(run), 201)
    },
  )

  return app
}
