/** One HTTP error type and one handler that never leaks internals. */
import type { Context } from 'hono'
import type { OpenAPIHono } from '@hono/zod-openapi'
import { ZodError } from 'zod'
import { ConflictError, InvalidRequestError, NotFoundError } from '../orchestration/transition.ts'
import { ParameterError, ParametersTooLargeError } from '../../core/parameters.ts'
import { ScheduleError } from '../../core/schedule.ts'
import { EntrypointError } from '../../entrypoint.ts'

export class HttpError extends Error {
  override name = 'HttpError'
  constructor(
    readonly status: 400 | 401 | 403 | 404 | 409 | 413 | 415 | 422 | 503,
    message: string,
  ) {
    super(message)
  }
}

export function onError(err: Error, c: Context): Response {
  if (err instanceof HttpError) return c.json({ error: { message: err.message } }, err.status)
  if (err instanceof NotFoundError) return c.json({ error: { message: err.message } }, 404)
  if (err instanceof ConflictError) return c.json({ error: { message: err.message } }, 409)
  if (err instanceof InvalidRequestError) return c.json({ error: { message: err.message } }, 400)
  if (err instanceof ParametersTooLargeError) return c.json({ error: { message: err.message } }, 413)
  if (err instanceof ParameterError || err instanceof ScheduleError || err instanceof EntrypointError) return c.json({ error: { message: err.message } }, 400)
  if (err instanceof ZodError) return c.json({ error: { message: formatZodError(err) } }, 400)
  // Hono's own errors (malformed JSON, body too large) carry a status and a safe message.
  const status = (err as { status?: unknown }).status
  if (typeof status === 'number' && status >= 400 && status < 500) {
    return c.json({ error: { message: err.message || 'bad request' } }, status as 400)
  }
  // The path without its query string, and the error's stack as text: not the error object, whose
  // own fields may hold the request's values (PGlite attaches the failed query and its parameters).
  console.error(`[rota] ${c.req.method} ${c.req.path} failed: ${err.stack ?? `${err.name}: ${err.message}`}`)
  return c.json({ error: { message: 'internal server error; the server log has the details' } }, 500)
}

/** Input that fails its schema: a 400 with the first few problems, in the one error shape. */
export const validationHook: NonNullable<ConstructorParameters<typeof OpenAPIHono>[0]>['defaultHook'] = (result, c) => {
  if (!result.success) return c.json({ error: { message: formatZodError(result.error) } }, 400)
  return undefined
}

export function formatZodError(err: ZodError): string {
  return err.issues
    .slice(0, 5)
    .map((i) => `${i.path.length ? `${i.path.join('.')}: ` : ''}${i.message}`)
    .join('; ')
}
