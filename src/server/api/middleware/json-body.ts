/**
 * One door for what a request carries, before any route or validator sees it:
 * - JSON bodies are read once, parsed, bounded (nesting depth, string length, finite numbers) and
 *   every string, keys included, made storable: NUL and lone UTF-16 surrogates become U+FFFD. A run
 *   may print anything; PostgreSQL refuses those characters, and a refused log batch used to answer
 *   500, which the run process retried for ever.
 * - A URL holding NUL (%00) is refused with 400: no name or id can contain it.
 *
 * Routes keep reading `c.req.valid('json')`: @hono/zod-openapi's validator reads the body through
 * `c.req.json()`, which parses the request's cached text (`c.req.bodyCache.text`), so the cleaned
 * JSON is put there. Bodies that are not JSON are left to the route (which answers 415).
 */
import type { MiddlewareHandler } from 'hono'
import { HttpError } from '../errors.ts'
import { storableText } from '../../../core/text.ts'

export interface JsonLimits {
  /** Deepest nesting of arrays and objects. */
  maxDepth: number
  /** Longest string, keys included, in UTF-16 units. */
  maxString: number
}

export const JSON_LIMITS: JsonLimits = { maxDepth: 64, maxString: 1024 * 1024 }

const JSON_TYPE = /^application\/([\w.-]+\+)?json$/i

export function cleanInput(limits: JsonLimits = JSON_LIMITS): MiddlewareHandler {
  return async (c, next) => {
    if (/%00/i.test(c.req.url)) throw new HttpError(400, 'the URL holds a NUL character (%00), which no name or id can contain')
    if (c.req.method === 'GET' || c.req.method === 'HEAD') return next()
    const type = (c.req.header('content-type') ?? '').split(';')[0]?.trim() ?? ''
    if (!JSON_TYPE.test(type)) return next()
    const text = await c.req.text()
    let value: unknown
    if (text.trim() === '') value = {} // `curl -X POST -H 'content-type: application/json'` on an action
    else {
      try {
        value = JSON.parse(text)
      } catch (err) {
        // V8's message quotes the body; say where it broke, not what it held.
        const at = /end of JSON/.test((err as Error).message) ? String(text.length) : /position (\d+)/.exec((err as Error).message)?.[1]
        throw new HttpError(400, `the request body is not valid JSON${at ? ` (error at character ${at})` : ''}`)
      }
    }
    const issues: string[] = []
    const clean = cleanJson(value, limits, issues)
    if (issues.length > 0) throw new HttpError(400, `the request body ${issues[0]}`)
    // Hono caches each body reading as a promise (its type says otherwise); the validator parses this one.
    ;(c.req.bodyCache as { text?: Promise<string> }).text = Promise.resolve(clean.changed ? JSON.stringify(clean.value) : text.trim() === '' ? '{}' : text)
    await next()
  }
}

/** The value with every string made storable; `changed` says whether anything was replaced. */
export function cleanJson(value: unknown, limits: JsonLimits = JSON_LIMITS, issues: string[] = []): { value: unknown; changed: boolean } {
  let changed = false
  const walk = (v: unknown, depth: number, where: string): unknown => {
    if (issues.length > 0) return v
    if (typeof v === 'string') {
      if (v.length > limits.maxString) issues.push(`has a string longer than ${limits.maxString} characters at ${where || 'its top'}`)
      const s = storableText(v)
      if (s !== v) changed = true
      return s
    }
    if (typeof v === 'number') {
      if (!Number.isFinite(v)) issues.push(`has a number too large to represent at ${where || 'its top'}`)
      return v
    }
    if (v === null || typeof v !== 'object') return v
    if (depth >= limits.maxDepth) {
      issues.push(`is nested deeper than ${limits.maxDepth} levels`)
      return v
    }
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) v[i] = walk(v[i], depth + 1, `${where}[${i}]`)
      return v
    }
    const obj = v as Record<string, unknown>
    for (const key of Object.keys(obj)) {
      const cleanKey = walk(key, depth + 1, `${where}.key`) as string
      const item = walk(obj[key], depth + 1, where ? `${where}.${cleanKey.slice(0, 50)}` : cleanKey.slice(0, 50))
      if (cleanKey !== key) {
        delete obj[key]
        Object.defineProperty(obj, cleanKey, { value: item, enumerable: true, writable: true, configurable: true })
      } else obj[key] = item
    }
    return obj
  }
  const out = walk(value, 0, '')
  return { value: out, changed }
}
