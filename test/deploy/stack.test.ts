/**
 * The reference setup for real: the project's image built, docker-compose.yml brought up with Docker
 * Compose on a real engine, a flow run in a container of its own, a BRT window against the
 * simulator, and `docker compose down -v` leaving nothing behind. Each step prints its duration.
 *
 * The engine: DOCKER_HOST (or /var/run/docker.sock) when it answers, else the one
 * ../shared/container-engine/start.sh starts (podman's Docker-compatible API; a failure to start it
 * fails the test). No engine and no script: skipped, with a message. ROTA_SKIP_DOCKER=1 skips too.
 * Images: debian:trixie-slim comes from the engine (or is built by ../shared/container-engine/
 * base-images.sh when that exists), PostgreSQL from Debian's package (compose.test.yml); the image is
 * built once per run, under a fixed tag so the next run reuses its cached layers. Extra CA
 * certificates this host trusts (/usr/local/share/ca-certificates) are handed to the build, for
 * hosts behind a TLS-intercepting proxy.
 *
 * Everything this test creates is named after its project (rota-deploy-<random>): containers,
 * network, volumes. The stack runs with WAREHOUSE=duckdb and a lake in the `data` volume, since
 * BigQuery and GCS can't be reached from here; the BigQuery virtualenv is only checked to load.
 * DBT_TARGETS=duckdb (passed to the build) leaves it out: half the image, a shorter cold build.
 */
import assert from 'node:assert/strict'
import { randomBytes, randomUUID } from 'node:crypto'
import { execFile } from 'node:child_process'
import fs from 'node:fs'
import http from 'node:http'
import os from 'node:os'
import path from 'node:path'
import { after, before, describe, test, type TestContext } from 'node:test'
import { promisify } from 'node:util'
import type Docker from 'dockerode'
import { ApiError, RotaClient, type FlowRun } from '../../src/client/index.ts'
import { LABEL_AGENT, LABEL_MANAGED } from '../../src/agent/docker.ts'
import { dockerFor, engineAnswers, engineScript, ensureDockerHost, removeContainersLabelled, repoRoot } from '../helpers/container-engine.ts'
import { compose, composeStreaming, type ComposeProject } from '../helpers/compose.ts'

const execFileAsync = promisify(execFile)
const baseImagesScript = path.join(path.dirname(engineScript), 'base-images.sh')
const IMAGE = 'rota:deploy-test'
const POSTGRES_IMAGE = 'rota-test-postgres:17'
const TERMINAL = ['success', 'failed', 'skipped', 'cancelled', 'crashed']

async function skipReason(): Promise<string | false> {
  if (process.env.ROTA_SKIP_DOCKER === '1') return 'ROTA_SKIP_DOCKER=1'
  if (process.env.ROTA_SKIP_DEPLOY === '1') return 'ROTA_SKIP_DEPLOY=1'
  if (await engineAnswers(process.env.DOCKER_HOST)) return false
  if (fs.existsSync(engineScript)) return false
  return (
    `no container engine: none answers on ${process.env.DOCKER_HOST ?? '/var/run/docker.sock'} and ${engineScript} does not exist. ` +
    'Start Docker Engine (or `podman system service`) and set DOCKER_HOST to run the deploy test'
  )
}
const skip = await skipReason()
if (skip) console.log(`deploy test skipped: ${skip}`)

const started = Date.now()
function say(message: string): void {
  console.log(`[deploy +${((Date.now() - started) / 1000).toFixed(1)}s] ${message}`)
}

describe('the reference setup: docker-compose.yml on a real engine', { skip, timeout: 40 * 60_000 }, () => {
  const id = randomUUID().slice(0, 8)
  const name = `rota-deploy-${id}`
  const apiKey = randomBytes(24).toString('hex')
  let tmp: string | undefined
  let docker: Docker
  let project: ComposeProject
  let api: RotaClient
  let podman = false
  let failed: string | undefined
  let downDone = false

  /** Runs a step unless an earlier one failed (then there is nothing to test); prints its time. */
  async function step(t: TestContext, fn: () => Promise<void>): Promise<void> {
    if (failed) {
      t.skip(`an earlier step failed (${failed})`)
      return
    }
    const at = Date.now()
    say(`${t.name} ...`)
    try {
      await fn()
      say(`${t.name}: done in ${((Date.now() - at) / 1000).toFixed(1)} s`)
    } catch (error) {
      failed = t.name
      say(`${t.name}: FAILED after ${((Date.now() - at) / 1000).toFixed(1)} s`)
      throw error
    }
  }

  before(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rota-deploy-'))
    const keyFile = path.join(tmp, 'gcp.json')
    fs.writeFileSync(keyFile, '{}')
    project = {
      dir: repoRoot,
      files: [path.join(repoRoot, 'docker-compose.yml'), path.join(repoRoot, 'test/deploy/compose.test.yml')],
      name,
      profiles: ['simulator'],
      env: {
        ROTA_API_KEY: apiKey,
        POSTGRES_PASSWORD: randomBytes(12).toString('hex'),
        // BigQuery and GCS can't be reached from here: DuckDB, and a lake in the runs' data volume.
        WAREHOUSE: 'duckdb',
        GCP_PROJECT: 'rota-deploy-test',
        LAKE_URL: 'file:///var/lib/rota/lake',
        GCP_CREDENTIALS_FILE: keyFile,
        BRT_API_URL: 'http://simulator:8090/gps/brt',
        SIMULATOR_VEHICLES: '60',
        ROTA_IMAGE: IMAGE,
        POSTGRES_IMAGE,
        ROTA_NETWORK: name,
        ROTA_DATA_VOLUME: `${name}-data`,
        // Loopback only, on a port the engine picks.
        ROTA_PUBLISH_PORT: '127.0.0.1:',
        // DBT_TARGETS=duckdb builds without the BigQuery virtualenv: a faster, lighter image than the one shipped.
        ...(process.env.DBT_TARGETS ? { DBT_TARGETS: process.env.DBT_TARGETS } : {}),
      },
    }
  })

  after(async () => {
    if (!downDone && project && docker) {
      // The last step did not run: show what the stack said, then take it down all the same.
      await printLogs()
      await takeDown().catch((error: Error) => say(`clean-up failed: ${error.message}`))
    }
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true })
  })

  async function printLogs(): Promise<void> {
    const logs = await compose(project, ['logs', '--no-color', '--tail', '60'], { timeoutMs: 30_000 }).catch((e: Error) => ({ stdout: e.message, stderr: '' }))
    say(`stack logs:\n${logs.stdout}${logs.stderr}`)
  }

  /** Stops the agent (it stops its runs' containers), removes any run container left, then `down -v`. */
  async function takeDown(): Promise<number> {
    await compose(project, ['stop', '--timeout', '40', 'agent'], { timeoutMs: 60_000 }).catch(() => undefined)
    let leftovers = 0
    for (const replica of [1, 2]) leftovers += await removeContainersLabelled(docker, LABEL_AGENT, `${name}-agent-${replica}`)
    await compose(project, ['down', '--volumes', '--remove-orphans', '--timeout', '20'], { timeoutMs: 120_000 })
    return leftovers
  }

  test('engine', async (t) => {
    await step(t, async () => {
      const dockerHost = await ensureDockerHost()
      docker = dockerFor(dockerHost)
      const version = await docker.version()
      podman = (version.Components ?? []).some((c) => /podman/i.test(c.Name))
      say(`engine: ${podman ? 'podman' : 'docker'} ${version.Version} at ${dockerHost}`)
      project.env.DOCKER_HOST = dockerHost
      // The agent mounts the engine's socket; on this machine it is podman's, elsewhere Docker's.
      if (dockerHost.startsWith('unix://')) project.env.DOCKER_SOCKET = dockerHost.slice('unix://'.length)
      // Podman's Docker API builds with its own (buildah) builder, reached through the classic build API.
      if (podman) project.env.DOCKER_BUILDKIT = '0'
      const cas = extraCaCertificates()
      if (cas) project.env.EXTRA_CA_CERTS = cas
    })
  })

  test('base image debian:trixie-slim', async (t) => {
    await step(t, async () => {
      const present = await docker.getImage('debian:trixie-slim').inspect().then(() => true, () => false)
      if (present) return say('debian:trixie-slim is on the engine')
      if (!fs.existsSync(baseImagesScript)) return say('debian:trixie-slim will be pulled by the build')
      await execFileAsync('bash', [baseImagesScript, 'trixie'], { cwd: '/', timeout: 600_000, env: { ...process.env, DOCKER_HOST: project.env.DOCKER_HOST } })
    })
  })

  test('docker compose build (the Rota image, and PostgreSQL from Debian)', async (t) => {
    await step(t, async () => {
      let lines = 0
      await composeStreaming(project, ['build'], {
        timeoutMs: 30 * 60_000,
        onLine: (line) => {
          lines++
          // Stage headers and the final tags; the rest (apt, npm, pip) only when it fails.
          if (/STEP \d+\/\d+: (FROM|RUN)|Successfully tagged|COMMIT/.test(line)) say(`  ${line.slice(0, 160)}`)
        },
      })
      const image = await docker.getImage(IMAGE).inspect()
      say(`${IMAGE}: ${(image.Size / 1e6).toFixed(0)} MB (${lines} lines of build output)`)
      assert.equal(image.Config.User, 'rota', 'the image runs as a non-root user')
    })
  })

  test('docker compose up --wait: postgres, server, register, agent, simulator healthy', async (t) => {
    await step(t, async () => {
      const stopDriving = podman ? drivePodmanHealthChecks(docker, project.env.DOCKER_HOST!, name) : async () => undefined
      try {
        await composeStreaming(project, ['up', '--detach', '--wait', '--wait-timeout', '300', '--no-build', '--pull', 'never'], {
          timeoutMs: 360_000,
          onLine: (line) => say(`  ${line}`),
        })
      } finally {
        await stopDriving()
      }
      const services = await composePs()
      for (const service of ['postgres', 'server', 'agent', 'simulator']) {
        const s = services.find((x) => x.Service === service)
        assert.equal(s?.State, 'running', `${service} runs: ${JSON.stringify(s)}`)
        assert.equal(s?.Health, 'healthy', `${service} is healthy: ${JSON.stringify(s)}`)
      }
      // The server's check is the image's HEALTHCHECK (podman reports it on containers, not images).
      const [server] = await docker.listContainers({ filters: { label: [`com.docker.compose.project=${name}`, 'com.docker.compose.service=server'] } })
      const serverInfo = await docker.getContainer(server!.Id).inspect()
      assert.deepEqual(serverInfo.Config.Healthcheck?.Test, ['CMD', 'node', 'bin/healthcheck.js'])
      assert.equal(serverInfo.Config.User, 'rota')
      const register = services.find((x) => x.Service === 'register')
      assert.ok(!register || (register.State === 'exited' && register.ExitCode === 0), `register ran once and exited 0: ${JSON.stringify(register)}`)
      const { stdout } = await compose(project, ['port', 'server', '4200'])
      const address = stdout.trim().split('\n')[0]!
      assert.match(address, /^127\.0\.0\.1:\d+$/, 'published on the loopback only')
      api = new RotaClient(`http://${address}`, apiKey)
      say(`server at http://${address}`)
    })
  })

  test('the server answers, the agent is active under its container name, the BRT flow is registered', async (t) => {
    await step(t, async () => {
      const health = await api.health()
      assert.equal(health.database, 'postgres', 'the server uses the compose PostgreSQL')
      await assert.rejects(new RotaClient(api.baseUrl, 'wrong-key').listFlows(), (e: unknown) => e instanceof ApiError && e.status === 401, 'the API asks for the key')
      const agents = await waitFor('the agent to be active', async () => {
        const { items } = await api.listAgents()
        return items.some((a) => a.name === `${name}-agent-1` && a.status === 'active') ? items : undefined
      }, 30_000)
      assert.equal(agents.length, 1, `one agent: ${JSON.stringify(agents.map((a) => a.name))}`)
      const brt = await api.getFlow('brt-gps')
      assert.equal(brt.scheduleText.length > 0, true)
      // The BigQuery virtualenv loads its adapters on the image's Python (the DuckDB one runs in the
      // BRT window below), and no bytecode is stale (hard-linked files): else every import recompiles.
      if (!process.env.DBT_TARGETS || process.env.DBT_TARGETS.includes('bigquery')) {
        const { stdout } = await compose(project, ['exec', '-T', 'server', 'sh', '-c', '/app/.venv-dbt-bq-*/bin/dbt --version'], { timeoutMs: 120_000 })
        assert.match(stdout, /bigquery:/, 'the BigQuery virtualenv loads dbt-bigquery')
        assert.match(stdout, /duckdb:/)
      }
      const bytecode = await compose(project, ['exec', '-T', 'server', 'python3', '-c', STALE_BYTECODE], { timeoutMs: 60_000 })
      assert.match(bytecode.stdout, /stale bytecode: 0 of [1-9]\d+/)
    })
  })

  test('a flow registered and run with the CLI in the server container runs in a container of its own', async (t) => {
    await step(t, async () => {
      const registered = await compose(project, ['exec', '-T', 'server', 'node', 'bin/rota.js', 'register', 'examples/hello.ts'], { timeoutMs: 60_000 })
      assert.match(registered.stdout, /hello: (created|updated|unchanged)/)
      const ran = await compose(project, ['exec', '-T', 'server', 'node', 'bin/rota.js', 'run', 'hello', '--param', 'name=deploy', '--wait'], { timeoutMs: 180_000 })
      say(`  rota run hello --wait:\n${indent(ran.stdout)}`)

      // The same run, through the API.
      const run = (await api.listRuns({ flow: 'hello', limit: 1 })).items[0]
      assert.ok(run, 'the run is listed')
      assert.equal(run.state, 'success', `run ended ${run.state}: ${run.stateMessage}`)
      const tasks = (await api.taskRuns(run.id)).items
      assert.deepEqual(tasks.map((x) => `${x.taskName}:${x.state}`).sort(), ['greet:success', 'where:success'])
      const messages = (await api.logs(run.id)).items.map((l) => l.message)
      assert.ok(messages.includes('hello, deploy, from ' + hostOf(messages)), `greeted with the parameter; logs:\n${messages.join('\n')}`)
      const where = messages.find((m) => m.startsWith('running on host'))
      assert.match(where ?? '', /in a container, node v20\.\d+\.\d+, uid 10001$/, 'in a container, as the image\'s user')
      // Its host name is the run container's, neither the server's nor the agent's.
      const host = hostOf(messages)
      for (const service of ['server', 'agent']) {
        const [c] = await docker.listContainers({ filters: { label: [`com.docker.compose.project=${name}`, `com.docker.compose.service=${service}`] } })
        const info = await docker.getContainer(c!.Id).inspect()
        assert.notEqual(host, info.Config.Hostname, `the run did not run in the ${service} container`)
      }
      assert.equal(run.agentId, (await api.listAgents()).items[0]?.id, 'the Docker agent ran it')
      await waitFor('the run container to be removed', async () => ((await docker.listContainers({ all: true, filters: { label: [`rota.flow-run-id=${run.id}`] } })).length === 0 ? true : undefined), 20_000)
    })
  })

  test('a BRT window against the simulator: capture to dbt, in a run container, data in the volume', async (t) => {
    await step(t, async () => {
      // The schedule (every minute) would start runs of its own; one run, by hand, closes a window.
      await api.setSchedule('brt-gps', false)
      const created = await api.createRun('brt-gps', { capturesPerFile: 1 })
      const run = await waitForRun(api, created.id, 300_000)
      const messages = (await api.logs(run.id)).items.map((l) => `${l.taskName ?? '-'}: ${l.message}`)
      assert.equal(run.state, 'success', `run ended ${run.state}: ${run.stateMessage}\n${messages.slice(-40).join('\n')}`)
      const tasks = (await api.taskRuns(run.id)).items
      for (const task of ['capture', 'buffer', 'write-csv', 'upload', 'load', 'dbt']) {
        assert.equal(tasks.find((x) => x.taskName === task)?.state, 'success', `${task} succeeded: ${JSON.stringify(tasks.map((x) => [x.taskName, x.state, x.message]))}`)
      }
      assert.ok(messages.some((m) => /capture: captured \d+ vehicles .* from http:\/\/simulator:8090\/gps\/brt/.test(m)), 'captured from the simulator')
      const artifacts = await api.request<{ items: Array<{ key: string; kind: string; data: unknown; description: string | null }> }>('GET', `/api/flow-runs/${run.id}/artifacts`)
      const csv = artifacts.items.find((a) => a.key === 'csv')
      assert.equal(csv?.kind, 'link', `a link to the CSV: ${JSON.stringify(artifacts.items.map((a) => [a.key, a.kind]))}`)
      const url = (csv.data as { url: string }).url
      const rows = Number(/^(\d+) rows/.exec(csv.description ?? '')?.[1] ?? 0)
      assert.ok(rows > 0, `a CSV with rows: ${csv.description}`)
      assert.match(url, /^file:\/\/\/var\/lib\/rota\/lake\/.+\.csv$/)
      const dbt = artifacts.items.find((a) => a.key === 'dbt-results')
      const nodes = (dbt?.data as { rows?: Array<{ status: string }> } | undefined)?.rows ?? []
      assert.ok(nodes.length > 0 && nodes.every((n) => n.status === 'pass' || n.status === 'success'), `dbt built: ${dbt?.description}`)
      say(`  ${rows} rows in ${url}; ${dbt?.description}`)
      // The run's container is gone, its data is not: it is in the `data` volume (the agent mounts it too).
      const file = url.slice('file://'.length)
      const { stdout } = await compose(project, ['exec', '-T', 'agent', 'sh', '-c', `wc -l < '${file}' && ls /var/lib/rota`], { timeoutMs: 30_000 })
      assert.ok(Number(stdout.split('\n')[0]) > rows, `the CSV is in the volume (header + ${rows} rows): ${stdout}`)
    })
  })

  test('docker compose up --scale agent=2: each agent takes its container\'s name', async (t) => {
    await step(t, async () => {
      const before = (await api.listRuns({ limit: 100 })).items.map((r) => r.id).sort()
      const stopDriving = podman ? drivePodmanHealthChecks(docker, project.env.DOCKER_HOST!, name) : async () => undefined
      try {
        // --no-recreate: what Docker does anyway. Podman 4.3 reports a container's network by name
        // where compose expects its id, so without it compose would re-create every container (a
        // minute more here; nothing lost, the state is in the volumes).
        await composeStreaming(project, ['up', '--detach', '--wait', '--wait-timeout', '180', '--no-build', '--pull', 'never', '--no-recreate', '--scale', 'agent=2'], {
          timeoutMs: 240_000,
          onLine: (line) => (/Waiting|Healthy/.test(line) ? undefined : say(`  ${line}`)),
        })
      } finally {
        await stopDriving()
      }
      const { stdout } = await compose(project, ['port', 'server', '4200'])
      assert.equal(`http://${stdout.trim().split('\n')[0]!}`, api.baseUrl, 'the server was left alone')
      const active = await waitFor('two active agents', async () => {
        const names = (await api.listAgents()).items.filter((a) => a.status === 'active').map((a) => a.name).sort()
        return names.length === 2 ? names : undefined
      }, 30_000)
      assert.deepEqual(active, [`${name}-agent-1`, `${name}-agent-2`])
      const after = (await api.listRuns({ limit: 100 })).items.map((r) => r.id).sort()
      assert.deepEqual(after.filter((id) => before.includes(id)), before, 'every run is still there')
    })
  })

  test('docker compose down -v leaves nothing: containers, network, volumes', async (t) => {
    if (!docker || !project.env.DOCKER_HOST) return t.skip('no engine')
    if (failed) await printLogs()
    const at = Date.now()
    say('docker compose down -v ...')
    const leftovers = await takeDown()
    downDone = true
    say(`docker compose down -v: done in ${((Date.now() - at) / 1000).toFixed(1)} s`)
    assert.equal(leftovers, 0, 'the agent stopped its run containers itself')
    const containers = await docker.listContainers({ all: true, filters: { label: [`com.docker.compose.project=${name}`] } })
    assert.deepEqual(containers.map((c) => c.Names), [], 'no container of the project')
    const runContainers = await docker.listContainers({ all: true, filters: { label: [LABEL_MANAGED] } })
    assert.deepEqual(runContainers.filter((c) => c.Labels[LABEL_AGENT]?.startsWith(name)).map((c) => c.Names), [], 'no run container')
    const networks = await docker.listNetworks({ filters: { name: [name] } })
    assert.deepEqual(networks.map((n) => n.Name), [], 'no network')
    const { Volumes: volumes } = await docker.listVolumes()
    assert.deepEqual((volumes ?? []).map((v) => v.Name).filter((v) => v.startsWith(name)), [], 'no volume')
  })

  async function composePs(): Promise<Array<{ Service: string; State: string; Health: string; ExitCode: number }>> {
    const { stdout } = await compose(project, ['ps', '--all', '--format', 'json'])
    const text = stdout.trim()
    // Compose prints one JSON object a line (older versions: one array).
    return text.startsWith('[') ? JSON.parse(text) : text.split('\n').filter(Boolean).map((l) => JSON.parse(l))
  }
})

/** Python that counts .pyc files of the dbt virtualenvs whose recorded source mtime is not their source's. */
const STALE_BYTECODE = [
  'import glob, importlib.util, os, struct',
  'n = stale = 0',
  "for py in glob.glob('/app/.venv-dbt-*/lib/python3*/site-packages/**/*.py', recursive=True):",
  '  pyc = importlib.util.cache_from_source(py)',
  '  if not os.path.exists(pyc): continue',
  '  h = open(pyc, \'rb\').read(16); n += 1',
  "  stale += struct.unpack('<I', h[4:8])[0] == 0 and struct.unpack('<I', h[8:12])[0] != int(os.stat(py).st_mtime) & 0xFFFFFFFF",
  "print(f'stale bytecode: {stale} of {n}')",
].join('\n')

/** The host name the hello flow logged ("running on host <name>, ..."). */
function hostOf(messages: string[]): string {
  return /^running on host (\S+),/.exec(messages.find((m) => m.startsWith('running on host')) ?? '')?.[1] ?? '?'
}

function indent(text: string): string {
  return text.trim().split('\n').map((l) => `    ${l}`).join('\n')
}

/** The CA certificates this host added to its trust store (Debian's place for local CAs), concatenated. */
function extraCaCertificates(): string | undefined {
  const dir = '/usr/local/share/ca-certificates'
  const files = fs.existsSync(dir) ? fs.readdirSync(dir, { recursive: true }).map(String).filter((f) => f.endsWith('.crt')) : []
  return files.length ? files.map((f) => fs.readFileSync(path.join(dir, f), 'utf8').trim()).join('\n') : undefined
}

async function waitFor<T>(what: string, check: () => Promise<T | undefined>, timeoutMs: number, everyMs = 500): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let last: unknown
  for (;;) {
    try {
      const value = await check()
      if (value !== undefined) return value
    } catch (error) {
      last = error
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ''}`)
    await new Promise((r) => setTimeout(r, everyMs))
  }
}

function waitForRun(api: RotaClient, id: string, timeoutMs: number): Promise<FlowRun> {
  return waitFor(`run ${id} to end`, async () => {
    const run = await api.getRun(id)
    return TERMINAL.includes(run.state) ? run : undefined
  }, timeoutMs, 1_000)
}

/**
 * Podman runs health checks from systemd timers; where there is no systemd (containers, CI
 * sandboxes) they never run, and `service_healthy` never comes. This runs each not-yet-healthy
 * container's own check through podman's API (`GET /libpod/containers/{id}/healthcheck`) every
 * 2 s, as the timer would, until stopped. Docker runs its checks itself; this is for podman only.
 */
function drivePodmanHealthChecks(docker: Docker, dockerHost: string, projectName: string): () => Promise<void> {
  const socketPath = dockerHost.startsWith('unix://') ? dockerHost.slice('unix://'.length) : undefined
  let stopped = false
  const loop = (async () => {
    while (!stopped) {
      const running = await docker.listContainers({ filters: { label: [`com.docker.compose.project=${projectName}`], status: ['running'] } }).catch(() => [])
      for (const c of running) {
        const info = await docker.getContainer(c.Id).inspect().catch(() => undefined)
        const health = info?.State.Health?.Status
        if (!health || health === 'healthy') continue
        await new Promise<void>((resolve) => {
          const req = http.request({ socketPath, path: `/v4.0.0/libpod/containers/${c.Id}/healthcheck`, method: 'GET', timeout: 10_000 }, (res) => {
            res.resume()
            res.on('end', resolve)
          })
          req.on('error', () => resolve())
          req.on('timeout', () => req.destroy())
          req.end()
        })
      }
      await new Promise((r) => setTimeout(r, 2_000))
    }
  })()
  return async () => {
    stopped = true
    await loop
  }
}
