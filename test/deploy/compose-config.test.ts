/**
 * docker-compose.yml as Docker Compose itself reads it (`docker compose config`): schema,
 * interpolation, references, and the wiring the reference setup relies on. Needs no engine; the
 * stack itself is brought up by stack.test.ts.
 */
import assert from 'node:assert/strict'
import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { describe, test } from 'node:test'
import { repoRoot } from '../helpers/container-engine.ts'
import { compose, type ComposeProject } from '../helpers/compose.ts'

const skip = process.env.ROTA_SKIP_COMPOSE === '1' ? 'ROTA_SKIP_COMPOSE=1' : false

interface Service {
  image?: string
  command?: string[]
  environment?: Record<string, string>
  secrets?: Array<{ source: string; target: string }>
  volumes?: Array<{ type: string; source: string; target: string }>
  depends_on?: Record<string, { condition: string }>
  healthcheck?: { test?: string[]; disable?: boolean }
  build?: { context: string; args?: Record<string, string | null> }
  user?: string
}

describe('docker-compose.yml', { skip }, () => {
  test('is valid, keeps secrets out of the image and wires the agent to the server', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'rota-compose-'))
    try {
      await fs.copyFile(path.join(repoRoot, 'docker-compose.yml'), path.join(dir, 'docker-compose.yml'))
      const keyFile = path.join(dir, 'gcp.json')
      await fs.writeFile(keyFile, '{}')
      const project: ComposeProject = {
        dir,
        files: [path.join(dir, 'docker-compose.yml')],
        env: { ROTA_API_KEY: 'k', POSTGRES_PASSWORD: 'p', GCP_PROJECT: 'proj', LAKE_URL: 'gs://bucket/brt', GCP_CREDENTIALS_FILE: keyFile },
      }
      const { stdout } = await compose(project, ['config', '--format', 'json'])
      const config = JSON.parse(stdout) as {
        services: Record<string, Service>
        volumes: Record<string, { name: string }>
        networks: Record<string, { name: string }>
        secrets: Record<string, { file: string }>
      }
      assert.deepEqual(Object.keys(config.services).sort(), ['agent', 'postgres', 'register', 'server'], 'the simulator is in a profile of its own')
      const { postgres, server, agent, register } = config.services as Record<'postgres' | 'server' | 'agent' | 'register', Service>

      assert.equal(postgres.image, 'postgres:17', 'the official image by default')
      assert.ok(postgres.volumes?.some((v) => v.type === 'volume' && v.target === '/var/lib/postgresql/data'), 'the database lives in a named volume')
      assert.equal(server.environment?.DATABASE_URL, 'postgres://rota:p@postgres:5432/rota')
      assert.equal(server.environment?.ROTA_HOST, '0.0.0.0')
      assert.equal(server.environment?.ROTA_API_KEY, 'k')
      assert.deepEqual(server.depends_on?.postgres, { condition: 'service_healthy', required: true })
      assert.deepEqual(server.secrets, [{ source: 'gcp_credentials', target: 'gcp.json' }])
      assert.equal(config.secrets.gcp_credentials?.file, keyFile, 'the key comes from a host file, at run time')
      assert.equal(server.environment?.GOOGLE_APPLICATION_CREDENTIALS, '/run/secrets/gcp.json')
      assert.equal(server.build?.context, dir, 'the server service builds the image')
      assert.deepEqual(server.build?.args ?? {}, {}, 'unset build arguments keep the Dockerfile\'s defaults')

      assert.deepEqual(register.command, ['node', 'bin/rota.js', 'register'], 'registers the project flows')
      assert.equal(register.environment?.ROTA_API_URL, 'http://server:4200')

      assert.ok(agent.volumes?.some((v) => v.source === '/var/run/docker.sock' && v.target === '/var/run/docker.sock'), 'the agent talks to the host engine')
      assert.equal(agent.user, 'root', 'the engine socket belongs to root')
      assert.equal(agent.environment?.ROTA_API_URL, 'http://server:4200')
      assert.equal(agent.depends_on?.register?.condition, 'service_completed_successfully')
      assert.deepEqual(agent.healthcheck?.test, ['CMD', 'node', 'bin/healthcheck.js', '--agent'])
      assert.ok(agent.command?.includes('--type=docker'))
      assert.ok(!agent.command?.some((a) => a.startsWith('--name')), 'no fixed name: each replica (--scale) takes its container\'s name')
      assert.ok(agent.command?.includes('--image=rota:latest'), 'run containers use the same image')
      assert.equal(config.networks.default?.name, 'rota')
      assert.ok(agent.command?.includes('--network=rota'), 'run containers join the network where the server is')
      assert.ok(agent.command?.includes(`--volume=${keyFile}:/run/secrets/gcp.json:ro`), 'run containers get the key file')
      assert.equal(config.volumes.data?.name, 'rota-data')
      assert.ok(agent.command?.includes('--volume=rota-data:/var/lib/rota'), 'run containers share a ROTA_HOME')

      // The engine socket and the images are settings (podman's socket; an image built elsewhere).
      const custom = await compose({ ...project, env: { ...project.env, DOCKER_SOCKET: '/run/podman/podman.sock', POSTGRES_IMAGE: 'pg:x', ROTA_NETWORK: 'n1', DBT_TARGETS: 'duckdb' } }, ['config', '--format', 'json'])
      const customConfig = JSON.parse(custom.stdout) as typeof config
      assert.ok(customConfig.services.agent?.volumes?.some((v) => v.source === '/run/podman/podman.sock' && v.target === '/var/run/docker.sock'))
      assert.equal(customConfig.services.postgres?.image, 'pg:x')
      assert.ok(customConfig.services.agent?.command?.includes('--network=n1'))
      assert.equal(customConfig.networks.default?.name, 'n1')
      assert.deepEqual(customConfig.services.server?.build?.args, { DBT_TARGETS: 'duckdb' }, 'build arguments come from the environment')

      // Nothing secret reaches the build context.
      const dockerignore = (await fs.readFile(path.join(repoRoot, '.dockerignore'), 'utf8')).split('\n')
      for (const pattern of ['.env', 'gcp*.json', 'secrets', 'node_modules', '.rota', '.venv*', 'dist', 'test-results']) assert.ok(dockerignore.includes(pattern), `.dockerignore has ${pattern}`)

      // A missing setting is an error that names it.
      await assert.rejects(compose({ ...project, env: { ...project.env, ROTA_API_KEY: '' } }, ['config', '-q']), /set ROTA_API_KEY in \.env/)
    } finally {
      await fs.rm(dir, { recursive: true, force: true })
    }
  })
})
