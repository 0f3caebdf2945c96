/**
 * The wire shapes of /api/brt: zod schemas, each with its inferred type. The routes (api.ts)
 * validate and document with them; the dashboard pages (ui/) import the types. Plain zod, no Node:
 * safe to import (as types) from the browser bundle.
 */
import { z } from 'zod'

export const VehicleSchema = z
  .object({
    vehicleId: z.string(),
    /** null when the GPS feed did not say which line the vehicle serves. */
    line: z.string().nullable(),
    latitude: z.number(),
    longitude: z.number(),
    speedKmh: z.number().nullable(),
    gpsTime: z.string().meta({ description: 'GPS time, ISO 8601 UTC', example: '2024-05-01T12:34:56.000Z' }),
  })
  .meta({ id: 'BrtVehicle' })
export type BrtVehicle = z.infer<typeof VehicleSchema>

export const VehiclesSchema = z
  .object({
    items: z.array(VehicleSchema),
    generatedAt: z.string().nullable().meta({ description: 'When gold was last exported (null before the first export)' }),
  })
  .meta({ id: 'BrtVehicles' })
export type BrtVehicles = z.infer<typeof VehiclesSchema>

export const LineSpeedSchema = z
  .object({
    line: z.string(),
    windowStart: z.string().meta({ description: 'Start of the 10-minute window, ISO 8601 UTC' }),
    vehiclesInService: z.number().int(),
    avgSpeedKmh: z.number().nullable(),
    p90SpeedKmh: z.number().nullable(),
    shareMoving: z.number().nullable(),
    observations: z.number().int().meta({ description: 'Signals counted in the window' }),
    captures: z.number().int().nullable().meta({ description: 'Distinct captures (API calls) that contributed signals' }),
    isComplete: z.boolean().nullable().meta({
      description: 'Enough captures were taken during the window and none can still add to it (null for windows built before this field existed)',
    }),
  })
  .meta({ id: 'BrtLineSpeed' })
export type BrtLineSpeed = z.infer<typeof LineSpeedSchema>

export const CaptureSchema = z
  .object({
    capturedAt: z.string(),
    vehicles: z.number().int(),
    invalidPositions: z.number().int(),
    stale: z.number().int(),
    duplicates: z.number().int(),
  })
  .meta({ id: 'BrtCapture' })
export type BrtCapture = z.infer<typeof CaptureSchema>

export const BufferSchema = z
  .object({
    captures: z.number().int(),
    capturesPerFile: z.number().int(),
    oldestCaptureAt: z.string().nullable(),
  })
  .meta({ id: 'BrtBuffer' })
export type BrtBuffer = z.infer<typeof BufferSchema>
