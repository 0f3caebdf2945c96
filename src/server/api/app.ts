/** The HTTP app: JSON API under /api (plugins' routes under /api/<name>), OpenAPI at /api/openapi.json, the dashboard at /. */
import fs from 'node:fs'
import path from 'node:path'
import { createHash } from 'node:crypto'
import type { Context } from 'hono'
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
import { eventRoutes, type EventQueueLimits } from './events.ts'
import { controlRoutes } from './control.ts'
import { automationRoutes } from './automations.ts'
import { presentStorage } from './presenter.ts'
import { createOps } from '../ops.ts'
import { json } from './openapi.ts'
import { HealthSchema, HealthUnavailableSchema } from '../../core/contract.ts'
import { createPluginApp } from '../../plugin.ts'
import { pingDatabase } from '../store/health.ts'

export const MAX_BODY_BYTES = 8 * 1024 * 1024

export interface AppOptions {
  uiDir?: string
  /** The port the server listens on, for the Host check (known once it listens). */
  port?: () => number
  /** Bounds of each event-stream subscriber's queue (default EVENT_QUEUE_LIMITS). */
  eventQueue?: EventQueueLimits | undefined
}

export async function createApp(ctx: ServerContext, options: AppOptions = {}): Promise<OpenAPIHono> {
  const hook: ConstructorParameters<typeof OpenAPIHono>[0] = { defaultHook: validationHook }
  const app = new OpenAPIHono(hook)
  const ops = ctx.ops ?? createOps(ctx.db, ctx.config)
  app.onError(onError)
  app.use('*', browserGuard({ apiKey: ctx.config.apiKey, bindHost: ctx.config.host, port: options.port ?? (() => ctx.config.port) }))
  const limit = bodyLimit({
    maxSize: MAX_BODY_BYTES,
    onError: (c) => c.json({ error: { message: `request body too large (limit ${MAX_BODY_BYTES / 1024 / 1024} MiB)` } }, 413),
  })
  app.use('/api/*', async (c, next) => {
    // With a length and no transfer encoding, the header decides: hono's bodyLimit would touch
    // `req.body`, which makes @hono/node-server build a web stream and a full Request for every
    // request (an eighth of the server's CPU at a hundred runs a second); reading the text does not.
    const length = c.req.header('content-length')
    if (length !== undefined && c.req.header('transfer-encoding') === undefined && /^\d+$/.test(length)) {
      if (Number(length) > MAX_BODY_BYTES) return c.json({ error: { message: `request body too large (limit ${MAX_BODY_BYTES / 1024 / 1024} MiB)` } }, 413)
      return next()
    }
    return limit(c, next)
  })
  if (ctx.config.apiKey) app.use('/api/*', requireApiKey(ctx.config.apiKey))
  if (ctx.config.apiKey) app.use('/metrics', requireApiKey(ctx.config.apiKey))
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
      let storage
      try {
        await pingDatabase(ctx.db)
        storage = presentStorage(await ops.storage.read(), ops.retention)
      } catch (err) {
        return c.json({ status: 'unavailable' as const, error: { message: `database unreachable: ${(err as Error).message}` } }, 503)
      }
      return c.json({ status: 'ok' as const, version: ctx.version, database: ctx.db.kind, time: new Date().toISOString(), authRequired: Boolean(ctx.config.apiKey), storage }, 200)
    },
  )
  app.route('/api', flowRoutes(ctx, hook))
  app.route('/api', runRoutes(ctx, hook))
  app.route('/api', agentRoutes(ctx, hook))
  app.route('/api', eventRoutes(ctx, options.eventQueue))
  app.route('/api', controlRoutes(ctx, hook))
  app.route('/api', automationRoutes(ctx, hook))
  // Prometheus text format, beside the API (scrapers expect /metrics); behind the key like /api.
  app.get('/metrics', async (c) => {
    const { contentType, body } = await ops.metrics.text()
    return c.body(body, 200, { 'content-type': contentType })
  })
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
    const index = dashboardIndex(uiDir)
    // index.html is revalidated on every load (no-cache + ETag: a 304 costs one round trip), so a
    // new build shows at once; it names the bundle by content hash (app.js?v=<hash>), which may
    // then be cached for a year. The build writes .br and .gz copies beside each file.
    app.get('/', index)
    app.get('/index.html', index)
    app.use(
      '/*',
      serveStatic({
        root,
        precompressed: true,
        onFound: (_path, c) => {
          c.header('Cache-Control', c.req.query('v') ? 'public, max-age=31536000, immutable' : 'public, max-age=300')
        },
      }),
    )
    app.get('*', index) // client-side routes
  } else {
    app.get('/', (c) => c.text('Rota server is running. The dashboard is not built: run `npm run build:ui`. API: /api/openapi.json'))
  }
  return app
}

/** Serves the dashboard's index.html: compressed when the client takes it, with an ETag, never cached unchecked. */
function dashboardIndex(uiDir: string): (c: Context) => Response {
  const html = fs.readFileSync(path.join(uiDir, 'index.html'))
  const etag = `"${createHash('sha256').update(html).digest('base64url').slice(0, 22)}"`
  const compressed: Record<string, Buffer | undefined> = {
    br: readIfPresent(path.join(uiDir, 'index.html.br')),
    gzip: readIfPresent(path.join(uiDir, 'index.html.gz')),
  }
  return (c) => {
    c.header('Cache-Control', 'no-cache')
    c.header('ETag', etag)
    c.header('Vary', 'Accept-Encoding')
    if (c.req.header('If-None-Match')?.split(',').some((t) => t.trim() === etag)) return c.body(null, 304)
    c.header('Content-Type', 'text/html; charset=UTF-8')
    const accepted = new Set((c.req.header('Accept-Encoding') ?? '').split(',').map((e) => e.trim().split(';')[0]))
    for (const encoding of ['br', 'gzip'] as const) {
      const body = compressed[encoding]
      if (body && accepted.has(encoding)) {
        c.header('Content-Encoding', encoding)
        return c.body(new Uint8Array(body))
      }
    }
    return c.body(new Uint8Array(html))
  }
}

function readIfPresent(file: string): Buffer | undefined {
  return fs.existsSync(file) ? fs.readFileSync(file) : undefined
}
