/**
 * Browser safety for a server on loopback. A web page open in the user's browser can send requests
 * to 127.0.0.1 (a cross-site form post, a no-cors fetch) and, through DNS rebinding (a name of its
 * own that it re-points at 127.0.0.1), even read the answers. A key-less server has nothing else in
 * the way, and its API can register code and start it, so:
 *
 * - Host: without a key, only this server's own loopback names on its own port are answered
 *   (localhost, 127.0.0.1, [::1], the bind address); a rebound name gets 403. With a key, the key is
 *   the guard and any Host goes (a proxy or a public name in front of `--host 0.0.0.0`).
 * - Writes (anything but GET, HEAD, OPTIONS) from another site are refused with 403: a browser says
 *   where a request comes from in Sec-Fetch-Site (only same-origin, or none: typed by the user, may
 *   write) and, without a key, in Origin (which must then be this server's own).
 * - Writes must be `content-type: application/json` (415 otherwise): no HTML form can send that, and
 *   a cross-origin fetch that does needs a CORS preflight, which this server never grants.
 *
 * The dashboard is same-origin and sends JSON, so it passes; so do the CLI, agents and run processes,
 * which send no Origin or Sec-Fetch-Site at all.
 */
import type { MiddlewareHandler } from 'hono'
import { HttpError } from '../errors.ts'

export interface BrowserGuardOptions {
  apiKey: string | undefined
  /** The address the server binds (`--host`); its name is accepted as a Host too. */
  bindHost: string
  /** The port the server listens on; a function because it is known only once it listens (port 0). */
  port: () => number
}

const READS = new Set(['GET', 'HEAD', 'OPTIONS'])
const LOOPBACK_NAMES = ['localhost', '127.0.0.1', '[::1]']

export function browserGuard(options: BrowserGuardOptions): MiddlewareHandler {
  const names = new Set([...LOOPBACK_NAMES, hostName(options.bindHost)].map((n) => n.toLowerCase()))
  const allowedHost = (host: string): boolean => {
    const port = options.port()
    const h = host.toLowerCase()
    for (const name of names) if (h === `${name}:${port}` || (port === 80 && h === name)) return true
    return false
  }
  return async (c, next) => {
    const host = c.req.header('host') ?? ''
    if (!options.apiKey && !allowedHost(host)) {
      throw new HttpError(
        403,
        `this server answers only to its own loopback address (http://127.0.0.1:${options.port()}), not to Host "${host.slice(0, 100)}". ` +
          'To serve other names or addresses, set ROTA_API_KEY and bind with --host.',
      )
    }
    if (READS.has(c.req.method)) return next()
    const site = c.req.header('sec-fetch-site')
    if (site !== undefined && site !== 'same-origin' && site !== 'none') {
      throw new HttpError(403, `a ${site} request may not change anything here: use the dashboard, the CLI or the API from outside a browser`)
    }
    const origin = c.req.header('origin')
    if (!options.apiKey && origin !== undefined && origin.toLowerCase() !== `http://${host.toLowerCase()}`) {
      throw new HttpError(403, `a request from another origin (${origin.slice(0, 100)}) may not change anything here`)
    }
    const type = (c.req.header('content-type') ?? '').split(';')[0]?.trim().toLowerCase()
    if (type !== 'application/json') {
      throw new HttpError(415, `send JSON with content-type: application/json (state-changing requests must, so that no web page can forge them)`)
    }
    await next()
  }
}

function hostName(bindHost: string): string {
  return bindHost.includes(':') && !bindHost.startsWith('[') ? `[${bindHost}]` : bindHost
}
