/**
 * The Rota server: opens the database, runs the scheduler, reaper (reaper.ts), retention (retention.ts) and automation (automations/) loops, serves the API and /metrics.
 * Several servers may share one PostgreSQL: every loop is idempotent in the database.
 */
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Duplex } from 'node:stream'
import { serve, type ServerType } from '@hono/node-server'
import type { RotaConfig } from '../config.ts'
import { ConfigError } from '../config.ts'
import { openDb, type Db } from './db/index.ts'
import { EventBus } from './events.ts'
import { createApp } from './api/app.ts'
import type { EventQueueLimits } from './api/events.ts'
import { scheduleAll } from './scheduler.ts'
import { reap } from './reaper.ts'
import { AGENT_SILENCE_MS } from './store/agents.ts'
import { loadPlugins, type LoadedPlugin } from '../plugin.ts'
import { backoffDelay, sleep } from '../core/backoff.ts'
import { createOps } from './ops.ts'
import { RetentionSweeper, type RetentionOptions } from './retention.ts'
import { AutomationEngine, type AutomationOptions } from './automations/engine.ts'

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
export const VERSION = (JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version

export interface RunningServer {
  url: string
  port: number
  db: Db
  bus: EventBus
  close(): Promise<void>
}

export interface ServerOptions {
  /** Scheduler tick; default 1 s (cheap: one indexed query per scheduled flow). */
  scheduleEveryMs?: number
  /** Reaper tick, which finds runs of silent agents and missed runs; default 2 s. */
  reapEveryMs?: number
  silenceMs?: number
  log?: (line: string) => void
  /** Plugins whose routes the server mounts; default the project's (package.json "rota.plugins"). */
  plugins?: readonly LoadedPlugin[]
  /** The environment `config` was resolved from, for the plugins' own settings; default process.env. */
  env?: NodeJS.ProcessEnv
  /** The built dashboard; default dist/ui of the project. */
  uiDir?: string
  /** Where the agents' flows live, for the entrypoint check at registration; default the project this server runs from. */
  projectRoot?: string
  /** Bounds of each event-stream subscriber's queue; a slower subscriber is dropped (default EVENT_QUEUE_LIMITS). */
  eventQueue?: EventQueueLimits
  /** Retention sweep tick (finished runs past ROTA_RETENTION are deleted); default 30 s. */
  retentionEveryMs?: number
  retention?: RetentionOptions
  /** Automations: how often time-based triggers are judged, delivery retries (tests shorten them). */
  automations?: Omit<AutomationOptions, 'baseUrl' | 'onSettled' | 'log'>
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1'])

export async function startServer(config: RotaConfig, options: ServerOptions = {}): Promise<RunningServer> {
  if (!LOOPBACK.has(config.host) && !config.apiKey) {
    throw new ConfigError(`refusing to listen on ${config.host} without an API key: set ROTA_API_KEY (clients send it as x-api-key), or bind to 127.0.0.1`)
  }
  const log = options.log ?? ((line: string) => console.log(line))
  const plugins = options.plugins ?? (await loadPlugins(ROOT))
  const db = await openDb({ databaseUrl: config.databaseUrl, home: config.home })
  const bus = new EventBus(db)
  await bus.start()
  const shutdown = new AbortController()
  const env = options.env ?? process.env
  let listeningPort = config.port
  const ops = createOps(db, config)
  ops.metrics.observe(bus)
  const app = await createApp(
    { db, bus, config, version: VERSION, shutdown: shutdown.signal, plugins, env, projectRoot: options.projectRoot ?? ROOT, ops },
    { uiDir: options.uiDir ?? path.join(ROOT, 'dist/ui'), port: () => listeningPort, eventQueue: options.eventQueue },
  ).catch(async (err: unknown) => {
    await bus.stop()
    await db.close()
    throw err
  })
  // Requests still being handled when the server closes must finish before the database closes.
  let inFlight = 0
  const fetch = async (req: Request, env: object | undefined): Promise<Response> => {
    inFlight++
    try {
      return await app.fetch(req, env)
    } finally {
      inFlight--
    }
  }

  // The reaper judges agents by their heartbeats, and none could reach a server that was down: it
  // judges crashes only after one full heartbeat window from start-up.
  const silenceMs = options.silenceMs ?? AGENT_SILENCE_MS
  const judgeFrom = Date.now() + silenceMs
  const sweeper = new RetentionSweeper(db, config.retention, options.retention, (flow, n) => ops.metrics.runsDeleted(flow, n))
  let baseUrl = config.publicUrl ?? `http://127.0.0.1:${config.port}`
  const automations = new AutomationEngine(db, bus, {
    ...options.automations,
    baseUrl: () => baseUrl,
    onSettled: (automation, status) => ops.metrics.firingSettled(automation, status),
    log,
  })
  const loops = [
    loop('scheduler', options.scheduleEveryMs ?? 1000, () => scheduleAll(db, bus), shutdown.signal, log),
    loop('reaper', options.reapEveryMs ?? 2000, () => reap(db, bus, silenceMs, judgeFrom), shutdown.signal, log),
    loop('retention', options.retentionEveryMs ?? 30_000, () => sweeper.sweep(), shutdown.signal, log),
    automations.run(shutdown.signal),
  ]

  const server: ServerType = await new Promise<ServerType>((resolve, reject) => {
    const s = serve({ fetch, hostname: config.host, port: config.port }, () => resolve(s))
    s.on('clientError', answerClientError)
    s.once('error', (err: NodeJS.ErrnoException) =>
      reject(err.code === 'EADDRINUSE' ? new ConfigError(`port ${config.port} on ${config.host} is already in use: stop what holds it, or pass --port (ROTA_PORT)`) : err),
    )
  }).catch(async (err: unknown) => {
    shutdown.abort()
    await Promise.all(loops)
    await bus.stop()
    await db.close()
    throw err
  })
  const address = server.address()
  const port = typeof address === 'object' && address ? address.port : config.port
  listeningPort = port
  const host = config.host.includes(':') ? `[${config.host}]` : config.host
  const url = `http://${host}:${port}`
  baseUrl = config.publicUrl ?? url
  log(`rota server listening on ${url} (database: ${db.kind === 'pglite' ? `PGlite in ${config.home}` : 'PostgreSQL'})`)
  let closed = false
  return {
    url,
    port,
    db,
    bus,
    async close() {
      if (closed) return
      closed = true
      shutdown.abort()
      await Promise.all(loops)
      await new Promise<void>((resolve) => {
        server.close(() => resolve())
        ;(server as { closeAllConnections?: () => void }).closeAllConnections?.()
      })
      for (let waited = 0; inFlight > 0 && waited < 5000; waited += 20) await new Promise((r) => setTimeout(r, 20))
      ops.metrics.stop()
      await bus.stop()
      await db.close()
    },
  }
}

/**
 * Requests Node's HTTP parser refuses before they reach the app (headers over 16 KiB, a malformed
 * request line) get the API's error shape too, instead of a bare status line.
 */
function answerClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
  if (err.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy()
    return
  }
  const [status, reason, message] =
    err.code === 'HPE_HEADER_OVERFLOW'
      ? [431, 'Request Header Fields Too Large', 'the request line and headers are larger than 16 KiB; send long values in a JSON body']
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'Request Timeout', 'the request took too long to arrive']
        : [400, 'Bad Request', 'the request is not valid HTTP']
  const body = JSON.stringify({ error: { message } })
  // Keep reading (and dropping) what the client still sends: closing a socket with unread bytes
  // makes the kernel answer with a reset, which can reach the client before it has read this answer
  // (a long request line was still being written when the parser gave up). Closed after 2 s at most.
  socket.on('error', () => socket.destroy())
  socket.resume()
  setTimeout(() => socket.destroy(), 2000).unref()
  socket.end(`HTTP/1.1 ${status} ${reason}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`)
}

/** A periodic job that never overlaps itself, backs off after errors and stops with the signal. */
async function loop(name: string, everyMs: number, work: () => Promise<unknown>, signal: AbortSignal, log: (line: string) => void): Promise<void> {
  let failures = 0
  while (!signal.aborted) {
    try {
      await work()
      failures = 0
    } catch (err) {
      failures++
      if (!signal.aborted) log(`[rota] ${name} failed (${failures}x): ${(err as Error).message}`)
    }
    await sleep(failures === 0 ? everyMs : backoffDelay({ baseMs: everyMs * 2, maxMs: 30_000 }, failures), signal)
  }
}
