/** `rota agent start`: an agent with a local or docker launcher, whose run output becomes run logs. */
import type { RotaConfig } from '../config.ts'
import { RotaClient } from '../client/index.ts'
import { Agent } from '../agent/agent.ts'
import { LocalLauncher } from '../agent/local.ts'
import type { Launcher } from '../agent/launcher.ts'

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
    const { DockerLauncher, forwardedEnv } = await import('../agent/docker.ts')
    const log = options.log ?? ((line: string) => console.log(line))
    launcher = new DockerLauncher({
      image: options.image,
      agentName: name ?? `docker-agent-${(await import('node:os')).hostname()}`,
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

/** Output a run's process printed outside its tasks goes to the run's logs, batched per run. */
function outputForwarder(client: RotaClient): (flowRunId: string, line: string, stream: 'stdout' | 'stderr') => void {
  const queues = new Map<string, { seq: number; lines: { seq: number; time: string; level: 'info' | 'error'; message: string }[]; timer?: NodeJS.Timeout }>()
  return (flowRunId, line, stream) => {
    if (line.trim() === '') return
    let q = queues.get(flowRunId)
    if (!q) {
      q = { seq: 0, lines: [] }
      queues.set(flowRunId, q)
    }
    q.lines.push({ seq: q.seq++, time: new Date().toISOString(), level: stream === 'stderr' ? 'error' : 'info', message: line.slice(0, 60_000) })
    const queue = q
    queue.timer ??= setTimeout(() => {
      queue.timer = undefined
      const batch = queue.lines.splice(0)
      client.postLogs(flowRunId, 'agent-output', batch).catch(() => undefined)
    }, 100)
  }
}
