/** `rota up`: server, local agent and the project's flows in one command (`npm start`). */
import { resolveConfig } from '../config.ts'
import { RotaClient } from '../client/index.ts'
import { startServer } from '../server/index.ts'
import { startAgent } from './agent.ts'
import { registerFile } from './register.ts'
import { paint } from './output.ts'
import { resolveBrtSettings } from '../../pipelines/brt/settings.ts'

export interface UpOptions {
  host?: string | undefined
  port?: number | undefined
  simulate?: boolean | undefined
  simulatorPort: number
  concurrency: number
  agent: boolean
  flows: string[]
  root: string
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
    console.log(`\n${signal}: stopping agent, server and simulator (again to force)`)
    void stopAll().then(() => process.exit(0))
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)

  try {
    if (options.simulate) {
      const { startSimulator } = await import('../../pipelines/brt/simulator.ts')
      const sim = await startSimulator({ port: options.simulatorPort })
      stops.push(() => sim.close())
      // Agents' run processes inherit this: the pipeline captures from the simulator.
      process.env.BRT_API_URL = sim.url
      console.log(`BRT simulator serving ${paint(sim.url, 36)}`)
    }
    let config = resolveConfig(process.env, { ...(options.host ? { host: options.host } : {}), ...(options.port !== undefined ? { port: options.port } : {}) })
    const server = await startServer(config)
    stops.push(() => server.close())
    config = resolveConfig(process.env, { ...config, apiUrl: server.url })
    const client = new RotaClient(server.url, config.apiKey)
    for (const file of options.flows) {
      for (const r of await registerFile(client, file, options.root)) console.log(`flow ${paint(r.name, 1)} ${r.status} (${r.scheduleText})`)
    }
    if (options.agent) {
      const agent = await startAgent(config, { type: 'local', label: [], concurrency: options.concurrency, volume: [], root: options.root })
      stops.push(() => agent.stop())
    }
    console.log(`\nRota is up. Dashboard: ${paint(server.url, 36)}   API: ${server.url}/api/openapi.json   Ctrl-C stops.`)
    if (!options.simulate) console.log(`The BRT pipeline captures from ${resolveBrtSettings(process.env).brtApiUrl}; offline, use ${paint('npm start -- --simulate', 1)}.`)
  } catch (err) {
    await stopAll()
    throw err
  }
}
