/**
 * The API key, when the server has one. Compared as SHA-256 digests with timingSafeEqual: the time
 * taken says nothing about the key (not even its length), and no input can make the check throw
 * (a key of another length or with non-ASCII bytes used to answer 500, which revealed the length).
 *
 * Clients send it as `x-api-key` (or `authorization: Bearer`). Only the event stream takes it from
 * the query string (`?apiKey=`), because a browser's EventSource cannot set headers; anywhere else a
 * key in a URL would end up in proxy and history logs.
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import type { MiddlewareHandler } from 'hono'
import { HttpError } from '../errors.ts'

/** Routes that answer without the key: load balancers probe health. */
const OPEN = new Set(['/api/health'])
/** Routes that may carry the key as ?apiKey=. */
const KEY_IN_QUERY = new Set(['/api/events'])

export function requireApiKey(key: string): MiddlewareHandler {
  const expected = digest(key)
  return async (c, next) => {
    if (OPEN.has(c.req.path)) return next()
    const bearer = c.req.header('authorization')?.replace(/^Bearer\s+/i, '')
    const given = c.req.header('x-api-key') ?? bearer ?? (KEY_IN_QUERY.has(c.req.path) ? c.req.query('apiKey') : undefined)
    if (given === undefined || !timingSafeEqual(digest(given), expected)) {
      throw new HttpError(401, 'this server needs an API key: send it as the x-api-key header (set ROTA_API_KEY for the CLI and agents)')
    }
    await next()
  }
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest()
}
