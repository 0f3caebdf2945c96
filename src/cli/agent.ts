/** `rota agent start`: an agent with a local or docker launcher, whose run output becomes run logs. */
import type { RotaConfig } from '../config.ts'
import { RotaClient } from '../client/index.ts'
import { Agent } from '../agent/agent.ts'
import { LocalLauncher } from '../agent/local.ts'
import type { Launcher } from '../agent/launcher.ts'
import { ServerReporter } from '../agent/reporter.ts'

export interface StartAgentOptions {
  type: 'local' | 'docker'
  name?: string | undefined
  label: string[]
  concurrency: number
  image?: string | undefined
  network?: string | undefined
  volume: string[]
  root: string
  /** Where agent lines go; default the terminal. */
  log?: (line: string) => void
}

export async function startAgent(config: RotaConfig, options: StartAgentOptions): Promise<Agent> {
  const client = new RotaClient(config.apiUrl, config.apiKey)
  const forward = outputForwarder(client)
  let launcher: Launcher
  const name = options.name ?? undefined
  if (options.type === 'docker') {
    if (!options.image) throw new Error('a docker agent needs --image IMAGE: the image that holds the project (see the Dockerfile)')
    const { DockerLauncher, forwardedEnv, ownContainerName } = await import('../agent/docker.ts')
    const { default: Docker } = await import('dockerode')
    const docker = new Docker()
    const log = options.log ?? ((line: string) => console.log(line))
    launcher = new DockerLauncher({
      docker,
      image: options.image,
      // In a container of its own (docker-compose.yml), the agent takes that container's name.
      agentName: name ?? (await ownContainerName(docker)) ?? `docker-agent-${(await import('node:os')).hostname()}`,
      network: options.network,
      volumes: options.volume,
      apiUrl: config.apiUrl,
      // settings the pipeline reads (lake, warehouse, credentials path) reach the run containers
      env: forwardedEnv(process.env),
      // each run's container output goes to its logs through a per-run reporter (survives agent restarts)
      client,
      onOutput: (o) => log(`[${o.flowRunId}] ${o.stream}: ${o.line}`),
    })
  } else {
    launcher = new LocalLauncher({ projectRoot: options.root, onOutput: forward })
  }
  const agent = new Agent({
    client,
    launcher,
    name: name ?? (options.type === 'docker' ? (launcher as { agentName?: string }).agentName : undefined),
    labels: options.label,
    concurrency: options.concurrency,
    apiKey: config.apiKey,
    ...(options.log ? { log: options.log } : {}),
  })
  await agent.start()
  return agent
}

/**
 * Output a run's process printed outside its tasks goes to the run's logs, through the same ordered,
 * retried reporter the run process itself uses (one per run, so sequence numbers never collide).
 */
function outputForwarder(client: RotaClient): (flowRunId: string, line: string, stream: 'stdout' | 'stderr') => void {
  const reporters = new Map<string, ServerReporter>()
  return (flowRunId, line, stream) => {
    if (line.trim() === '') return
    let reporter = reporters.get(flowRunId)
    if (!reporter) {
      reporter = new ServerReporter(client, flowRunId)
      reporters.set(flowRunId, reporter)
    }
    reporter.log(stream === 'stderr' ? 'error' : 'info', line, undefined)
  }
}
