/** `rota agent start`: an agent with a local or docker launcher (the agent forwards each run's output to its logs). */
import type { RotaConfig } from '../config.ts'
import { RotaClient } from '../client/index.ts'
import { Agent } from '../agent/agent.ts'
import { LocalLauncher } from '../agent/local.ts'
import type { Launcher } from '../agent/launcher.ts'
import type { OutputLine } from '../agent/output.ts'
import { terminalSafe } from '../core/text.ts'

export interface StartAgentOptions {
  type: 'local' | 'docker'
  name?: string | undefined
  label: string[]
  concurrency: number
  image?: string | undefined
  network?: string | undefined
  volume: string[]
  root: string
  /** Extra environment for every run (what `rota up`'s services give the runs). */
  env?: Readonly<Record<string, string>> | undefined
  /** Variables of this process's environment that reach run containers (the plugins' `env`). */
  forwardEnv?: readonly string[] | undefined
  /** Where agent lines go; default the terminal. */
  log?: (line: string) => void
}

export async function startAgent(config: RotaConfig, options: StartAgentOptions): Promise<Agent> {
  const client = new RotaClient(config.apiUrl, config.apiKey)
  let launcher: Launcher
  let echo: ((o: OutputLine & { flowRunId: string }) => void) | undefined
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
      // settings the plugins' flows read (lake, warehouse, credentials path) reach the run containers
      env: forwardedEnv(process.env, options.forwardEnv ?? []),
    })
    // A container's lines are on the agent's console too: `docker logs` no longer has them once it is removed.
    echo = (o) => log(`[${o.flowRunId}] ${o.stream}: ${terminalSafe(o.line)}`)
  } else {
    launcher = new LocalLauncher({ projectRoot: options.root })
  }
  const agent = new Agent({
    client,
    launcher,
    name: name ?? (options.type === 'docker' ? (launcher as { agentName?: string }).agentName : undefined),
    labels: options.label,
    concurrency: options.concurrency,
    ...(options.env ? { env: { ...options.env } } : {}),
    apiKey: config.apiKey,
    onOutput: echo,
    ...(options.log ? { log: options.log } : {}),
  })
  await agent.start()
  return agent
}
