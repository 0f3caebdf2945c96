/**
 * The BRT pipeline as a Rota plugin (package.json "rota.plugins"): /api/brt for the dashboard,
 * `rota brt ...`, the GPS simulator for `rota up --simulate`, the environment its flow reads, and
 * the dashboard's BRT page. The flow itself (flow.ts) is registered like any flow ("rota.flows").
 * Heavy modules (DuckDB, Google Cloud) load when a route, a command or the simulator needs them.
 */
import { definePlugin, type DevService } from '#rota/plugin.ts'
import { BRT_ENV, resolveBrtSettings } from './settings.ts'

const simulator: DevService = {
  name: 'BRT GPS simulator',
  options: [
    { flags: '--simulate', description: 'start the BRT GPS simulator and point the pipeline at it (offline demo)' },
    {
      flags: '--simulator-port <port>',
      description: 'port for the simulator',
      defaultValue: 8090,
      parse: (raw) => {
        const n = Number(raw)
        if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`--simulator-port must be a port number (0-65535), got "${raw}"`)
        return n
      },
    },
  ],
  async start(options, { log }) {
    const { startSimulator } = await import('./simulator.ts')
    const sim = await startSimulator({ port: Number(options.simulatorPort ?? 8090) })
    log(`BRT simulator serving ${sim.url}`)
    // The runs of the agent `rota up` starts capture from the simulator.
    return { env: { BRT_API_URL: sim.url }, close: () => sim.close() }
  },
  offNote: ({ env, config }) => `The BRT pipeline captures from ${resolveBrtSettings(env, { home: config.home }).brtApiUrl}; offline, use npm start -- --simulate.`,
}

export default definePlugin({
  name: 'brt',
  description: 'The Rio BRT GPS pipeline',
  async routes(app, { env, config }) {
    const { addBrtRoutes } = await import('./api.ts')
    addBrtRoutes(app, resolveBrtSettings(env, { home: config.home }))
  },
  async commands(program) {
    const { registerBrtCommands } = await import('./cli.ts')
    registerBrtCommands(program)
  },
  devServices: [simulator],
  env: BRT_ENV,
  dashboard: './ui/index.tsx',
})
