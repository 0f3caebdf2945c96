/** `rota up`: server, local agent and the project's flows in one command (`npm start`). */
import { resolveConfig } from '../config.ts'
import { RotaClient } from '../client/index.ts'
import { startServer } from '../server/index.ts'
import type { DevService, LoadedPlugin } from '../plugin.ts'
import { startAgent } from './agent.ts'
import { registerFile } from './register.ts'
import { paint } from './output.ts'

/** A plugin's development service and the name of the `rota up` option that switches it on. */
export interface DevServiceSwitch {
  service: DevService
  switchName: string
}

export interface UpOptions {
  host?: string | undefined
  port?: number | undefined
  concurrency: number
  agent: boolean
  flows: string[]
  root: string
  plugins: readonly LoadedPlugin[]
  services: readonly DevServiceSwitch[]
  /** Every option of the command line, the services' own among them. */
  options: Readonly<Record<string, unknown>>
}

export async function up(options: UpOptions): Promise<void> {
  const stops: (() => Promise<void>)[] = []
  const stopAll = async () => {
    for (const stop of stops.reverse()) await stop().catch((err: Error) => console.error(err.message))
  }
  let shuttingDown = false
  const onSignal = (signal: string) => {
    if (shuttingDown) process.exit(130)
    shuttingDown = true
    console.log(`\n${signal}: stopping agent, server and services (again to force)`)
    void stopAll().then(() => process.exit(0))
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)

  try {
    let config = resolveConfig(process.env, { ...(options.host ? { host: options.host } : {}), ...(options.port !== undefined ? { port: options.port } : {}) })
    const context = { config, env: process.env }
    // What the services started for this session give the runs (the simulator's address): passed to
    // the agent below, never written into this process's environment.
    const runEnv: Record<string, string> = {}
    const notes: string[] = []
    for (const { service, switchName } of options.services) {
      if (!options.options[switchName]) {
        const note = service.offNote?.(context)
        if (note) notes.push(note)
        continue
      }
      const running = await service.start(options.options, { ...context, log: (line) => console.log(line) })
      stops.push(() => running.close())
      Object.assign(runEnv, running.env)
    }
    const server = await startServer(config, { plugins: options.plugins })
    stops.push(() => server.close())
    config = resolveConfig(process.env, { ...config, apiUrl: server.url })
    const client = new RotaClient(server.url, config.apiKey)
    for (const file of options.flows) {
      for (const r of await registerFile(client, file, options.root)) console.log(`flow ${paint(r.name, 1)} ${r.status} (${r.scheduleText})`)
    }
    if (options.agent) {
      const agent = await startAgent(config, { type: 'local', label: [], concurrency: options.concurrency, volume: [], root: options.root, env: runEnv })
      stops.push(() => agent.stop())
    }
    console.log(`\nRota is up. Dashboard: ${paint(server.url, 36)}   API: ${server.url}/api/openapi.json   Ctrl-C stops.`)
    for (const note of notes) console.log(note)
  } catch (err) {
    await stopAll()
    throw err
  }
}
