/**
 * Configuration, resolved once at the edge (the CLI, a test) and passed down.
 * Nothing below this module reads process.env for settings: it takes a RotaConfig.
 */
import path from 'node:path'

export interface RotaConfig {
  /** Folder for embedded state: PGlite data (and whatever pipelines keep there, as the BRT lake). */
  readonly home: string
  /** PostgreSQL connection string; undefined means embedded PGlite under `home/db`. */
  readonly databaseUrl: string | undefined
  /** Where the server listens. */
  readonly host: string
  readonly port: number
  /** Shared secret for the API; required when the server binds beyond loopback. */
  readonly apiKey: string | undefined
  /** Where clients (CLI, agents, flow children) find the server. */
  readonly apiUrl: string
}

export class ConfigError extends Error {
  override name = 'ConfigError'
}

export function resolveConfig(env: NodeJS.ProcessEnv = process.env, overrides: Partial<RotaConfig> = {}): RotaConfig {
  const home = path.resolve(overrides.home ?? env.ROTA_HOME ?? '.rota')
  const port = overrides.port ?? parsePort(env.ROTA_PORT ?? '4200', 'ROTA_PORT')
  const host = overrides.host ?? env.ROTA_HOST ?? '127.0.0.1'
  return {
    home,
    databaseUrl: 'databaseUrl' in overrides ? overrides.databaseUrl : emptyToUndefined(env.DATABASE_URL),
    host,
    port,
    apiKey: 'apiKey' in overrides ? overrides.apiKey : emptyToUndefined(env.ROTA_API_KEY),
    apiUrl: (overrides.apiUrl ?? env.ROTA_API_URL ?? `http://127.0.0.1:${port}`).replace(/\/+$/, ''),
  }
}

function parsePort(raw: string, name: string): number {
  const n = Number(raw)
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new ConfigError(`${name} must be a port number (0-65535), got "${raw}"`)
  return n
}

function emptyToUndefined(v: string | undefined): string | undefined {
  return v === undefined || v.trim() === '' ? undefined : v
}
