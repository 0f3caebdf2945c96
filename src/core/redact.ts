/**
 * Redaction: the one place where secret values are taken out of text and data before they reach a
 * surface (API responses, the event stream, logs, task and state messages, artifacts, the CLI,
 * server logs). The run process redacts what it reports, and the server redacts again what it
 * receives, with the same function: a value printed by a program that bypasses the SDK (a line on
 * stdout, a subprocess) is still caught on the way in.
 *
 * A secret is hidden in the forms a program is likely to print it in, not only as it is:
 * - raw;
 * - JSON-escaped, once and twice (a secret inside a JSON string inside a JSON log line), and with
 *   non-ASCII characters as \uXXXX (Python's json.dumps);
 * - URL-encoded (encodeURIComponent, HTML form and RFC 3986 rules, `+` for spaces, lower-case hex);
 * - base64 and base64url, at the three alignments a secret can have inside longer encoded text
 *   (an `Authorization: Basic` header encodes `user:secret`, which puts the secret at offset 5).
 *
 * Values shorter than MIN_SECRET_LENGTH are not redacted: hiding every "abc" in every log would
 * make logs unreadable and protect nothing. Pure code, no `node:` imports: every part may use it.
 */

export const REDACTED = '********'
/** Shorter secrets (and shorter encoded forms) are left alone. */
export const MIN_SECRET_LENGTH = 4

/** The strings a parameter value is made of, as secrets: the text itself, or a number's digits, or a JSON value's leaf values and its JSON. */
export function secretStrings(value: unknown): string[] {
  const out: string[] = []
  const visit = (v: unknown, depth: number): void => {
    if (typeof v === 'string') out.push(v)
    else if (typeof v === 'number' && Number.isFinite(v)) out.push(String(v))
    else if (typeof v === 'bigint') out.push(String(v))
    else if (v !== null && typeof v === 'object' && depth < 64) {
      // The values, not the keys: a secret `{ password: '…' }` must not hide every "password" in the logs.
      for (const item of Object.values(v)) visit(item, depth + 1)
    }
  }
  visit(value, 0)
  if (value !== null && typeof value === 'object') {
    try {
      out.push(JSON.stringify(value))
    } catch {
      // not JSON: its leaves are enough
    }
  }
  return out.filter((s) => s.length >= MIN_SECRET_LENGTH)
}

/** Every form of one secret that redaction looks for (see the module comment). */
export function secretForms(secret: string): string[] {
  if (secret.length < MIN_SECRET_LENGTH) return []
  const forms = new Set<string>([secret])
  const json = JSON.stringify(secret).slice(1, -1)
  forms.add(json)
  forms.add(JSON.stringify(json).slice(1, -1))
  forms.add(json.replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`))
  try {
    // What encoders leave unescaped differs: encodeURIComponent keeps !~*'(), HTML forms keep only
    // *-._ (spaces as +), RFC 3986 (Python's quote) keeps -._~; some write lower-case hex.
    const uri = encodeURIComponent(secret)
    const strict = uri.replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
    const form = strict.replace(/%2A/g, '*').replace(/~/g, '%7E').replace(/%20/g, '+')
    for (const url of [uri, uri.replace(/%20/g, '+'), strict, strict.replace(/%20/g, '+'), form]) {
      forms.add(url)
      forms.add(url.replace(/%[0-9A-F]{2}/g, (h) => h.toLowerCase()))
    }
  } catch {
    // a lone surrogate cannot be URL-encoded, so it cannot appear URL-encoded either
  }
  const bytes = new TextEncoder().encode(secret)
  for (let shift = 0; shift < 3; shift++) {
    const padded = new Uint8Array(shift + bytes.length)
    padded.set(bytes, shift)
    const b64 = base64(padded)
    // Only the characters made of the secret's bits alone: the ones before depend on what precedes
    // it in the encoded text, the ones after on what follows.
    const from = Math.ceil((8 * shift) / 6)
    const to = Math.floor((8 * (shift + bytes.length)) / 6)
    const part = b64.slice(from, to)
    forms.add(part)
    forms.add(part.replace(/\+/g, '-').replace(/\//g, '_'))
  }
  return [...forms].filter((f) => f.length >= MIN_SECRET_LENGTH)
}

function base64(bytes: Uint8Array): string {
  let binary = ''
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000))
  return btoa(binary)
}

/** A compiled set of secrets: hides them (in all their forms) in text and in JSON-like data. */
export interface Redactor {
  /** True when there is nothing to hide: callers may skip work. */
  readonly empty: boolean
  text(text: string): string
  /** A copy of `value` with secrets hidden in every string, key and number. */
  value<T>(value: T): T
}

const NOTHING: Redactor = { empty: true, text: (t) => t, value: (v) => v }

/** Compiles `secrets` (their forms, longest first) into one pattern. */
export function redactor(secrets: Iterable<string>): Redactor {
  const forms = new Set<string>()
  for (const s of secrets) for (const f of secretForms(s)) forms.add(f)
  if (forms.size === 0) return NOTHING
  const sorted = [...forms].sort((a, b) => b.length - a.length)
  const pattern = new RegExp(sorted.map(escapeRegExp).join('|'), 'g')
  const numbers = new Set(sorted.filter((f) => /^-?\d+(\.\d+)?(e[+-]?\d+)?$/i.test(f)))
  const text = (t: string): string => {
    pattern.lastIndex = 0
    return pattern.test(t) ? t.replace(pattern, REDACTED) : t
  }
  const value = (v: unknown, depth: number): unknown => {
    if (typeof v === 'string') return text(v)
    if (typeof v === 'number') return numbers.has(String(v)) ? REDACTED : v
    if (v === null || typeof v !== 'object' || depth > 256) return v
    if (Array.isArray(v)) return v.map((item) => value(item, depth + 1))
    return Object.fromEntries(Object.entries(v).map(([k, item]) => [text(k), value(item, depth + 1)]))
  }
  return { empty: false, text, value: <T>(v: T): T => value(v, 0) as T }
}

/** Hides `secrets` in `text`. For many texts with the same secrets, compile once with `redactor()`. */
export function redact(text: string, secrets: Redactor | Iterable<string>): string {
  return (isRedactor(secrets) ? secrets : redactor(secrets)).text(text)
}

function isRedactor(x: Redactor | Iterable<string>): x is Redactor {
  return typeof (x as Redactor).text === 'function'
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}
