/** Request and response schemas: they validate input and generate /api/openapi.json. */
import { z } from '@hono/zod-openapi'
import { STATES } from '../orchestration/states.ts'

export const StateSchema = z.enum(STATES).openapi('State')
const Time = z.string().openapi({ format: 'date-time', example: '2026-11-25T12:00:00.000Z' })

/** Largest value of an `integer` column: a larger one is a 400 here, not a database error. */
export const INT32_MAX = 2_147_483_647
/** An ISO 8601 time from a client: years 1 to 9999 (year 0000 does not exist; the format holds 4 digits). */
export const TimeInput = z.iso
  .datetime({ offset: true })
  .refine((s) => !s.startsWith('0000'), { message: 'must be a time between the years 0001 and 9999' })
  .openapi({ format: 'date-time', example: '2026-11-25T12:00:00.000Z' })

export const ErrorSchema = z.object({ error: z.object({ message: z.string() }) }).openapi('Error')

export const ParameterSpecSchema = z
  .object({ name: z.string(), type: z.enum(['string', 'number', 'boolean', 'json']), default: z.unknown(), secret: z.boolean() })
  .openapi('ParameterSpec')

export const ScheduleSchema = z
  .union([
    // ten years at most: longer intervals leave the calendar JavaScript can count in; use cron for rare runs
    z.object({ intervalSeconds: z.number().int().positive().max(10 * 366 * 86_400), anchor: z.string().max(100).optional() }),
    z.object({ cron: z.string().max(200), timezone: z.string().max(100) }),
  ])
  .openapi('Schedule')

export const FlowRunSchema = z
  .object({
    id: z.uuid(),
    name: z.string(),
    flowId: z.uuid(),
    flowName: z.string(),
    state: StateSchema,
    stateMessage: z.string().nullable(),
    parameters: z.record(z.string(), z.unknown()),
    scheduledStartTime: Time,
    startTime: Time.nullable(),
    endTime: Time.nullable(),
    late: z.boolean(),
    durationMs: z.number().nullable(),
    agentId: z.uuid().nullable(),
    attempt: z.number().int(),
    retryOf: z.uuid().nullable(),
    autoScheduled: z.boolean(),
    createdAt: Time,
    updatedAt: Time,
  })
  .openapi('FlowRun')

export const FlowSchema = z
  .object({
    id: z.uuid(),
    name: z.string(),
    description: z.string(),
    version: z.string(),
    entrypoint: z.string(),
    schedule: ScheduleSchema.nullable(),
    scheduleText: z.string().openapi({ example: 'every 1 minute' }),
    scheduleActive: z.boolean(),
    parameters: z.array(ParameterSpecSchema),
    tasks: z.array(z.string()),
    labels: z.array(z.string()),
    catchUp: z.enum(['latest', 'all']),
    retries: z.number().int(),
    lastRun: FlowRunSchema.nullable(),
    createdAt: Time,
    updatedAt: Time,
  })
  .openapi('Flow')

export const FlowRegistrationSchema = z
  .object({
    name: z.string().min(1).max(100).regex(/^[a-z0-9][a-z0-9_.-]*$/i, 'letters, digits, "-", "_" or "."'),
    description: z.string().max(10_000).default(''),
    version: z.string().min(1).max(200),
    entrypoint: z.string().min(1).max(2000),
    schedule: ScheduleSchema.nullable(),
    parameters: z.array(ParameterSpecSchema).max(200),
    tasks: z.array(z.string().max(200)).max(1000),
    labels: z.array(z.string().max(100)).max(50).default([]),
    catchUp: z.enum(['latest', 'all']),
    retries: z.number().int().min(0).max(100).default(0),
    retryDelaySeconds: z.number().int().min(0).max(86_400).default(10),
  })
  .openapi('FlowRegistration')

export const TaskRunSchema = z
  .object({
    id: z.uuid(),
    flowRunId: z.uuid(),
    taskKey: z.string(),
    taskName: z.string(),
    position: z.number().int(),
    state: StateSchema,
    message: z.string().nullable(),
    attempts: z.number().int(),
    startTime: Time.nullable(),
    endTime: Time.nullable(),
  })
  .openapi('TaskRun')

export const LogSchema = z
  .object({
    id: z.number().int(),
    flowRunId: z.uuid(),
    taskName: z.string().nullable(),
    time: Time,
    level: z.enum(['debug', 'info', 'warn', 'error']),
    message: z.string(),
  })
  .openapi('Log')

export const ArtifactSchema = z
  .object({ id: z.number().int(), key: z.string(), taskName: z.string().nullable(), data: z.unknown(), createdAt: Time })
  .openapi('Artifact')

export const AgentSchema = z
  .object({
    id: z.uuid(),
    name: z.string(),
    type: z.enum(['local', 'docker']),
    labels: z.array(z.string()),
    concurrency: z.number().int(),
    startedAt: Time,
    lastHeartbeat: Time,
    status: z.enum(['active', 'unhealthy', 'offline']),
  })
  .openapi('Agent')

export const ClaimedRunSchema = z
  .object({ id: z.uuid(), name: z.string(), flowName: z.string(), entrypoint: z.string(), scheduledStartTime: Time })
  .openapi('ClaimedRun')

export const VerdictSchema = z
  .object({
    status: z.enum(['accept', 'reject', 'wait', 'abort']),
    state: StateSchema.optional(),
    reason: z.string().optional(),
    retryAfterMs: z.number().optional(),
    rule: z.string().optional(),
  })
  .openapi('Verdict')

export const MAX_MESSAGE = 64 * 1024

export const TaskEventSchema = z.object({
  taskRunId: z.uuid(),
  taskKey: z.string().min(1).max(300),
  taskName: z.string().min(1).max(200),
  position: z.number().int().min(0).max(INT32_MAX),
  state: StateSchema,
  message: z.string().max(MAX_MESSAGE).nullish(),
  attempts: z.number().int().min(0).max(INT32_MAX),
  time: TimeInput,
})

export const LogInputSchema = z.object({
  seq: z.number().int().min(0),
  time: TimeInput,
  level: z.enum(['debug', 'info', 'warn', 'error']),
  // Oversized lines are cut by the client; the server refuses anything still too large.
  message: z.string().max(MAX_MESSAGE),
  taskName: z.string().max(200).nullish(),
})

export const IdParam = z.object({ id: z.uuid({ message: 'must be a run id (a UUID)' }).openapi({ param: { name: 'id', in: 'path' } }) })
export const FlowParam = z.object({ idOrName: z.string().min(1).max(200).openapi({ param: { name: 'idOrName', in: 'path' } }) })
export const AgentParam = z.object({ id: z.uuid({ message: 'must be an agent id (a UUID)' }).openapi({ param: { name: 'id', in: 'path' } }) })

/**
 * Round-trips data through JSON (Dates become ISO strings) and checks it against its schema. A
 * mismatch is the server's bug, not the client's: it is thrown as an internal error (500, logged),
 * never as the 400 a ZodError from input validation becomes.
 */
export function toBody<S extends z.ZodType>(schema: S, data: unknown): z.output<S> {
  const result = schema.safeParse(JSON.parse(JSON.stringify(data)))
  if (!result.success) throw new Error(`response does not match its schema: ${result.error.message}`)
  return result.data as z.output<S>
}

export const json = <S extends z.ZodType>(schema: S, description: string) => ({ content: { 'application/json': { schema } }, description })
export const errors = {
  400: json(ErrorSchema, 'Bad input'),
  404: json(ErrorSchema, 'Not found'),
}
