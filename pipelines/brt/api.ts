/**
 * /api/brt: read-only routes for the dashboard. They read the lake only (gold Parquet exports,
 * capture statistics, the buffer), never the DuckDB file, so they answer while dbt is writing it.
 * Before any data exists they answer empty lists, not errors. Their shapes are in contract.ts;
 * errors are Rota's (`{ error: { message } }`), a lake that cannot be read is a 503.
 */
import { createRoute, type OpenAPIHono } from '@hono/zod-openapi'
import { z } from 'zod'
import { createPluginApp, ErrorSchema, HttpError, onError } from '#rota/plugin.ts'
import { BufferSchema, CaptureSchema, LineSpeedSchema, VehiclesSchema } from './contract.ts'
import { CaptureBuffer, recentCaptureStats } from './buffer.ts'
import { openLake, type Lake } from './lake.ts'
import { GOLD_EXPORTS, GOLD_EXPORT_INFO } from './lake-keys.ts'
import { resolveBrtSettings, type BrtSettings } from './settings.ts'
import { readParquetExport } from './warehouse/parquet.ts'

/** A GPS time further ahead of the server's clock than this is never served (gold already excludes them). */
const FUTURE_TOLERANCE_MS = 5 * 60_000

const json = <T extends z.ZodType>(schema: T, description: string) => ({
  200: { content: { 'application/json': { schema } }, description },
  503: { content: { 'application/json': { schema: ErrorSchema } }, description: 'The lake could not be read' },
})

const vehiclesRoute = createRoute({
  method: 'get',
  path: '/vehicles',
  summary: 'Latest valid, non-stale position of each BRT vehicle (gold.brt_vehicle_latest)',
  responses: json(VehiclesSchema, 'Vehicles'),
})

const lineSpeedsRoute = createRoute({
  method: 'get',
  path: '/line-speeds',
  summary: 'Speed per line and 10-minute window (gold.brt_line_speed_10min)',
  request: {
    query: z.object({
      hours: z.coerce.number().positive().max(24 * 31).default(6).meta({ description: 'Windows within this many hours of the newest one (never one in the future)' }),
      line: z.string().optional().meta({ description: 'Only this line' }),
    }),
  },
  responses: json(z.object({ items: z.array(LineSpeedSchema) }).meta({ id: 'BrtLineSpeeds' }), 'Line speeds, newest window first'),
})

const capturesRoute = createRoute({
  method: 'get',
  path: '/captures',
  summary: 'Statistics of recent captures, newest first',
  request: { query: z.object({ limit: z.coerce.number().int().min(1).max(1440).default(60) }) },
  responses: json(z.object({ items: z.array(CaptureSchema) }).meta({ id: 'BrtCaptures' }), 'Captures'),
})

const bufferRoute = createRoute({
  method: 'get',
  path: '/buffer',
  summary: 'Captures waiting for the next CSV',
  responses: json(BufferSchema, 'Buffer status'),
})

function iso(value: unknown): string {
  if (value instanceof Date) return value.toISOString()
  return String(value)
}
/** A UTC instant as DuckDB TIMESTAMP text (the exports hold UTC wall times). */
function sqlTimestamp(ms: number): string {
  return new Date(ms).toISOString().replace('T', ' ').replace('Z', '')
}
function num(value: unknown): number | null {
  if (value === null || value === undefined) return null
  const n = Number(value)
  return Number.isFinite(n) ? n : null
}

/** The routes on their own app (tests call it with `app.request`); the plugin mounts them at /api/brt. */
export function createBrtRoutes(settings: BrtSettings = resolveBrtSettings(process.env)): OpenAPIHono {
  const app = createPluginApp()
  addBrtRoutes(app, settings)
  return app
}

export function addBrtRoutes(app: OpenAPIHono, settings: BrtSettings): void {
  let lakePromise: Promise<Lake> | undefined
  const lake = (): Promise<Lake> => {
    lakePromise ??= openLake(settings.lakeUrl, { gcsApiEndpoint: settings.gcsApiEndpoint, gcpProject: settings.gcpProject }).catch((err: unknown) => {
      lakePromise = undefined
      throw err
    })
    return lakePromise
  }

  // Whatever goes wrong reading the lake, the dashboard is told the data is unavailable, not why the server broke.
  app.onError((err, c) => onError(err instanceof HttpError ? err : new HttpError(503, `BRT data unavailable: ${err.message}`), c))

  app.openapi(vehiclesRoute, async (c) => {
    const l = await lake()
    const rows = await readParquetExport(
      l,
      GOLD_EXPORTS.vehicleLatest,
      (rel) => `select vehicle_id, line, latitude, longitude, speed_kmh, gps_time_utc from ${rel}
        where gps_time_utc <= cast($until as timestamp) order by vehicle_id`,
      { until: sqlTimestamp(Date.now() + FUTURE_TOLERANCE_MS) },
    )
    const info = await l.get(GOLD_EXPORT_INFO)
    const generatedAt = info ? ((JSON.parse(info.toString('utf8')) as { exportedAt?: string }).exportedAt ?? null) : null
    return c.json(
      {
        items: rows.map((r) => ({
          vehicleId: String(r.vehicle_id),
          line: r.line === null || r.line === undefined ? null : String(r.line),
          latitude: Number(r.latitude),
          longitude: Number(r.longitude),
          speedKmh: num(r.speed_kmh),
          gpsTime: iso(r.gps_time_utc),
        })),
        generatedAt,
      },
      200,
    )
  })

  app.openapi(lineSpeedsRoute, async (c) => {
    const { hours, line } = c.req.valid('query')
    // Anchored at the newest window that is not in the future, so one GPS clock running ahead can
    // never hide the present.
    const rows = await readParquetExport(
      await lake(),
      GOLD_EXPORTS.lineSpeed,
      (rel) => `with present as (select * from ${rel} where window_start <= cast($until as timestamp)),
        newest as (select max(window_start) as window_start from present)
        select p.* from present p, newest
        where p.window_start >= newest.window_start - to_milliseconds($ms) and ($line = '' or p.line = $line)
        order by p.window_start desc, p.line`,
      { ms: Math.round(hours * 3_600_000), line: line ?? '', until: sqlTimestamp(Date.now() + FUTURE_TOLERANCE_MS) },
    )
    return c.json(
      {
        items: rows.map((r) => ({
          line: String(r.line),
          windowStart: iso(r.window_start),
          vehiclesInService: Number(r.vehicles_in_service),
          avgSpeedKmh: num(r.avg_speed_kmh),
          p90SpeedKmh: num(r.p90_speed_kmh),
          shareMoving: num(r.share_moving),
          observations: Number(r.observations),
          captures: num(r.captures),
          isComplete: typeof r.is_complete === 'boolean' ? r.is_complete : null,
        })),
      },
      200,
    )
  })

  app.openapi(capturesRoute, async (c) => {
    const { limit } = c.req.valid('query')
    const stats = await recentCaptureStats(await lake(), limit)
    return c.json(
      { items: stats.map((s) => ({ capturedAt: s.capturedAt, vehicles: s.vehicles, invalidPositions: s.invalidPositions, stale: s.stale, duplicates: s.duplicates })) },
      200,
    )
  })

  app.openapi(bufferRoute, async (c) => {
    const status = await new CaptureBuffer(await lake()).status()
    return c.json(status, 200)
  })
}
