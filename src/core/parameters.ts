/** Flow parameters: declared by their defaults, validated on every run request. */
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

export const REDACTED = '********'

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
  const fail = (): never => {
    throw new ParameterError(`parameter "${spec.name}" must be a ${spec.type}, got ${JSON.stringify(raw)}`)
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

export function redactParameters(specs: readonly ParameterSpec[], values: Record<string, unknown>): Record<string, unknown> {
  const secret = new Set(specs.filter((s) => s.secret).map((s) => s.name))
  if (secret.size === 0) return values
  return Object.fromEntries(Object.entries(values).map(([k, v]) => [k, secret.has(k) ? REDACTED : v]))
}
