/**
 * Plugins: how a pipeline joins Rota without Rota knowing it. The core (`src/`) imports nothing
 * from `pipelines/` (an ESLint rule keeps it so); a pipeline declares what it adds in one object,
 * and the project lists its plugins in package.json:
 *
 *   "rota": { "plugins": ["pipelines/brt/plugin.ts"] }
 *
 * What a plugin may add, and where it lands:
 * - **routes**: mounted under `/api/<name>`, behind the core's API key check, body limit, input
 *   validation and error handler (errors are `{ error: { message } }`; throw `HttpError` for a status).
 *   They appear in `/api/openapi.json`.
 * - **commands**: subcommands of `rota`.
 * - **devServices**: things `rota up` starts on request (a simulator); the environment a service
 *   returns reaches the runs of the agent that `rota up` starts, never `process.env`.
 * - **env**: names of environment variables its flows read; the Docker agent forwards them to run
 *   containers (local run processes inherit the agent's environment anyway).
 * - **dashboard**: a module, relative to the plugin file, whose default export lists dashboard
 *   pages (`src/ui/plugins.ts`); `npm run build:ui` bundles it into the dashboard.
 *
 * Loaded once at the edge (the CLI, a test) and passed down, like the configuration.
 */
import fs from 'node:fs'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import type { Command } from 'commander'
import { OpenAPIHono } from '@hono/zod-openapi'
import type { RotaConfig } from './config.ts'
import { ConfigError } from './config.ts'
import { onError, validationHook } from './server/api/errors.ts'

export { HttpError, onError } from './server/api/errors.ts'
export { ErrorSchema } from './core/contract.ts'

export interface PluginContext {
  readonly config: RotaConfig
  /** The environment Rota's configuration was resolved from: a plugin resolves its own settings from it. */
  readonly env: NodeJS.ProcessEnv
}

export interface DevServiceOption {
  /** As commander spells it: `--simulate`, `--simulator-port <port>`. */
  readonly flags: string
  readonly description: string
  readonly defaultValue?: string | number | boolean
  /** Turns the raw text into the value (throw to refuse it with a message). */
  readonly parse?: (raw: string) => unknown
}

export interface RunningDevService {
  /** Environment for the runs of the agent `rota up` starts (the simulator's URL, ...). */
  readonly env: Readonly<Record<string, string>>
  close(): Promise<void>
}

export interface DevService {
  readonly name: string
  /** Options it adds to `rota up`. The first is the switch that starts it (a flag without a value). */
  readonly options: readonly [DevServiceOption, ...DevServiceOption[]]
  /** Starts the service; `options` holds the values of `rota up`'s options by their camelCase names. */
  start(options: Readonly<Record<string, unknown>>, ctx: PluginContext & { log(line: string): void }): Promise<RunningDevService>
  /** A line `rota up` prints when the switch is off (where the pipeline reads from instead). */
  offNote?(ctx: PluginContext): string | undefined
}

export interface RotaPlugin {
  /** Lower-case letters, digits and `-`: routes live under /api/<name>. */
  readonly name: string
  readonly description?: string
  /** Adds routes to `app` (paths relative to /api/<name>). */
  routes?(app: OpenAPIHono, ctx: PluginContext): void | Promise<void>
  /** Adds commands to the `rota` program. */
  commands?(program: Command): void | Promise<void>
  readonly devServices?: readonly DevService[]
  /** Environment variables the plugin's flows read, forwarded to run containers. */
  readonly env?: readonly string[]
  /** The dashboard module, relative to the plugin file (default export: `DashboardPlugin`). */
  readonly dashboard?: string
}

export interface LoadedPlugin {
  readonly plugin: RotaPlugin
  /** Absolute path of the plugin module. */
  readonly file: string
  /** Absolute path of its dashboard module, if it has one. */
  readonly dashboard: string | undefined
}

const PLUGIN = Symbol.for('rota.plugin')
const NAME = /^[a-z][a-z0-9-]{0,39}$/
/** Path segments of the core API that a plugin may not take. */
const RESERVED = new Set(['health', 'flows', 'flow-runs', 'agents', 'events', 'openapi.json'])

/** Declares a plugin (the default export of its module). */
export function definePlugin(plugin: RotaPlugin): RotaPlugin {
  if (!NAME.test(plugin.name)) throw new TypeError(`a plugin name is lower-case letters, digits and "-" (it becomes /api/<name>), got ${JSON.stringify(plugin.name)}`)
  if (RESERVED.has(plugin.name)) throw new TypeError(`the plugin name "${plugin.name}" is taken by Rota's own API`)
  return Object.freeze({ ...plugin, [PLUGIN]: true })
}

export function isPlugin(value: unknown): value is RotaPlugin {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[PLUGIN] === true
}

/**
 * An app for a plugin's routes, with the core's input validation and error handler: the server
 * mounts one per plugin, and a test can call one on its own (`app.request('/path')`).
 */
export function createPluginApp(): OpenAPIHono {
  const app = new OpenAPIHono({ defaultHook: validationHook })
  app.onError(onError)
  return app
}

/** The plugin modules a project lists in its package.json (`rota.plugins`), relative to `root`. */
export function projectPluginFiles(root: string): string[] {
  const file = path.join(root, 'package.json')
  const pkg = JSON.parse(fs.readFileSync(file, 'utf8')) as { rota?: { plugins?: unknown } }
  const list = pkg.rota?.plugins ?? []
  if (!Array.isArray(list) || !list.every((p): p is string => typeof p === 'string')) {
    throw new ConfigError(`${file}: "rota.plugins" must be a list of plugin module paths, like ["pipelines/brt/plugin.ts"]`)
  }
  return list
}

/** Loads plugin modules (paths relative to `root`); a bad one is an error that names it. */
export async function loadPlugins(root: string, files: readonly string[] = projectPluginFiles(root)): Promise<LoadedPlugin[]> {
  const loaded: LoadedPlugin[] = []
  for (const file of files) {
    const abs = path.resolve(root, file)
    if (!fs.existsSync(abs)) throw new ConfigError(`plugin ${file} (package.json "rota.plugins") does not exist at ${abs}`)
    let mod: { default?: unknown }
    try {
      mod = (await import(pathToFileURL(abs).href)) as { default?: unknown }
    } catch (err) {
      throw new ConfigError(`could not load plugin ${file}: ${(err as Error).message}`)
    }
    const plugin = mod.default
    if (!isPlugin(plugin)) throw new ConfigError(`plugin ${file} must export default definePlugin({ name, ... }) from Rota's src/plugin.ts`)
    if (loaded.some((l) => l.plugin.name === plugin.name)) throw new ConfigError(`two plugins are named "${plugin.name}"; names must be unique`)
    const dashboard = plugin.dashboard ? path.resolve(path.dirname(abs), plugin.dashboard) : undefined
    if (dashboard && !fs.existsSync(dashboard)) throw new ConfigError(`plugin ${plugin.name}: its dashboard module ${dashboard} does not exist`)
    loaded.push({ plugin, file: abs, dashboard })
  }
  return loaded
}

/** The environment variable names every plugin asks to forward to run containers. */
export function pluginEnvNames(plugins: readonly LoadedPlugin[]): string[] {
  return [...new Set(plugins.flatMap((p) => p.plugin.env ?? []))]
}
