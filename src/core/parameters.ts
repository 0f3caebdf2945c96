/** Flow parameters: declared by their defaults, validated on every run request. */
import { REDACTED, secretStrings } from './redact.ts'

export { REDACTED }

export type ParameterType = 'string' | 'number' | 'boolean' | 'json'

export interface ParameterSpec {
  name: string
  type: ParameterType
  default: unknown
  secret: boolean
}

export class ParameterError extends Error {
  override name = 'ParameterError'
}

/** A run's parameters (their JSON) may take at most this many bytes: a run carries references to data, not the data. */
export const MAX_PARAMETER_BYTES = 256 * 1024

/** Parameters larger than MAX_PARAMETER_BYTES (the API answers 413). */
export class ParametersTooLargeError extends ParameterError {
  override name = 'ParametersTooLargeError'
}

/** Throws ParametersTooLargeError when `values` (a run's, or a flow's defaults) exceed MAX_PARAMETER_BYTES. */
export function checkParametersSize(values: Record<string, unknown>, what = 'the parameters'): void {
  const bytes = new TextEncoder().encode(JSON.stringify(values) ?? '').length
  if (bytes > MAX_PARAMETER_BYTES) {
    throw new ParametersTooLargeError(
      `${what} take ${formatBytes(bytes)} as JSON; a run takes at most ${formatBytes(MAX_PARAMETER_BYTES)} of parameters: pass a reference to the data (a path, a URL, a key) instead of the data`,
    )
  }
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} bytes`
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(n < 10 * 1024 ? 1 : 0)} KiB`
  return `${(n / 1024 / 1024).toFixed(1)} MiB`
}

export function parameterSpecs(defaults: Record<string, unknown>, secret: readonly string[] = []): ParameterSpec[] {
  for (const s of secret) {
    if (!(s in defaults)) throw new ParameterError(`secretParameters names "${s}", which is not a parameter`)
  }
  return Object.entries(defaults).map(([name, value]) => ({ name, type: typeOf(value), default: value, secret: secret.includes(name) }))
}

function typeOf(value: unknown): ParameterType {
  if (typeof value === 'string') return 'string'
  if (typeof value === 'number') return 'number'
  if (typeof value === 'boolean') return 'boolean'
  return 'json'
}

/**
 * Merges overrides into the defaults. `coerce` accepts strings for numbers and booleans, for the
 * CLI's `--param k=v`; the JSON API is strict.
 */
export function resolveParameters(specs: readonly ParameterSpec[], overrides: unknown, options: { coerce?: boolean } = {}): Record<string, unknown> {
  if (overrides === undefined || overrides === null) overrides = {}
  if (typeof overrides !== 'object' || Array.isArray(overrides)) throw new ParameterError('parameters must be a JSON object of name: value')
  const out: Record<string, unknown> = {}
  for (const spec of specs) out[spec.name] = spec.default
  const known = new Map(specs.map((s) => [s.name, s]))
  for (const [name, raw] of Object.entries(overrides as Record<string, unknown>)) {
    const spec = known.get(name)
    if (!spec) {
      const names = specs.map((s) => s.name).join(', ') || '(none)'
      throw new ParameterError(`unknown parameter "${name}"; this flow takes: ${names}`)
    }
    out[name] = checkValue(spec, raw, options.coerce ?? false)
  }
  return out
}

function checkValue(spec: ParameterSpec, raw: unknown, coerce: boolean): unknown {
  // The message names what came, never its value: the value may be a secret, and error messages are shown and logged.
  const fail = (): never => {
    throw new ParameterError(`parameter "${spec.name}" must be a ${spec.type}, got ${describeKind(raw)}`)
  }
  switch (spec.type) {
    case 'number': {
      if (typeof raw === 'number' && Number.isFinite(raw)) return raw
      if (coerce && typeof raw === 'string' && raw.trim() !== '' && Number.isFinite(Number(raw))) return Number(raw)
      return fail()
    }
    case 'boolean': {
      if (typeof raw === 'boolean') return raw
      if (coerce && (raw === 'true' || raw === 'false')) return raw === 'true'
      return fail()
    }
    case 'string':
      return typeof raw === 'string' ? raw : fail()
    case 'json': {
      if (coerce && typeof raw === 'string') {
        try {
          return JSON.parse(raw) as unknown
        } catch {
          return fail()
        }
      }
      return raw
    }
  }
}

function describeKind(raw: unknown): string {
  if (raw === null) return 'null'
  if (Array.isArray(raw)) return 'a list'
  if (typeof raw === 'string') return raw.trim() === '' ? 'an empty text' : 'a text'
  if (typeof raw === 'number') return Number.isFinite(raw) ? 'a number' : 'a number out of range'
  return `a ${typeof raw}`
}

/** The values of a run's secret parameters, as the strings redaction hides (src/core/redact.ts). */
export function secretValues(specs: readonly ParameterSpec[], values: Record<string, unknown>): string[] {
  return specs.filter((s) => s.secret).flatMap((s) => secretStrings(values[s.name]))
}

export function redactParameters(specs: readonly ParameterSpec[], values: Record<string, unknown>): Record<string, unknown> {
  const secret = new Set(specs.filter((s) => s.secret).map((s) => s.name))
  if (secret.size === 0) return values
  return Object.fromEntries(Object.entries(values).map(([k, v]) => [k, secret.has(k) ? REDACTED : v]))
}
