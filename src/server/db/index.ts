/**
 * The database: one small interface over PGlite (embedded default) and PostgreSQL (node-postgres).
 * Everything above this file speaks plain parameterised SQL through `Db`.
 */
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { createHash } from 'node:crypto'
import { createRequire } from 'node:module'
import { spawn } from 'node:child_process'
import type { PGlite } from '@electric-sql/pglite'
import type { Pool, PoolClient } from 'pg'
import { acquireDirLock } from './lock.ts'
import { makePrivateDir, privateCacheDir, readPrivateFile, restrictTree, writePrivateFile } from '../../private-files.ts'

export interface Queryable {
  query<T = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<T[]>
}

export interface Db extends Queryable {
  readonly kind: 'pglite' | 'postgres'
  /** Runs fn in one transaction; rolls back when it throws. */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>
  /** LISTEN on a channel (PostgreSQL only; PGlite is one process, so in-process events suffice). */
  listen?(channel: string, onMessage: (payload: string) => void): Promise<() => Promise<void>>
  notify?(channel: string, payload: string): Promise<void>
  /** Several notifications in one statement, in order. */
  notifyMany?(channel: string, payloads: readonly string[]): Promise<void>
  close(): Promise<void>
}

const PGLITE_VERSION = packageVersion('@electric-sql/pglite')

export { DatabaseLockedError } from './lock.ts'

export interface OpenDbOptions {
  databaseUrl: string | undefined
  /** ROTA_HOME: PGlite data lives in `${home}/db`. */
  home: string
  /** Pool size for PostgreSQL. */
  poolSize?: number
}

export async function openDb(options: OpenDbOptions): Promise<Db> {
  const db = options.databaseUrl ? await openPostgres(options.databaseUrl, options.poolSize ?? 10) : await openPglite(options.home)
  try {
    await migrate(db)
  } catch (err) {
    await db.close()
    throw err
  }
  return db
}

async function openPostgres(url: string, poolSize: number): Promise<Db> {
  const pg = (await import('pg')).default
  // Timestamps and JSON come back typed; BIGINT stays a string and is converted where read.
  const pool: Pool = new pg.Pool({ connectionString: url, max: poolSize, idleTimeoutMillis: 10_000 })
  // A dropped idle connection must not crash the server: the pool replaces it.
  pool.on('error', (err) => console.error(`[rota] postgres pool error: ${err.message}`))
  try {
    await pool.query('select 1')
  } catch (err) {
    await pool.end()
    throw new Error(`cannot connect to PostgreSQL at DATABASE_URL (${redactUrl(url)}): ${(err as Error).message}`)
  }
  const listeners: PoolClient[] = []
  return {
    kind: 'postgres',
    async query<T>(sql: string, params: readonly unknown[] = []) {
      return (await pool.query(statement(sql, params))).rows as T[]
    },
    async transaction<T>(fn: (tx: Queryable) => Promise<T>) {
      const client = await pool.connect()
      try {
        await client.query('begin')
        const result = await fn({ query: async <R>(sql: string, params: readonly unknown[] = []) => (await client.query(statement(sql, params))).rows as R[] })
        await client.query('commit')
        return result
      } catch (err) {
        await client.query('rollback').catch(() => undefined)
        throw err
      } finally {
        client.release()
      }
    },
    async listen(channel, onMessage) {
      const client = await pool.connect()
      listeners.push(client)
      client.on('notification', (msg) => {
        if (msg.channel === channel && msg.payload !== undefined) onMessage(msg.payload)
      })
      await client.query(`listen ${quoteIdent(channel)}`)
      return async () => {
        await client.query(`unlisten ${quoteIdent(channel)}`).catch(() => undefined)
        client.release()
        listeners.splice(listeners.indexOf(client), 1)
      }
    },
    async notify(channel, payload) {
      await pool.query('select pg_notify($1, $2)', [channel, payload])
    },
    async notifyMany(channel, payloads) {
      // unnest yields in array order; identical payloads of one statement arrive once, which suits these notices
      await pool.query('select pg_notify($1, p) from unnest($2::text[]) as p', [channel, payloads])
    },
    async close() {
      for (const c of listeners.splice(0)) c.release()
      await pool.end()
    },
  }
}

/**
 * A query as a named prepared statement: each connection parses and plans it once, not at every
 * call (Rota's few dozen statements run thousands of times a minute under load). Only plain DML is
 * named; DDL (migrations) and statements without parameters go as they are.
 */
const names = new Map<string, string | null>()
function statement(sql: string, params: readonly unknown[]): { text: string; values: unknown[]; name?: string } {
  let name = names.get(sql)
  if (name === undefined) {
    name = params.length > 0 && /^\s*(select|insert|update|delete|with)\b/i.test(sql) ? `rota_${createHash('sha1').update(sql).digest('hex').slice(0, 20)}` : null
    // statements built with a varying text (filters) are few; still, never let the map grow without bound
    if (names.size < 10_000) names.set(sql, name)
  }
  return name ? { name, text: sql, values: params as unknown[] } : { text: sql, values: params as unknown[] }
}

/**
 * PostgreSQL's defaults are sized for a dedicated server: 128 MB of shared_buffers, which PGlite's
 * WebAssembly memory zero-fills at start, so all of it is resident (it was a third of the idle
 * server). Rota's database is small and the OS caches its files, so a few MB of buffers suffice;
 * PGlite is single-user, so the per-connection shared structures are sized for a handful.
 * maintenance_work_mem bounds what an index build may add to a WebAssembly memory that never shrinks.
 */
const PGLITE_SETTINGS = ['shared_buffers=8MB', 'max_connections=4', 'maintenance_work_mem=16MB']

/**
 * PGlite runs each query synchronously, and hands its lock to the next waiting query in a
 * microtask: with many requests in flight, query after query ran without the event loop ever
 * turning, so the server accepted no connection and read no request for tens of seconds (the
 * throughput benchmark's clients got connection resets). Each query and transaction first waits
 * for the loop's next turn, so I/O goes on between them.
 */
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve))

async function openPglite(home: string): Promise<Db> {
  const dataDir = path.join(home, 'db')
  makePrivateDir(home)
  makePrivateDir(dataDir)
  const releaseLock = await acquireDirLock(path.join(home, 'db.lock'))
  let pglite: PGlite
  try {
    const { PGlite } = await import('@electric-sql/pglite')
    // A new data directory starts from a migrated template: PGlite's initdb takes ~5 s, loading ~1 s.
    const fresh = fs.readdirSync(dataDir).length === 0
    const startParams = [...PGlite.defaultStartParams, ...PGLITE_SETTINGS.flatMap((s) => ['-c', s])]
    if (fresh) await unpackTemplate(dataDir, await pgliteTemplate(), startParams)
    pglite = await PGlite.create(dataDir, { startParams })
    // PGlite writes its files 0666 less the umask: the data (run parameters, secrets included) stays this user's.
    restrictTree(dataDir)
  } catch (err) {
    releaseLock()
    throw err
  }
  return {
    kind: 'pglite',
    async query<T>(sql: string, params: readonly unknown[] = []) {
      await nextTurn()
      return (await pglite.query<T>(sql, params as unknown[])).rows
    },
    async transaction<T>(fn: (tx: Queryable) => Promise<T>) {
      await nextTurn()
      return pglite.transaction(async (tx) =>
        fn({ query: async <R>(sql: string, params: readonly unknown[] = []) => (await tx.query<R>(sql, params as unknown[])).rows }),
      )
    },
    async close() {
      try {
        await pglite.close()
        restrictTree(dataDir) // files PGlite created while running
      } finally {
        releaseLock()
      }
    },
  }
}

/**
 * Fills a new data directory from the template in a short-lived process: PGlite unpacks it through
 * JavaScript buffers (about 100 MB for a 40 MB directory) that malloc would otherwise keep in the
 * server for good (a third of a new server's idle memory).
 */
async function unpackTemplate(dataDir: string, template: Blob, startParams: string[]): Promise<void> {
  const file = path.join(path.dirname(dataDir), `.db-template-${process.pid}.tar.gz`)
  fs.writeFileSync(file, Buffer.from(await template.arrayBuffer()))
  const script = [
    "import fs from 'node:fs'",
    'const { PGlite } = await import(process.env.ROTA_PGLITE)',
    'const loadDataDir = new Blob([fs.readFileSync(process.env.ROTA_PGLITE_TEMPLATE)])',
    'const db = await PGlite.create(process.env.ROTA_PGLITE_DIR, { loadDataDir, startParams: JSON.parse(process.env.ROTA_PGLITE_START) })',
    'await db.close()',
  ].join('\n')
  try {
    await new Promise<void>((resolve, reject) => {
      const child = spawn(process.execPath, ['--input-type=module', '--eval', script], {
        env: { ...process.env, ROTA_PGLITE: import.meta.resolve('@electric-sql/pglite'), ROTA_PGLITE_TEMPLATE: file, ROTA_PGLITE_DIR: dataDir, ROTA_PGLITE_START: JSON.stringify(startParams) },
        stdio: ['ignore', 'ignore', 'pipe'],
      })
      let stderr = ''
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
      child.once('error', reject)
      child.once('exit', (code, signal) => (code === 0 ? resolve() : reject(new Error(`could not create the embedded database in ${dataDir} (${signal ?? `exit ${code}`}): ${stderr.trim()}`))))
    })
  } catch (err) {
    // Half a data directory would open as a broken database next time: leave it empty.
    fs.rmSync(dataDir, { recursive: true, force: true })
    fs.mkdirSync(dataDir, { recursive: true })
    throw err
  } finally {
    fs.rmSync(file, { force: true })
  }
}

/**
 * The migrated template new data directories start from, cached per PGlite version and migration
 * set in this user's private cache folder (never a shared, predictable path: see files.ts).
 */
async function pgliteTemplate(): Promise<Blob> {
  const { PGlite } = await import('@electric-sql/pglite')
  const migrations = loadMigrations()
  const key = createHash('sha256')
    .update(PGLITE_VERSION)
    .update(migrations.map((m) => m.name + m.sql).join('\n'))
    .digest('hex')
    .slice(0, 16)
  const cache = privateCacheDir()
  if ('reason' in cache) warnOnce(`[rota] not caching the PGlite template (${cache.reason}); each new database takes a few seconds longer`)
  const file = cache.dir ? path.join(cache.dir, `pglite-template-${key}.tar.gz`) : undefined
  const cached = file ? readPrivateFile(file) : undefined
  if (cached) return new Blob([new Uint8Array(cached)])
  const mem = await PGlite.create()
  const db: Db = {
    kind: 'pglite',
    query: async <T>(sql: string, params: readonly unknown[] = []) => (await mem.query<T>(sql, params as unknown[])).rows,
    transaction: async <T>(fn: (tx: Queryable) => Promise<T>) =>
      mem.transaction(async (tx) => fn({ query: async <R>(sql: string, params: readonly unknown[] = []) => (await tx.query<R>(sql, params as unknown[])).rows })),
    close: () => mem.close(),
  }
  await migrate(db, migrations)
  const blob = await mem.dumpDataDir('gzip')
  await mem.close()
  if (file) writePrivateFile(file, Buffer.from(await blob.arrayBuffer()))
  return blob
}

let warned = false
function warnOnce(line: string): void {
  if (!warned) console.error(line)
  warned = true
}

// ---------------------------------------------------------------------------------------------
// Migrations: numbered SQL files, applied in order inside one transaction each.

const MIGRATIONS_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'migrations')

export interface Migration {
  id: number
  name: string
  sql: string
}

export function loadMigrations(dir = MIGRATIONS_DIR): Migration[] {
  return fs
    .readdirSync(dir)
    .filter((f) => /^\d{4}_.+\.sql$/.test(f))
    .sort()
    .map((f) => ({ id: Number(f.slice(0, 4)), name: f, sql: fs.readFileSync(path.join(dir, f), 'utf8') }))
}

export async function migrate(db: Db, migrations = loadMigrations()): Promise<number> {
  await db.query(`create table if not exists rota_migrations (id integer primary key, name text not null, applied_at timestamptz not null default now())`)
  return db.transaction(async (tx) => {
    // Several servers may start at once on one PostgreSQL: one migrates, the others wait here.
    await tx.query('select pg_advisory_xact_lock(72746501)')
    const applied = await tx.query<{ id: number }>('select id from rota_migrations order by id')
    const known = new Set(migrations.map((m) => m.id))
    const newest = migrations.at(-1)?.id ?? 0
    const unknown = applied.filter((a) => !known.has(a.id))
    if (unknown.length > 0) {
      throw new Error(
        `the database has schema migration ${Math.max(...unknown.map((u) => u.id))}, newer than this Rota knows (${newest}). Upgrade Rota, or point DATABASE_URL/ROTA_HOME at another database.`,
      )
    }
    const done = new Set(applied.map((a) => a.id))
    let count = 0
    for (const m of migrations) {
      if (done.has(m.id)) continue
      for (const statement of splitSql(m.sql)) await tx.query(statement)
      await tx.query('insert into rota_migrations (id, name) values ($1, $2)', [m.id, m.name])
      count++
    }
    return count
  })
}

/** Splits a migration into statements (our migrations use no dollar-quoted bodies). */
function splitSql(sql: string): string[] {
  return sql
    .split('\n')
    .filter((line) => !line.trimStart().startsWith('--'))
    .join('\n')
    .split(';')
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
}

function packageVersion(name: string): string {
  let dir = path.dirname(createRequire(import.meta.url).resolve(name))
  while (dir !== path.dirname(dir)) {
    const file = path.join(dir, 'package.json')
    if (fs.existsSync(file)) {
      const pkg = JSON.parse(fs.readFileSync(file, 'utf8')) as { name?: string; version?: string }
      if (pkg.name === name && pkg.version) return pkg.version
    }
    dir = path.dirname(dir)
  }
  return 'unknown'
}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`
}

function redactUrl(url: string): string {
  return url.replace(/\/\/([^:@/]+):[^@/]*@/, '//$1:***@')
}
