/**
 * dbt, run from its own Python virtualenv that Rota creates on first use.
 *
 * The venv lives at `<repo>/.venv-dbt-<hash of the pinned requirements>` (not under ROTA_HOME), so
 * any number of homes (tests) share one install and a change of pins makes a new one. Creation is
 * guarded by a lock and a completion marker: a crash halfway leaves no marker and the next use
 * starts over. Each ROTA_HOME gets its own `--target-path` and `--log-path`, so concurrent homes do
 * not collide.
 */
import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import fs from 'node:fs/promises'
import path from 'node:path'
import readline from 'node:readline'
import { fileURLToPath } from 'node:url'
import lockfile from 'proper-lockfile'

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url))
export const DBT_PROJECT_DIR = path.join(REPO_ROOT, 'pipelines', 'brt', 'dbt')

export type DbtTarget = 'duckdb' | 'bigquery'

export class DbtSetupError extends Error {
  override name = 'DbtSetupError'
}
export class DbtBuildError extends Error {
  override name = 'DbtBuildError'
  constructor(
    message: string,
    readonly results: DbtNodeResult[],
  ) {
    super(message)
  }
}

export interface DbtNodeResult {
  readonly uniqueId: string
  readonly name: string
  readonly resourceType: string
  readonly status: string
  readonly executionTimeS: number
  readonly message: string | null
  readonly failures: number | null
  readonly rowsAffected: number | null
  /** The relation the node wrote (a model, or a test's stored failures). */
  readonly relationName: string | null
}

export interface DbtRunSummary {
  readonly command: string
  readonly success: boolean
  readonly elapsedS: number
  readonly results: DbtNodeResult[]
  readonly counts: Record<string, number>
}

function requirementsFiles(target: DbtTarget): string[] {
  return target === 'bigquery'
    ? [path.join(DBT_PROJECT_DIR, 'requirements.txt'), path.join(DBT_PROJECT_DIR, 'requirements-bigquery.txt')]
    : [path.join(DBT_PROJECT_DIR, 'requirements.txt')]
}

async function venvDirFor(target: DbtTarget, base: string): Promise<string> {
  const hash = createHash('sha256')
  for (const f of requirementsFiles(target)) hash.update(await fs.readFile(f))
  return path.join(base, `.venv-dbt${target === 'bigquery' ? '-bq' : ''}-${hash.digest('hex').slice(0, 10)}`)
}

function run(cmd: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; onLine?: (line: string) => void; signal?: AbortSignal } = {}): Promise<{ code: number; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: options.cwd, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] })
    const tail: string[] = []
    const onLine = (line: string): void => {
      tail.push(line)
      if (tail.length > 200) tail.shift()
      options.onLine?.(line)
    }
    readline.createInterface({ input: child.stdout }).on('line', onLine)
    readline.createInterface({ input: child.stderr }).on('line', onLine)
    const abort = (): void => {
      child.kill('SIGTERM')
    }
    options.signal?.addEventListener('abort', abort, { once: true })
    child.once('error', (err) => {
      options.signal?.removeEventListener('abort', abort)
      reject(err)
    })
    child.once('close', (code) => {
      options.signal?.removeEventListener('abort', abort)
      resolve({ code: code ?? 1, output: tail.join('\n') })
    })
  })
}

/**
 * Returns the dbt executable, creating the venv first if needed (pip install of the pinned
 * requirements: about a minute, once per machine).
 */
export async function ensureDbtVenv(options: { target?: DbtTarget; baseDir?: string; python?: string; onLine?: (line: string) => void } = {}): Promise<string> {
  const target = options.target ?? 'duckdb'
  const dir = await venvDirFor(target, options.baseDir ?? REPO_ROOT)
  const dbt = path.join(dir, 'bin', 'dbt')
  const marker = path.join(dir, '.rota-complete')
  if (await exists(marker)) return dbt
  const python = options.python ?? 'python3'
  try {
    const v = await run(python, ['-c', 'import sys, venv; print("%d.%d" % sys.version_info[:2])'])
    if (v.code !== 0) throw new DbtSetupError(`"${python}" cannot create virtualenvs (${v.output.trim()}). On Debian: apt-get install python3-venv`)
  } catch (err) {
    if (err instanceof DbtSetupError) throw err
    throw new DbtSetupError(
      `dbt needs Python 3 (3.9 to 3.12) on PATH as "${python}", and it was not found (${(err as Error).message}). ` +
        'Install it (Debian/Ubuntu: apt-get install python3 python3-venv), then run the flow again; Rota creates dbt\'s virtualenv by itself.',
    )
  }
  await fs.mkdir(path.dirname(dir), { recursive: true })
  const lockTarget = `${dir}.install`
  const release = await lockfile.lock(lockTarget, { realpath: false, stale: 30_000, update: 5_000, retries: { retries: 400, minTimeout: 1000, maxTimeout: 3000 } })
  try {
    if (await exists(marker)) return dbt
    options.onLine?.(`creating dbt virtualenv at ${dir} (first use; pinned in ${requirementsFiles(target).map((f) => path.relative(REPO_ROOT, f)).join(' + ')})`)
    await fs.rm(dir, { recursive: true, force: true })
    const steps: Array<[string, string[]]> = [
      [python, ['-m', 'venv', dir]],
      [path.join(dir, 'bin', 'pip'), ['install', '--disable-pip-version-check', '--no-input', '--quiet', ...requirementsFiles(target).flatMap((f) => ['-r', f])]],
    ]
    for (const [cmd, args] of steps) {
      const r = await run(cmd, args, { onLine: options.onLine })
      if (r.code !== 0) throw new DbtSetupError(`could not create dbt's virtualenv (${path.basename(cmd)} ${args.slice(0, 2).join(' ')} exited ${r.code}):\n${r.output}`)
    }
    await fs.writeFile(marker, new Date().toISOString())
    return dbt
  } finally {
    await release().catch(() => undefined)
  }
}

export interface DbtRunOptions {
  readonly home: string
  readonly target: DbtTarget
  /** Environment for profiles.yml (ROTA_DUCKDB_PATH, GCP_PROJECT, ...). */
  readonly env: Record<string, string>
  readonly onLine?: (line: string) => void
  readonly signal?: AbortSignal
}

/**
 * dbt starts each console line with its own clock (`04:34:25  1 of 9 START ...`), in the zone of its
 * process (UTC on a server). A log line has its time already, shown in the viewer's zone: a second,
 * different clock in the message only misleads, so it goes.
 */
export function withoutDbtClock(line: string): string {
  return line.replace(/^\d{2}:\d{2}:\d{2}(?:\.\d+)?\s+/, '')
}

/** Runs `dbt <command>` (e.g. ['build']) on the project and returns per-node results. */
export async function runDbt(args: string[], options: DbtRunOptions): Promise<DbtRunSummary> {
  const dbt = await ensureDbtVenv({ target: options.target, onLine: options.onLine })
  const targetPath = path.join(options.home, 'dbt', 'target')
  const logPath = path.join(options.home, 'dbt', 'logs')
  await fs.mkdir(targetPath, { recursive: true })
  const runResults = path.join(targetPath, 'run_results.json')
  await fs.rm(runResults, { force: true })
  const started = performance.now()
  const r = await run(
    dbt,
    [...args, '--project-dir', DBT_PROJECT_DIR, '--profiles-dir', DBT_PROJECT_DIR, '--target-path', targetPath, '--log-path', logPath, '--target', options.target],
    {
      cwd: DBT_PROJECT_DIR,
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        HOME: process.env.HOME ?? options.home,
        ...(process.env.GOOGLE_APPLICATION_CREDENTIALS ? { GOOGLE_APPLICATION_CREDENTIALS: process.env.GOOGLE_APPLICATION_CREDENTIALS } : {}),
        DBT_SEND_ANONYMOUS_USAGE_STATS: 'false',
        DBT_USE_COLORS: 'false',
        DBT_PRINTER_WIDTH: '100',
        ROTA_DBT_TARGET: options.target,
        ...options.env,
      },
      onLine: options.onLine ? (line) => options.onLine?.(withoutDbtClock(line)) : undefined,
      signal: options.signal,
    },
  )
  const elapsedS = Math.round((performance.now() - started) / 10) / 100
  const results = await readRunResults(runResults)
  const counts: Record<string, number> = {}
  for (const n of results) counts[n.status] = (counts[n.status] ?? 0) + 1
  const summary: DbtRunSummary = { command: `dbt ${args.join(' ')}`, success: r.code === 0, elapsedS, results, counts }
  if (r.code !== 0) {
    const failed = results.filter((n) => n.status === 'error' || n.status === 'fail')
    const detail = failed.length
      ? failed.map((n) => `${n.resourceType} ${n.name}: ${n.status}${n.failures ? ` (${n.failures} failing rows)` : ''}${n.message ? ` - ${n.message}` : ''}`).join('; ')
      : r.output.split('\n').slice(-15).join('\n')
    throw new DbtBuildError(`dbt ${args.join(' ')} failed (exit ${r.code}): ${detail}`, results)
  }
  return summary
}

async function readRunResults(file: string): Promise<DbtNodeResult[]> {
  let raw: string
  try {
    raw = await fs.readFile(file, 'utf8')
  } catch {
    return []
  }
  const parsed = JSON.parse(raw) as {
    results?: Array<{
      unique_id: string
      status: string
      execution_time: number
      message: string | null
      failures: number | null
      adapter_response?: { rows_affected?: number }
      relation_name?: string | null
    }>
  }
  return (parsed.results ?? []).map((r) => {
    const parts = r.unique_id.split('.')
    const resourceType = parts[0] ?? 'unknown'
    return {
      uniqueId: r.unique_id,
      // A test's id ends with a hash of its arguments (`test.rota_brt.<name>.<hash>`): the name is enough.
      name: resourceType === 'test' && parts.length > 3 ? parts[2]! : parts.slice(2).join('.'),
      resourceType,
      status: r.status,
      executionTimeS: Math.round(r.execution_time * 1000) / 1000,
      message: r.message,
      failures: r.failures,
      rowsAffected: r.adapter_response?.rows_affected ?? null,
      relationName: r.relation_name ?? null,
    }
  })
}

async function exists(p: string): Promise<boolean> {
  try {
    await fs.access(p)
    return true
  } catch {
    return false
  }
}
