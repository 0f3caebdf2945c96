/** The HTTP app: JSON API under /api (plugins' routes under /api/<name>), OpenAPI at /api/openapi.json, the dashboard at /. */
import fs from 'node:fs'
import path from 'node:path'
import { OpenAPIHono, createRoute } from '@hono/zod-openapi'
import { bodyLimit } from 'hono/body-limit'
import { serveStatic } from '@hono/node-server/serve-static'
import type { ServerContext } from './context.ts'
import { onError, validationHook } from './errors.ts'
import { browserGuard } from './middleware/browser-guard.ts'
import { cleanInput } from './middleware/json-body.ts'
import { requireApiKey } from './middleware/api-key.ts'
import { flowRoutes } from './flows.ts'
import { runRoutes } from './runs.ts'
import { agentRoutes } from './agents.ts'
import { eventRoutes } from './events.ts'
import { controlRoutes } from './control.ts'
import { json } from './openapi.ts'
import { HealthSchema, HealthUnavailableSchema } from '../../core/contract.ts'
import { createPluginApp } from '../../plugin.ts'
import { pingDatabase } from '../store/health.ts'

export const MAX_BODY_BYTES = 8 * 1024 * 1024

export interface AppOptions {
  uiDir?: string
  /** The port the server listens on, for the Host check (known once it listens). */
  port?: () => number
}

export async function createApp(ctx: ServerContext, options: AppOptions = {}): Promise<OpenAPIHono> {
  const hook: ConstructorParameters<typeof OpenAPIHono>[0] = { defaultHook: validationHook }
  const app = new OpenAPIHono(hook)
  app.onError(onError)
  app.use('*', browserGuard({ apiKey: ctx.config.apiKey, bindHost: ctx.config.host, port: options.port ?? (() => ctx.config.port) }))
  app.use(
    '/api/*',
    bodyLimit({
      maxSize: MAX_BODY_BYTES,
      onError: (c) => c.json({ error: { message: `request body too large (limit ${MAX_BODY_BYTES / 1024 / 1024} MiB)` } }, 413),
    }),
  )
  if (ctx.config.apiKey) app.use('/api/*', requireApiKey(ctx.config.apiKey))
  app.use('/api/*', cleanInput())

  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/health',
      tags: ['server'],
      responses: {
        200: json(HealthSchema, 'Healthy'),
        503: json(HealthUnavailableSchema, 'Database unreachable'),
      },
    }),
    async (c) => {
      try {
        await pingDatabase(ctx.db)
      } catch (err) {
        return c.json({ status: 'unavailable' as const, error: { message: `database unreachable: ${(err as Error).message}` } }, 503)
      }
      return c.json({ status: 'ok' as const, version: ctx.version, database: ctx.db.kind, time: new Date().toISOString(), authRequired: Boolean(ctx.config.apiKey) }, 200)
    },
  )
  app.route('/api', flowRoutes(ctx, hook))
  app.route('/api', runRoutes(ctx, hook))
  app.route('/api', agentRoutes(ctx, hook))
  app.route('/api', eventRoutes(ctx))
  app.route('/api', controlRoutes(ctx, hook))
  for (const { plugin } of ctx.plugins) {
    if (!plugin.routes) continue
    const routes = createPluginApp()
    await plugin.routes(routes, { config: ctx.config, env: ctx.env })
    app.route(`/api/${plugin.name}`, routes)
  }
  app.doc('/api/openapi.json', {
    openapi: '3.0.0',
    info: { title: 'Rota API', version: ctx.version, description: `Flows, runs, task runs, logs, agents${ctx.plugins.length ? ` and the routes of the plugins (${ctx.plugins.map((p) => p.plugin.name).join(', ')})` : ''}. Send x-api-key when the server has ROTA_API_KEY.` },
  })
  app.all('/api/*', (c) => c.json({ error: { message: `no API route ${c.req.method} ${c.req.path}; see /api/openapi.json` } }, 404))

  const uiDir = options.uiDir
  if (uiDir && fs.existsSync(path.join(uiDir, 'index.html'))) {
    const root = path.relative(process.cwd(), uiDir) || '.'
    app.use('/*', serveStatic({ root }))
    const index = fs.readFileSync(path.join(uiDir, 'index.html'), 'utf8')
    app.get('*', (c) => c.html(index)) // client-side routes
  } else {
    app.get('/', (c) => c.text('Rota server is running. The dashboard is not built: run `npm run build:ui`. API: /api/openapi.json'))
  }
  return app
}
