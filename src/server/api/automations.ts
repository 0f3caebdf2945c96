/** Automations: list, create, read, change, delete, and each one's firing history. */
import { createRoute, OpenAPIHono } from '@hono/zod-openapi'
import type { ServerContext } from './context.ts'
import { body, errors, json } from './openapi.ts'
import { HttpError } from './errors.ts'
import { presentAutomation, presentFiring } from './presenter.ts'
import {
  AutomationInputSchema,
  AutomationListSchema,
  AutomationParam,
  AutomationPatchSchema,
  AutomationSchema,
  ErrorSchema,
  FiringListSchema,
  FiringQuerySchema,
  OkSchema,
} from '../../core/contract.ts'
import { deleteAutomation, DuplicateNameError, lastFirings, listAutomations, listFirings, type AutomationRow } from '../store/automations.ts'
import { AutomationInputError, changeAutomation, createAutomation, getAutomation } from '../automations/manage.ts'

export function automationRoutes(ctx: ServerContext, hook: ConstructorParameters<typeof OpenAPIHono>[0]) {
  const app = new OpenAPIHono(hook)
  const { db } = ctx

  async function mustGet(idOrName: string): Promise<AutomationRow> {
    const a = await getAutomation(db, idOrName)
    if (!a) throw new HttpError(404, `automation "${idOrName}" does not exist; \`rota automations list\` lists them`)
    return a
  }
  async function presentOne(a: AutomationRow) {
    return presentAutomation(a, (await lastFirings(db, [a.id])).get(a.id) ?? null)
  }
  /** Bad references are 400s, a taken name a 409. */
  async function saving<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn()
    } catch (err) {
      if (err instanceof AutomationInputError) throw new HttpError(400, err.message)
      if (err instanceof DuplicateNameError) throw new HttpError(409, `${err.message}; choose another name, or change that one (PATCH)`)
      throw err
    }
  }

  app.openapi(
    createRoute({ method: 'get', path: '/automations', tags: ['automations'], responses: { 200: json(AutomationListSchema, 'Automations with their last firing') } }),
    async (c) => {
      const items = await listAutomations(db)
      const last = await lastFirings(db, items.map((a) => a.id))
      return c.json({ items: items.map((a) => presentAutomation(a, last.get(a.id) ?? null)) }, 200)
    },
  )

  app.openapi(
    createRoute({
      method: 'post',
      path: '/automations',
      tags: ['automations'],
      summary: 'Create an automation: a trigger (flow-run-state, late, no-success, consecutive-failures) and an action (webhook, pause-schedule, run-flow)',
      request: { body: body(AutomationInputSchema) },
      responses: { 201: json(AutomationSchema, 'The new automation'), 409: json(ErrorSchema, 'The name is taken'), ...errors },
    }),
    async (c) => {
      const input = c.req.valid('json')
      return c.json(await presentOne(await saving(() => createAutomation(db, input))), 201)
    },
  )

  app.openapi(
    createRoute({ method: 'get', path: '/automations/{idOrName}', tags: ['automations'], request: { params: AutomationParam }, responses: { 200: json(AutomationSchema, 'An automation'), ...errors } }),
    async (c) => c.json(await presentOne(await mustGet(c.req.valid('param').idOrName)), 200),
  )

  app.openapi(
    createRoute({
      method: 'patch',
      path: '/automations/{idOrName}',
      tags: ['automations'],
      summary: 'Change an automation (enable or disable it, rename it, change its trigger or action)',
      request: { params: AutomationParam, body: body(AutomationPatchSchema) },
      responses: { 200: json(AutomationSchema, 'The automation'), 409: json(ErrorSchema, 'The name is taken'), ...errors },
    }),
    async (c) => {
      const current = await mustGet(c.req.valid('param').idOrName)
      const patch = c.req.valid('json')
      return c.json(await presentOne(await saving(() => changeAutomation(db, current, patch))), 200)
    },
  )

  app.openapi(
    createRoute({ method: 'delete', path: '/automations/{idOrName}', tags: ['automations'], summary: 'Delete an automation and its firing history', request: { params: AutomationParam }, responses: { 200: json(OkSchema, 'Deleted'), ...errors } }),
    async (c) => {
      const a = await mustGet(c.req.valid('param').idOrName)
      return c.json({ ok: await deleteAutomation(db, a.id) }, 200)
    },
  )

  app.openapi(
    createRoute({
      method: 'get',
      path: '/automations/{idOrName}/firings',
      tags: ['automations'],
      summary: 'Firing history, newest first: what fired, and how its delivery went (status, HTTP status, attempts, error)',
      request: { params: AutomationParam, query: FiringQuerySchema },
      responses: { 200: json(FiringListSchema, 'Firings'), ...errors },
    }),
    async (c) => {
      const a = await mustGet(c.req.valid('param').idOrName)
      return c.json({ items: (await listFirings(db, a.id, c.req.valid('query').limit)).map(presentFiring) }, 200)
    },
  )

  return app
}
