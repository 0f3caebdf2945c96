/**
 * /api/brt: read-only routes for the dashboard. They read the lake only (gold Parquet exports,
 * capture statistics, the buffer), never the DuckDB file, so they answer while dbt is writing it.
 * Before any data exists they answer empty lists, not errors.
 */
import { OpenAPIHono, createRoute, z } from '@hono/zod-openapi'
import { CaptureBuffer, recentCaptureStats } from './buffer.ts'
import { openLake, type Lake } from './lake.ts'
import { resolveBrtSettings, type BrtSettings } from './settings.ts'
import { GOLD_EXPORTS, GOLD_EXPORT_INFO, readParquetExport } from './warehouse.ts'

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
      hours: z.coerce.number().positive().max(24 * 31).default(6).openapi({ description: 'Windows within this many hours of the newest one' }),
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
function num(value: unknown): number | null {
  if (value === null || value === undefined) return null
  const n = Number(value)
  return Number.isFinite(n) ? n : null
}

export function createBrtRoutes(settings: BrtSettings = resolveBrtSettings(process.env)): OpenAPIHono {
  const app = new OpenAPIHono({
    defaultHook: (result, c) => {
      if (!result.success) return c.json({ error: result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ') }, 400)
      return undefined
    },
  })
  let lakePromise: Promise<Lake> | undefined
  const lake = (): Promise<Lake> => {
    lakePromise ??= openLake(settings.lakeUrl, { gcsApiEndpoint: settings.gcsApiEndpoint, gcpProject: settings.gcpProject }).catch((err: unknown) => {
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
      (rel) => `select vehicle_id, line, latitude, longitude, speed_kmh, gps_time_utc from ${rel} order by vehicle_id`,
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
    const rows = await readParquetExport(
      await lake(),
      GOLD_EXPORTS.lineSpeed,
      (rel) => `select line, window_start, vehicles_in_service, avg_speed_kmh, p90_speed_kmh, share_moving from ${rel}
        where window_start >= (select max(window_start) from ${rel}) - to_milliseconds($ms) and ($line = '' or line = $line)
        order by window_start desc, line`,
      { ms: Math.round(hours * 3_600_000), line: line ?? '' },
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
