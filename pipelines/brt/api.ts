/**
 * /api/brt: read-only routes for the dashboard. They read the lake only (gold Parquet exports,
 * capture statistics, the buffer), never the DuckDB file, so they answer while dbt is writing it.
 * Before any data exists they answer empty lists, not errors.
 */
import { OpenAPIHono, createRoute, z } from '@hono/zod-openapi'
import { CaptureBuffer, recentCaptureStats } from './buffer.ts'
import { openLake, type Lake } from './lake.ts'
import { GOLD_EXPORTS, GOLD_EXPORT_INFO } from './lake-keys.ts'
import { resolveBrtSettings, type BrtPipelineConfig, type BrtSettings } from './pipeline.ts'
import { readParquetExport } from './warehouse/parquet.ts'

/** A GPS time further ahead of the server's clock than this is never served (gold already excludes them). */
const FUTURE_TOLERANCE_MS = 5 * 60_000

const ErrorSchema = z.object({ error: z.string() }).openapi('BrtError')

const VehicleSchema = z
  .object({
    vehicleId: z.string(),
    line: z.string().nullable(),
    latitude: z.number(),
    longitude: z.number(),
    speedKmh: z.number().nullable(),
    gpsTime: z.string().openapi({ description: 'GPS time, ISO 8601 UTC', example: '2024-05-01T12:34:56.000Z' }),
  })
  .openapi('BrtVehicle')

const VehiclesSchema = z
  .object({
    items: z.array(VehicleSchema),
    generatedAt: z.string().nullable().openapi({ description: 'When gold was last exported (null before the first export)' }),
  })
  .openapi('BrtVehicles')

const LineSpeedSchema = z
  .object({
    line: z.string(),
    windowStart: z.string().openapi({ description: 'Start of the 10-minute window, ISO 8601 UTC' }),
    vehiclesInService: z.number().int(),
    avgSpeedKmh: z.number().nullable(),
    p90SpeedKmh: z.number().nullable(),
    shareMoving: z.number().nullable(),
    observations: z.number().int().openapi({ description: 'Signals counted in the window' }),
    captures: z.number().int().nullable().openapi({ description: 'Distinct captures (API calls) that contributed signals' }),
    isComplete: z.boolean().nullable().openapi({
      description: 'Enough captures were taken during the window and none can still add to it (null for windows built before this field existed)',
    }),
  })
  .openapi('BrtLineSpeed')

const CaptureSchema = z
  .object({
    capturedAt: z.string(),
    vehicles: z.number().int(),
    invalidPositions: z.number().int(),
    stale: z.number().int(),
    duplicates: z.number().int(),
  })
  .openapi('BrtCapture')

const BufferSchema = z
  .object({
    captures: z.number().int(),
    capturesPerFile: z.number().int(),
    oldestCaptureAt: z.string().nullable(),
  })
  .openapi('BrtBuffer')

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
      hours: z.coerce.number().positive().max(24 * 31).default(6).openapi({ description: 'Windows within this many hours of the newest one (never one in the future)' }),
      line: z.string().optional().openapi({ description: 'Only this line' }),
    }),
  },
  responses: json(z.object({ items: z.array(LineSpeedSchema) }).openapi('BrtLineSpeeds'), 'Line speeds, newest window first'),
})

const capturesRoute = createRoute({
  method: 'get',
  path: '/captures',
  summary: 'Statistics of recent captures, newest first',
  request: { query: z.object({ limit: z.coerce.number().int().min(1).max(1440).default(60) }) },
  responses: json(z.object({ items: z.array(CaptureSchema) }).openapi('BrtCaptures'), 'Captures'),
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

export function createBrtRoutes(config: Pick<BrtPipelineConfig, 'lakeUrl' | 'gcpProject'>, settings: BrtSettings = resolveBrtSettings(process.env)): OpenAPIHono {
  const app = new OpenAPIHono({
    defaultHook: (result, c) => {
      if (!result.success) return c.json({ error: result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ') }, 400)
      return undefined
    },
  })
  let lakePromise: Promise<Lake> | undefined
  const lake = (): Promise<Lake> => {
    lakePromise ??= openLake(config.lakeUrl, { gcsApiEndpoint: settings.gcsApiEndpoint, gcpProject: config.gcpProject }).catch((err: unknown) => {
      lakePromise = undefined
      throw err
    })
    return lakePromise
  }

  app.onError((err, c) => c.json({ error: `BRT data unavailable: ${err.message}` }, 503))

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

  return app
}
