/**
 * Configuration, resolved once at the edge (the CLI, a test) and passed down.
 * Nothing below this module reads process.env for settings: it takes a RotaConfig.
 */
import path from 'node:path'
import { DurationError, parseDurationSeconds } from './core/duration.ts'

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
  /** How long finished runs are kept (ROTA_RETENTION, ROTA_RETENTION_KEEP_LAST); flows may override. */
  readonly retention: RetentionPolicy
  /** The dashboard's address in links the server sends out (automations): ROTA_PUBLIC_URL, default the address it listens on. */
  readonly publicUrl: string | undefined
}

export interface RetentionPolicy {
  /** Finished runs older than this are deleted; null keeps them (ROTA_RETENTION=off). */
  readonly maxAgeSeconds: number | null
  /** This many newest finished runs of each flow are kept whatever their age. */
  readonly keepLast: number
}

export const DEFAULT_RETENTION: RetentionPolicy = { maxAgeSeconds: 30 * 86_400, keepLast: 100 }

export class ConfigError extends Error {
  override name = 'ConfigError'
}

export function resolveConfig(env: NodeJS.ProcessEnv = process.env, overrides: Partial<RotaConfig> = {}): RotaConfig {
  const home = path.resolve(overrides.home ?? env.ROTA_HOME ?? '.rota')
  const port = overrides.port ?? parsePort(env.ROTA_PORT ?? '4200', 'ROTA_PORT')
  const host = overrides.host ?? env.ROTA_HOST ?? '127.0.0.1'
  const apiKey = 'apiKey' in overrides ? overrides.apiKey : emptyToUndefined(env.ROTA_API_KEY)
  // HTTP headers carry bytes: a key outside printable ASCII could not be sent by the CLI or agents.
  if (apiKey !== undefined && !/^[\x21-\x7e]+$/.test(apiKey)) {
    throw new ConfigError('ROTA_API_KEY must be printable ASCII without spaces (letters, digits, punctuation); `openssl rand -hex 32` makes a good one')
  }
  return {
    home,
    databaseUrl: 'databaseUrl' in overrides ? overrides.databaseUrl : emptyToUndefined(env.DATABASE_URL),
    host,
    port,
    apiKey,
    apiUrl: (overrides.apiUrl ?? env.ROTA_API_URL ?? `http://127.0.0.1:${port}`).replace(/\/+$/, ''),
    retention: overrides.retention ?? resolveRetention(env),
    publicUrl: 'publicUrl' in overrides ? overrides.publicUrl : resolvePublicUrl(env),
  }
}

/** ROTA_RETENTION (a duration: 30d by default; `off` keeps every run) and ROTA_RETENTION_KEEP_LAST (default 100). */
export function resolveRetention(env: NodeJS.ProcessEnv = process.env): RetentionPolicy {
  const rawAge = emptyToUndefined(env.ROTA_RETENTION)
  let maxAgeSeconds = DEFAULT_RETENTION.maxAgeSeconds
  if (rawAge !== undefined) {
    if (/^\s*(off|never|forever)\s*$/i.test(rawAge)) maxAgeSeconds = null
    else {
      try {
        maxAgeSeconds = parseDurationSeconds(rawAge, 'ROTA_RETENTION')
      } catch (err) {
        if (err instanceof DurationError) throw new ConfigError(`${err.message}; or "off" to keep every run`)
        throw err
      }
    }
  }
  const rawKeep = emptyToUndefined(env.ROTA_RETENTION_KEEP_LAST)
  const keepLast = rawKeep === undefined ? DEFAULT_RETENTION.keepLast : Number(rawKeep)
  if (!Number.isInteger(keepLast) || keepLast < 0 || keepLast > 1_000_000) {
    throw new ConfigError(`ROTA_RETENTION_KEEP_LAST must be a whole number from 0 to 1000000 (runs kept per flow whatever their age), got "${rawKeep}"`)
  }
  return { maxAgeSeconds, keepLast }
}

function resolvePublicUrl(env: NodeJS.ProcessEnv): string | undefined {
  const raw = emptyToUndefined(env.ROTA_PUBLIC_URL)
  if (raw === undefined) return undefined
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    throw new ConfigError(`ROTA_PUBLIC_URL must be the dashboard's address, like https://rota.example.org, got "${raw}"`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ConfigError(`ROTA_PUBLIC_URL must start with http:// or https://, got "${raw}"`)
  return raw.replace(/\/+$/, '')
}

/**
 * ROTA_REPORT_GIVE_UP, for run processes: how long a run goes on while none of its reports reaches
 * the server before it fails saying so (default 5 minutes). Seconds, or a number with s, m or h.
 */
export function resolveReportGiveUpMs(env: NodeJS.ProcessEnv = process.env): number {
  const raw = emptyToUndefined(env.ROTA_REPORT_GIVE_UP)
  return raw === undefined ? 5 * 60_000 : parseDuration(raw, 'ROTA_REPORT_GIVE_UP')
}

/** `90`, `90s`, `5m`, `1h` -> milliseconds. */
export function parseDuration(raw: string, name: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(raw)
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m?.[2] ?? 's') as 'ms' | 's' | 'm' | 'h']
  const ms = m ? Number(m[1]) * unit : NaN
  if (!Number.isFinite(ms) || ms <= 0) throw new ConfigError(`${name} must be a duration such as 300, 300s, 5m or 1h, got "${raw}"`)
  return ms
}

function parsePort(raw: string, name: string): number {
  const n = Number(raw)
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new ConfigError(`${name} must be a port number (0-65535), got "${raw}"`)
  return n
}

function emptyToUndefined(v: string | undefined): string | undefined {
  return v === undefined || v.trim() === '' ? undefined : v
}
