/**
 * Test harness: a real server (in this process or as a child process) on a fresh database —
 * PGlite in a temp ROTA_HOME, or a fresh database on the PostgreSQL server that scripts/test.sh
 * started (ROTA_TEST_DB=postgres, ROTA_TEST_PG_URL) — and real agents.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { spawn, type ChildProcess } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import { resolveConfig, type RotaConfig } from '../../src/config.ts'
import { startServer, type RunningServer, type ServerOptions } from '../../src/server/index.ts'
import { RotaClient, type FlowRun } from '../../src/client/index.ts'
import { Agent } from '../../src/agent/agent.ts'
import { LocalLauncher } from '../../src/agent/local.ts'
import { registerFile } from '../../src/cli/register.ts'

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
export const DB_KIND: 'pglite' | 'postgres' = process.env.ROTA_TEST_DB === 'postgres' ? 'postgres' : 'pglite'
const PG_URL = process.env.ROTA_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:54329/postgres'

export interface TestDatabase {
  home: string
  databaseUrl: string | undefined
  drop(): Promise<void>
}

/** A fresh, empty database for one test: its own ROTA_HOME, and on PostgreSQL its own database. */
export async function freshDatabase(): Promise<TestDatabase> {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'rota-test-'))
  if (DB_KIND === 'pglite') {
    return { home, databaseUrl: undefined, drop: async () => fs.rmSync(home, { recursive: true, force: true }) }
  }
  const pg = (await import('pg')).default
  const name = `rota_test_${randomUUID().replace(/-/g, '').slice(0, 16)}`
  const admin = new pg.Client({ connectionString: PG_URL })
  await admin.connect()
  await admin.query(`create database ${name}`)
  await admin.end()
  const url = new URL(PG_URL)
  url.pathname = `/${name}`
  return {
    home,
    databaseUrl: url.toString(),
    drop: async () => {
      const c = new pg.Client({ connectionString: PG_URL })
      await c.connect()
      await c.query(`drop database if exists ${name} with (force)`)
      await c.end()
      fs.rmSync(home, { recursive: true, force: true })
    },
  }
}

export function testConfig(db: TestDatabase, overrides: Partial<RotaConfig> = {}): RotaConfig {
  return resolveConfig({}, { home: db.home, databaseUrl: db.databaseUrl, port: 0, apiKey: undefined, ...overrides })
}

export interface Harness {
  db: TestDatabase
  server: RunningServer
  client: RotaClient
  config: RotaConfig
  agents: Agent[]
  logs: string[]
  startAgent(options?: { name?: string; labels?: string[]; concurrency?: number; prefetchMs?: number }): Promise<Agent>
  register(file: string): Promise<void>
  close(): Promise<void>
}

/** A server in this process plus helpers; close() stops agents, server and drops the database. */
export async function startHarness(options: { silenceMs?: number; overrides?: Partial<RotaConfig>; server?: ServerOptions; projectRoot?: string } = {}): Promise<Harness> {
  const db = await freshDatabase()
  const logs: string[] = []
  const config = testConfig(db, options.overrides)
  const server = await startServer(config, { log: (l) => logs.push(l), ...(options.silenceMs ? { silenceMs: options.silenceMs } : {}), ...options.server })
  const client = new RotaClient(server.url, config.apiKey)
  const agents: Agent[] = []
  return {
    db,
    server,
    client,
    config: { ...config, apiUrl: server.url },
    agents,
    logs,
    async startAgent(o = {}) {
      const agent = new Agent({
        client,
        launcher: new LocalLauncher({ projectRoot: options.projectRoot ?? ROOT }),
        onOutput: (o) => logs.push(`[${o.flowRunId}] ${o.line}`),
        name: o.name ?? `test-agent-${randomUUID().slice(0, 6)}`,
        labels: o.labels ?? [],
        concurrency: o.concurrency ?? 4,
        prefetchMs: o.prefetchMs ?? 2000,
        apiKey: config.apiKey,
        log: (l) => logs.push(l),
      })
      await agent.start()
      agents.push(agent)
      return agent
    },
    async register(file) {
      await registerFile(client, file, ROOT)
    },
    async close() {
      await Promise.all(agents.map((a) => a.stop()))
      await server.close()
      await db.drop()
    },
  }
}

/**
 * Claims a due run the way an agent does (a throwaway agent's poll) and answers a client that acts
 * for it with its run token: for tests that report for a run without starting a process.
 */
export async function claimRun(client: RotaClient, flowRunId: string): Promise<RotaClient> {
  return client.forRun(await claimRunToken(client, flowRunId))
}

/** Claims a due run (or one due within a minute) with a throwaway agent; answers its run token. */
export async function claimRunToken(client: RotaClient, flowRunId: string): Promise<string> {
  const agent = await client.registerAgent({ name: `claimer-${randomUUID().slice(0, 8)}`, type: 'local', labels: [], concurrency: 1000 })
  const { runs } = await client.poll(agent.id, { slots: 1000, runIds: [], waitMs: 0, prefetchMs: 60_000 })
  const run = runs.find((r) => r.id === flowRunId)
  if (!run) throw new Error(`run ${flowRunId} was not claimable (claimed: ${runs.map((r) => r.id).join(', ') || 'none'})`)
  return run.token
}

export const TERMINAL = ['success', 'failed', 'skipped', 'cancelled', 'crashed']

/** Polls until `check` returns a value (not undefined), or fails after `timeoutMs` with `what`. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined> | T | undefined, timeoutMs = 30_000, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let last: unknown
  for (;;) {
    try {
      const v = await check()
      if (v !== undefined && v !== false) return v as T
    } catch (err) {
      last = err
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ''}`)
    await new Promise((r) => setTimeout(r, everyMs))
  }
}

export async function waitForRunState(client: RotaClient, id: string, states: string[] = TERMINAL, timeoutMs = 30_000): Promise<FlowRun> {
  return waitFor(`run ${id} to reach ${states.join('/')}`, async () => {
    const run = await client.getRun(id)
    return states.includes(run.state) ? run : undefined
  }, timeoutMs)
}

/** Runs the CLI as a child process. */
export function cli(args: string[], env: Record<string, string | undefined> = {}, timeoutMs = 60_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(ROOT, 'bin/rota.js'), ...args], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`rota ${args.join(' ')} did not finish within ${timeoutMs} ms\n${stdout}\n${stderr}`))
    }, timeoutMs)
    child.on('exit', (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
  })
}

/** Starts a long-running CLI command (server, agent) as a child process; resolves once `ready` matches its output. */
export async function spawnCli(args: string[], env: Record<string, string | undefined>, ready: RegExp, timeoutMs = 60_000): Promise<{ child: ChildProcess; output: () => string; kill(signal?: NodeJS.Signals): Promise<void> }> {
  const child = spawn(process.execPath, [path.join(ROOT, 'bin/rota.js'), ...args], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`rota ${args.join(' ')} not ready within ${timeoutMs} ms:\n${out}`)), timeoutMs)
    const onData = (d: Buffer) => {
      out += d.toString()
      if (ready.test(out)) {
        clearTimeout(timer)
        resolve()
      }
    }
    child.stdout?.on('data', onData)
    child.stderr?.on('data', onData)
    child.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`rota ${args.join(' ')} exited with ${code}:\n${out}`))
    })
  })
  return {
    child,
    output: () => out,
    async kill(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal)
      await exited
    },
  }
}
