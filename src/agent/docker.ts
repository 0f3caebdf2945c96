/**
 * The Docker launcher: each flow run in its own container, through the Docker Engine API.
 *
 * Glossary
 * - **our container**: one labelled `rota.managed=true`; `rota.agent` names the agent that owns it and
 *   `rota.flow-run-id` the run inside. Labels are the only state: an agent that restarts finds its
 *   containers by label, so nothing is lost when the agent process dies.
 * - **adopt**: a restarted agent takes over watching a container a previous process of the same agent
 *   started (its output, its exit, its removal).
 *
 * Life of a container: create (named after the run, so one run can't get two containers) -> start ->
 * follow its logs into the run's output (the agent's, src/agent/output.ts) -> wait for its exit ->
 * inspect (OOM kill) -> remove. `AutoRemove`
 * stays off on purpose: with it the engine may delete the container before we have read its exit
 * code and its last lines.
 */
import fs from 'node:fs'
import os from 'node:os'
import { PassThrough } from 'node:stream'
import Docker from 'dockerode'
import type { ClaimedRun, ExitInfo, LaunchedRun, Launcher } from './launcher.ts'
import { readLines, type OutputStream, type RunOutputSink } from './output.ts'
import { retry } from '../core/backoff.ts'
import { RUN_TOKEN_ENV } from '../core/auth.ts'
import { parseEntrypoint } from '../entrypoint.ts'

export const LABEL_MANAGED = 'rota.managed'
export const LABEL_FLOW_RUN_ID = 'rota.flow-run-id'
export const LABEL_FLOW_RUN_NAME = 'rota.flow-run-name'
export const LABEL_FLOW_NAME = 'rota.flow-name'
export const LABEL_AGENT = 'rota.agent'
export const LABEL_AGENT_ID = 'rota.agent-id'

/** Where the project lives inside the image (the Dockerfile's WORKDIR), and where a host checkout is mounted. */
export const CONTAINER_PROJECT_DIR = '/app'
export const RUN_CHILD_COMMAND: readonly string[] = ['node', 'bin/rota.js', 'internal', 'run-child']

/**
 * Settings every flow run reads from its environment. A local agent's children inherit the agent's
 * environment; a container starts empty, so the agent forwards these and the ones the plugins name
 * (their `env`: lake, warehouse, credentials path...), when set, through `env`.
 * ROTA_HOME is not among them: a host path means nothing in the container (the image sets its own).
 */
export const FORWARDED_ENV: readonly string[] = ['TZ', 'ROTA_REPORT_GIVE_UP']

/** The variables of FORWARDED_ENV and `names` that are set (and not empty) in `env`. */
export function forwardedEnv(env: NodeJS.ProcessEnv, names: readonly string[] = []): Record<string, string> {
  const result: Record<string, string> = {}
  for (const name of new Set([...FORWARDED_ENV, ...names])) {
    const value = env[name]
    if (value !== undefined && value !== '') result[name] = value
  }
  return result
}

export interface DockerLauncherOptions {
  /** The image that holds the project at /app (see the Dockerfile). */
  image: string
  /** The agent's stable name: labels our containers, and `reconcile` finds a previous process's containers by it. */
  agentName: string
  /**
   * Network for the run containers: `host`, `bridge`, or a network name (for example the compose
   * project's network, so `http://server:4200` resolves). Default: the engine's default (bridge).
   */
  network?: string | undefined
  /**
   * The server address the containers will get (ROTA_API_URL). When given, an address the
   * containers can't reach (loopback without `--network host`) fails here, at agent start.
   */
  apiUrl?: string | undefined
  /** Extra bind mounts, `host:container[:options]` as in `docker run -v`. */
  volumes?: readonly string[] | undefined
  /**
   * A host folder mounted at /app (read-only): runs the project from a checkout instead of from the
   * image. For development and tests; in production the image holds the project.
   */
  projectDir?: string | undefined
  /** Extra environment for every run container (the run's own variables win). */
  env?: Readonly<Record<string, string>> | undefined
  /** Seconds between SIGTERM and SIGKILL when a run is cancelled. Default 10. */
  stopTimeoutSeconds?: number | undefined
  /** Problems the launcher works around (a container it could not remove...). Default: stderr. */
  onWarning?: ((message: string) => void) | undefined
  /** The Docker Engine client. Default: `new Docker()`, which honours DOCKER_HOST (and DOCKER_TLS_VERIFY, DOCKER_CERT_PATH). */
  docker?: Docker | undefined
  /** Command run in the container. Default: `node bin/rota.js internal run-child`. */
  command?: readonly string[] | undefined
}

export class DockerLauncherError extends Error {
  override name = 'DockerLauncherError'
}

export class DockerLauncher implements Launcher {
  readonly type = 'docker' as const
  /** The name our containers are labelled with; the agent must register under the same name. */
  readonly agentName: string
  private readonly docker: Docker
  private readonly options: DockerLauncherOptions
  private readonly stopTimeoutSeconds: number
  private readonly warn: (message: string) => void
  private engineChecked = false
  /** Where each watched container's lines go (the launcher's own notes about it too). */
  private readonly outputs = new Map<string, RunOutputSink>()

  constructor(options: DockerLauncherOptions) {
    if (!options.image) throw new DockerLauncherError('The Docker agent needs an image: pass --image IMAGE (an image built from the project Dockerfile)')
    if (!options.agentName) throw new DockerLauncherError('The Docker launcher needs the agent name (it labels the containers with it)')
    for (const volume of options.volumes ?? []) parseVolume(volume)
    if (options.apiUrl) checkApiUrlReachableFromContainer(options.apiUrl, options.network)
    this.options = options
    this.agentName = options.agentName
    this.docker = options.docker ?? new Docker()
    this.stopTimeoutSeconds = options.stopTimeoutSeconds ?? 10
    this.warn = options.onWarning ?? ((message) => process.stderr.write(`rota docker launcher: ${message}\n`))
  }

  /**
   * Checks that the engine answers and the image exists; throws an error that says what to do.
   * Called by `reconcile` (once, at agent start) and before the first launch.
   */
  async checkEngine(): Promise<void> {
    if (this.engineChecked) return
    try {
      await this.docker.ping()
    } catch (error) {
      throw new DockerLauncherError(
        `Cannot reach the Docker engine (DOCKER_HOST=${process.env.DOCKER_HOST ?? 'unset: /var/run/docker.sock'}): ${errorMessage(error)}. ` +
          'Start Docker, or set DOCKER_HOST to its socket (unix:///path or tcp://host:port).',
        { cause: error },
      )
    }
    await this.ensureImage()
    this.engineChecked = true
  }

  async launch(run: ClaimedRun, env: Record<string, string>, output: RunOutputSink): Promise<LaunchedRun> {
    // The image's files are out of sight here: the entrypoint's text is checked, and the run process
    // checks its real path against its own project root (/app) before it imports.
    parseEntrypoint(run.entrypoint)
    await this.checkEngine()
    const apiUrl = env.ROTA_API_URL
    if (apiUrl) checkApiUrlReachableFromContainer(apiUrl, this.options.network)
    const name = containerName(run.id)
    const createOptions: Docker.ContainerCreateOptions = {
      name,
      Image: this.options.image,
      Cmd: [...(this.options.command ?? RUN_CHILD_COMMAND)],
      WorkingDir: CONTAINER_PROJECT_DIR,
      Env: Object.entries({ ...this.options.env, ...env }).map(([key, value]) => `${key}=${value}`),
      Labels: {
        [LABEL_MANAGED]: 'true',
        [LABEL_FLOW_RUN_ID]: run.id,
        [LABEL_FLOW_RUN_NAME]: run.name,
        [LABEL_FLOW_NAME]: run.flowName,
        [LABEL_AGENT]: this.agentName,
        ...(env.ROTA_AGENT_ID ? { [LABEL_AGENT_ID]: env.ROTA_AGENT_ID } : {}),
      },
      // The image's HEALTHCHECK is the server's; a run's container has no API to ask (the agent watches it).
      Healthcheck: { Test: ['NONE'] },
      Tty: false,
      AttachStdin: false,
      AttachStdout: true,
      AttachStderr: true,
      HostConfig: {
        // An init process as PID 1 forwards SIGTERM to node and reaps zombies (dbt spawns children):
        // node as PID 1 ignores SIGTERM, so every cancel would wait for the SIGKILL timeout.
        Init: true,
        AutoRemove: false,
        Binds: [
          ...(this.options.projectDir ? [`${this.options.projectDir}:${CONTAINER_PROJECT_DIR}:ro`] : []),
          ...(this.options.volumes ?? []),
        ],
        ...(this.options.network ? { NetworkMode: this.options.network } : {}),
      },
    }
    let container = await this.createContainer(createOptions)
    try {
      await container.start()
    } catch (first) {
      // Engines fail a start now and then for reasons of their own (runc's "write child: broken pipe"
      // under load): one fresh container is worth a try before the run is declared crashed.
      await this.removeContainer(container, run.id)
      this.options.onWarning?.(`run ${run.id}: the engine could not start its container (${errorMessage(first)}); trying once more`)
      await new Promise((r) => setTimeout(r, 500))
      container = await this.createContainer(createOptions)
      try {
        await container.start()
      } catch (error) {
        await this.removeContainer(container, run.id)
        throw new DockerLauncherError(`Could not start the container for run ${run.id}: ${errorMessage(error)}`, { cause: error })
      }
    }
    return this.watch(container, run.id, output, { followLogsSince: 0 })
  }

  /**
   * Adopts or cleans what a previous process of this agent left. Running containers are adopted:
   * their runs come back with a LaunchedRun the agent keeps watching. Containers that already ended
   * (or never started) are removed, and their runs come back with `exited` already settled, so the
   * agent records their end like any other (non-zero or null exit: crashed).
   */
  async reconcile(agentName: string, outputFor: (flowRunId: string, token: string | undefined) => RunOutputSink): Promise<Array<{ flowRunId: string; launched: LaunchedRun; token: string | undefined }>> {
    await this.checkEngine()
    const found = await this.docker.listContainers({
      all: true,
      filters: { label: [`${LABEL_MANAGED}=true`, `${LABEL_AGENT}=${agentName}`] },
    })
    const result: Array<{ flowRunId: string; launched: LaunchedRun; token: string | undefined }> = []
    for (const info of found) {
      const flowRunId = info.Labels?.[LABEL_FLOW_RUN_ID]
      // Engines differ on combining label filters; check both labels again rather than trust the filter.
      if (!flowRunId || info.Labels?.[LABEL_MANAGED] !== 'true' || info.Labels?.[LABEL_AGENT] !== agentName) continue
      const container = this.docker.getContainer(info.Id)
      // The run's token is in the container's environment: the agent needs it to settle the run.
      const token = await this.runTokenOf(container)
      if (info.State === 'running' || info.State === 'paused') {
        if (info.State === 'paused') await container.unpause().catch(() => undefined)
        // Lines printed while no agent watched were reported by the child itself; take new lines only.
        result.push({ flowRunId, token, launched: this.watch(container, flowRunId, outputFor(flowRunId, token), { followLogsSince: Math.floor(Date.now() / 1000) }) })
        continue
      }
      const exit = info.State === 'created' ? { exitCode: null, signal: null } : await this.exitOf(container)
      await this.removeContainer(container, flowRunId)
      result.push({ flowRunId, token, launched: { exited: Promise.resolve(exit), stop: async () => undefined } })
    }
    return result
  }

  /** Follows a started container to its end: lines to the run's output, exit code read, container removed. */
  private watch(container: Docker.Container, flowRunId: string, sink: RunOutputSink, { followLogsSince }: { followLogsSince: number }): LaunchedRun {
    this.outputs.set(container.id, sink)
    const output = this.followOutput(container, flowRunId, followLogsSince, sink)
    let stopping: Promise<void> | undefined
    const exited = (async (): Promise<ExitInfo> => {
      const statusCode = await this.waitForExit(container, flowRunId)
      // The log stream ends shortly after the container; don't let an engine that keeps it open hold the run.
      await Promise.race([output, delay(5_000)])
      const exit = await this.exitOf(container, statusCode)
      await this.removeContainer(container, flowRunId)
      this.outputs.delete(container.id)
      return exit
    })()
    return {
      exited,
      stop: (reason: string) => {
        stopping ??= this.stopContainer(container, flowRunId, reason, exited)
        return stopping
      },
    }
  }

  private async stopContainer(container: Docker.Container, flowRunId: string, reason: string, exited: Promise<ExitInfo>): Promise<void> {
    this.outputs.get(container.id)?.line({ line: `[rota agent] stopping container ${container.id.slice(0, 12)}: ${reason}`, stream: 'stdout', time: new Date() })
    try {
      // SIGTERM, then SIGKILL after the timeout: the engine does both.
      await container.stop({ t: this.stopTimeoutSeconds })
    } catch (error) {
      const status = statusCodeOf(error)
      if (status !== 304 && status !== 404) {
        this.warn(`could not stop container ${container.id.slice(0, 12)} of run ${flowRunId} (${errorMessage(error)}); killing it`)
        await container.kill().catch((killError: unknown) => {
          if (![404, 409].includes(statusCodeOf(killError) ?? 0)) this.warn(`could not kill container ${container.id.slice(0, 12)}: ${errorMessage(killError)}`)
        })
      }
    }
    // Returns once the container is gone, so a cancelled run never outlives its state.
    await Promise.race([exited.then(() => undefined), delay((this.stopTimeoutSeconds + 10) * 1000)])
  }

  private followOutput(container: Docker.Container, flowRunId: string, since: number, sink: RunOutputSink): Promise<void> {
    return (async () => {
      const raw = (await container.logs({ follow: true, stdout: true, stderr: true, timestamps: true, since })) as NodeJS.ReadableStream
      const stdout = new PassThrough()
      const stderr = new PassThrough()
      this.docker.modem.demuxStream(raw, stdout, stderr)
      const ended = new Promise<void>((resolve) => {
        raw.on('end', resolve)
        raw.on('close', resolve)
        raw.on('error', resolve)
      })
      void ended.then(() => {
        stdout.end()
        stderr.end()
      })
      // Lines of any length, with bounded memory; the engine's timestamp opens each line.
      const follow = (stream: PassThrough, name: OutputStream) =>
        readLines(stream, (raw) => {
          const { time, line } = splitTimestamp(raw)
          sink.line({ line, stream: name, time })
        })
      await Promise.all([follow(stdout, 'stdout'), follow(stderr, 'stderr')])
    })().catch((error: unknown) => {
      if (statusCodeOf(error) !== 404) this.warn(`lost the output of run ${flowRunId}: ${errorMessage(error)}`)
    })
  }

  /** The container's exit status code; undefined when the engine could not tell (engine restarted, container gone). */
  private async waitForExit(container: Docker.Container, flowRunId: string): Promise<number | undefined> {
    try {
      // A dropped connection is not the end of the container: wait again, a few times.
      const result = (await retry(() => container.wait(), {
        policy: { baseMs: 1000, maxMs: 8000 },
        attempts: 5,
        retryable: (error) => statusCodeOf(error) !== 404,
      })) as { StatusCode?: number }
      return typeof result.StatusCode === 'number' ? result.StatusCode : undefined
    } catch (error) {
      if (statusCodeOf(error) !== 404) this.warn(`gave up waiting for the container of run ${flowRunId}: ${errorMessage(error)}`)
      return undefined
    }
  }

  /**
   * The exit code as the engine reports it (a container killed by signal N exits 128+N: 137 is
   * SIGKILL). An out-of-memory kill is reported as a signal, with the reason, since that is what
   * the user must act on. Unknown (engine lost it, never started): both null, which agents treat as a crash.
   */
  private async runTokenOf(container: Docker.Container): Promise<string | undefined> {
    const env = (await container.inspect().catch(() => undefined))?.Config?.Env ?? []
    const prefix = `${RUN_TOKEN_ENV}=`
    return env.find((e) => e.startsWith(prefix))?.slice(prefix.length)
  }

  private async exitOf(container: Docker.Container, statusCode?: number): Promise<ExitInfo> {
    let info: Docker.ContainerInspectInfo | undefined
    try {
      info = await container.inspect()
    } catch {
      // gone: nothing more to learn
    }
    if (info?.State.OOMKilled) return { exitCode: null, signal: 'SIGKILL (out of memory)' }
    const code = statusCode ?? info?.State.ExitCode
    return code === undefined ? { exitCode: null, signal: null } : { exitCode: code, signal: null }
  }

  private async createContainer(createOptions: Docker.ContainerCreateOptions): Promise<Docker.Container> {
    try {
      return await this.docker.createContainer(createOptions)
    } catch (error) {
      const status = statusCodeOf(error)
      if (status === 409 && createOptions.name) {
        // A container of this run already exists: a leftover of an earlier attempt unless it still runs.
        const existing = this.docker.getContainer(createOptions.name)
        const info = await existing.inspect().catch(() => undefined)
        if (info?.State.Running) {
          throw new DockerLauncherError(`Run ${createOptions.Labels?.[LABEL_FLOW_RUN_ID]} already has a running container (${createOptions.name})`, { cause: error })
        }
        await existing.remove({ force: true }).catch(() => undefined)
        return this.docker.createContainer(createOptions)
      }
      if (status === 404) {
        throw new DockerLauncherError(`Image ${createOptions.Image} not found: build it (docker build -t ${createOptions.Image} .) or pull it`, { cause: error })
      }
      throw new DockerLauncherError(`Could not create a container from ${createOptions.Image}: ${errorMessage(error)}`, { cause: error })
    }
  }

  private async ensureImage(): Promise<void> {
    const image = this.options.image
    try {
      await this.docker.getImage(image).inspect()
      return
    } catch (error) {
      if (statusCodeOf(error) !== 404) throw new DockerLauncherError(`Could not inspect image ${image}: ${errorMessage(error)}`, { cause: error })
    }
    try {
      const progress = await this.docker.pull(image)
      const events = await new Promise<Array<{ error?: string }>>((resolve, reject) => {
        this.docker.modem.followProgress(progress, (error: Error | null, output: Array<{ error?: string }>) => (error ? reject(error) : resolve(output)))
      })
      // A failed pull still answers 200: the error is an event in the stream.
      const failed = events.find((event) => event.error)
      if (failed) throw new Error(failed.error)
      await this.docker.getImage(image).inspect()
    } catch (error) {
      throw new DockerLauncherError(
        `Image ${image} is not on this Docker engine and pulling it failed (${errorMessage(error)}). Build it with "docker build -t ${image} ." or push it to a registry this engine can reach.`,
        { cause: error },
      )
    }
  }

  private async removeContainer(container: Docker.Container, flowRunId: string): Promise<void> {
    try {
      await container.remove({ force: true })
    } catch (error) {
      if (statusCodeOf(error) === 404) return
      // 409: the engine is already removing it.
      if (statusCodeOf(error) === 409) return
      this.warn(`could not remove container ${container.id.slice(0, 12)} of run ${flowRunId}: ${errorMessage(error)}; the next agent start removes it`)
    }
  }

}

/**
 * The name of the container this process runs in, when it runs in one on the engine it talks to: an
 * agent started by docker-compose.yml is `rota-agent-1` (and `rota-agent-2`... with --scale), a name
 * stable across restarts and re-creations and unique per replica, as an agent's name must be.
 * Undefined outside a container, or when the engine does not know this host name as a container.
 */
export async function ownContainerName(docker: Docker): Promise<string | undefined> {
  if (!fs.existsSync('/.dockerenv') && !fs.existsSync('/run/.containerenv')) return undefined
  try {
    // Engines set a container's host name to its short id unless told otherwise.
    const info = await docker.getContainer(os.hostname()).inspect()
    return info.Name.replace(/^\//, '') || undefined
  } catch {
    return undefined
  }
}

/** One container per run: the name makes a second create for the same run fail instead of running it twice. */
export function containerName(flowRunId: string): string {
  return `rota-run-${flowRunId.replace(/[^a-zA-Z0-9_.-]/g, '-')}`
}

/**
 * A server on the agent's loopback is unreachable from a container on a bridge network (there
 * 127.0.0.1 is the container itself): fail with what to do instead of a run that can't report.
 */
export function checkApiUrlReachableFromContainer(apiUrl: string, network: string | undefined): void {
  if (network === 'host') return
  let hostname: string
  try {
    hostname = new URL(apiUrl).hostname
  } catch {
    throw new DockerLauncherError(`ROTA_API_URL is not a URL: "${apiUrl}"`)
  }
  if (hostname === 'localhost' || hostname === '[::1]' || hostname === '::1' || hostname.startsWith('127.')) {
    throw new DockerLauncherError(
      `The server address ${apiUrl} is the loopback, which inside a container is the container itself. ` +
        'Start the agent with --network host, or set ROTA_API_URL to an address containers can reach ' +
        '(with --network NAME, the server\'s name on that network, e.g. http://server:4200).',
    )
  }
}

/** `host:container[:options]`, as `docker run -v` takes it. */
export function parseVolume(spec: string): { host: string; container: string; options: string | undefined } {
  const [host, container, options, ...rest] = spec.split(':')
  if (!host || !container || rest.length > 0 || !container.startsWith('/')) {
    throw new DockerLauncherError(`--volume must be host:container[:ro|rw] with an absolute container path, got "${spec}"`)
  }
  return { host, container, options }
}

function splitTimestamp(rawLine: string): { time: Date; line: string } {
  // With timestamps: "2024-05-01T12:00:00.123456789Z message"
  const space = rawLine.indexOf(' ')
  if (space > 0) {
    const time = new Date(rawLine.slice(0, space))
    if (!Number.isNaN(time.getTime())) return { time, line: rawLine.slice(space + 1) }
  }
  return { time: new Date(), line: rawLine }
}

function statusCodeOf(error: unknown): number | undefined {
  const status = (error as { statusCode?: unknown } | null)?.statusCode
  return typeof status === 'number' ? status : undefined
}

function errorMessage(error: unknown): string {
  if (error instanceof Error) {
    const json = (error as { json?: { message?: string } }).json
    return json?.message ?? error.message
  }
  return String(error)
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref())
}
