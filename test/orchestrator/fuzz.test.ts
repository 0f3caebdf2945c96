/**
 * Property-based fuzzing of the whole HTTP API: every operation listed in /api/openapi.json (so a
 * route added later is covered without touching this file) gets random and hostile path params,
 * query strings, headers and bodies — NUL bytes, lone surrogates, integers past 2^31 and 2^53,
 * years 0000 and 10000, JSON nested thousands deep, wrong types, truncated JSON, junk media types.
 *
 * Every answer must be below 500, carry no stack trace, and (for errors) have the one error shape
 * `{ error: { message: string } }`. Failures are collected rather than shrunk one at a time, so a run
 * reports every distinct failure it met; ROTA_FUZZ_SEED=<n> replays a run, ROTA_FUZZ_RUNS=<n> sizes it.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { randomUUID } from 'node:crypto'
import { claimRunToken, freshDatabase, ROOT, testConfig, type TestDatabase } from '../helpers/rota.ts'
import { startServer, type RunningServer } from '../../src/server/index.ts'
import { RotaClient } from '../../src/client/index.ts'
import { registerFile } from '../../src/cli/register.ts'

const RUNS = Number(process.env.ROTA_FUZZ_RUNS ?? 2000)
const SEED = process.env.ROTA_FUZZ_SEED ? Number(process.env.ROTA_FUZZ_SEED) : Date.now() % 2 ** 31

type Json = null | boolean | number | string | Json[] | { [k: string]: Json }
interface JsonSchema {
  type?: string
  $ref?: string
  enum?: Json[]
  format?: string
  nullable?: boolean
  properties?: Record<string, JsonSchema>
  required?: string[]
  items?: JsonSchema
  anyOf?: JsonSchema[]
  oneOf?: JsonSchema[]
  minimum?: number
  minLength?: number
  default?: Json
}
interface Parameter {
  name: string
  in: 'path' | 'query' | 'header'
  schema?: JsonSchema
}
interface Operation {
  method: string
  path: string
  parameters: Parameter[]
  body: JsonSchema | undefined
}
interface OpenApi {
  paths: Record<string, Record<string, { parameters?: Parameter[]; requestBody?: { content: Record<string, { schema: JsonSchema }> } }>>
  components?: { schemas?: Record<string, JsonSchema> }
}

let db: TestDatabase
let server: RunningServer
let doc: OpenApi
let operations: Operation[]
const known: Record<string, string> = {}

before(async () => {
  db = await freshDatabase()
  // Fuzzed automations may name any URL: they fire and are recorded, but nothing is sent anywhere.
  server = await startServer(testConfig(db), { log: () => undefined, automations: { deliver: false } })
  const client = new RotaClient(server.url)
  await registerFile(client, 'test/fixtures/flows.ts', ROOT)
  known.flow = 'slow'
  known.run = (await client.createRun('slow', { seconds: 1 })).id
  // The run's token, from a claim by an agent the fuzzing never polls as (a poll by its claimer
  // without the run in hand would hand it over again, with a new token).
  known.token = await claimRunToken(client, known.run)
  known.agent = (await client.registerAgent({ name: 'fuzz-agent', type: 'local', labels: [], concurrency: 1 })).id
  doc = (await (await fetch(`${server.url}/api/openapi.json`)).json()) as OpenApi
  operations = Object.entries(doc.paths).flatMap(([path, ops]) =>
    Object.entries(ops).map(([method, op]) => ({ method: method.toUpperCase(), path, parameters: op.parameters ?? [], body: op.requestBody?.content['application/json']?.schema })),
  )
})
after(async () => {
  await server?.close()
  await db?.drop()
})

// --- hostile values ------------------------------------------------------------------------------

const hostileText = fc.oneof(
  // what PostgreSQL refuses and a program may print anyway: NUL, lone surrogates, half an emoji
  { weight: 3, arbitrary: fc.constantFrom('\u0000', 'a\u0000b', '\ud800', 'x\udfff', '\udc00\ud800', '😀'.slice(0, 1), `log ${'😀'.slice(0, 1)} line \u0000 end`) },
  fc.constantFrom(
    '\u0000',
    'a\u0000b',
    '\ud800',
    'x\udfff',
    '\udc00\ud800',
    '😀'.slice(0, 1),
    '0000-01-01T00:00:00Z',
    '10000-01-01T00:00:00Z',
    '+010000-01-01T00:00:00.000Z',
    '-000001-01-01T00:00:00Z',
    '2026-02-30T25:61:61Z',
    '1970-01-01T00:00:00+99:99',
    '2147483648',
    '9007199254740993',
    '-1',
    '1e309',
    'NaN',
    'Infinity',
    '0x10',
    '',
    ' ',
    '..',
    '../../etc/passwd',
    '%',
    '%00',
    '%ZZ',
    '\\',
    '{"a":',
    '__proto__',
    'constructor',
    'true,false',
    'running,nope',
    'é',
    '\u202e',
    '\u001b[31mred\u001b[0m',
    'a'.repeat(9_000),
    'a'.repeat(70_000),
  ),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)), maxLength: 20 }),
)

const hostileNumber = fc.oneof(
  fc.constantFrom(2 ** 31, 2 ** 31 - 1, -(2 ** 31) - 1, 2 ** 53, 2 ** 53 + 2, -(2 ** 53), 1e308, -1e308, 5e-324, -0, 0.5, -1),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
)

function deepJson(depth: number, kind: 'array' | 'object'): string {
  return kind === 'array' ? '['.repeat(depth) + '1' + ']'.repeat(depth) : '{"a":'.repeat(depth) + '1' + '}'.repeat(depth)
}

const hostileJson: fc.Arbitrary<Json> = fc.letrec<{ value: Json }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    hostileText,
    hostileNumber,
    fc.constantFrom(null, true, false),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(fc.oneof(hostileText, fc.string({ maxLength: 8 })), tie('value'), { maxKeys: 4 }),
  ),
})).value

/** Bodies sent as raw text: some are not JSON at all, some are JSON too deep or too odd to build as values. */
const rawBody = fc.oneof(
  fc.constantFrom('', ' ', 'null', '[]', '"x"', '{', '{"a":1', '{"a":1}}', '\ufeff{}', '{"a":1e400}', '{"a":-1e400}', '{"a":"\\u0000"}', '{"a":"\\ud800"}', '{"__proto__":{"x":1}}', '{"a":1,"a":2}'),
  fc.integer({ min: 200, max: 20_000 }).chain((d) => fc.constantFrom(deepJson(d, 'array'), deepJson(d, 'object'))),
  fc.string({ unit: 'binary', maxLength: 60 }),
)

// --- valid-looking samples from the OpenAPI schemas, then mutated --------------------------------

function resolve(schema: JsonSchema): JsonSchema {
  if (!schema.$ref) return schema
  const name = schema.$ref.split('/').pop() as string
  return resolve(doc.components?.schemas?.[name] ?? {})
}

/** Hostile values put into the fields of a sample that the schema leaves open: free text, dates, integers. */
interface Targets {
  text?: string
  date?: string
  integer?: number
}

/** A value the schema most likely accepts (known ids where a UUID is asked for), or, with targets, one aimed at its open fields. */
function sample(schema: JsonSchema, key = '', t: Targets = {}): Json {
  const s = resolve(schema)
  if (s.enum?.length) return s.enum[0] as Json
  const alt = s.anyOf ?? s.oneOf
  if (alt?.length) return sample(alt[0] as JsonSchema, key, t)
  switch (s.type) {
    case 'object': {
      const out: Record<string, Json> = {}
      for (const [k, v] of Object.entries(s.properties ?? {})) out[k] = sample(v, k, t)
      return out
    }
    case 'array':
      return s.items ? [sample(s.items, key, t)] : []
    case 'integer':
    case 'number':
      if (t.integer !== undefined) return t.integer
      return key === 'waitMs' ? 0 : Math.max(0, s.minimum ?? 0)
    case 'boolean':
      return false
    case 'string':
      if (s.format === 'uuid') return key.toLowerCase().includes('agent') ? (known.agent as string) : randomUUID()
      if (s.format === 'date-time') return t.date ?? new Date().toISOString()
      if (key === 'name') return `fuzz-${randomUUID().slice(0, 8)}`
      return t.text ?? 'x'.repeat(Math.max(1, s.minLength ?? 1))
    default:
      return s.nullable ? null : 'x'
  }
}

/** Replaces every string (or every number) inside `value` with `replacement`: hostile text reaches every field. */
function sprinkle(value: Json, kind: 'string' | 'number', replacement: Json): Json {
  if (typeof value === kind) return replacement
  if (Array.isArray(value)) return value.map((v) => sprinkle(v, kind, replacement))
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, sprinkle(v, kind, replacement)]))
  return value
}

/** Replaces one value somewhere inside `value` (or the whole of it) with `replacement`. */
function mutate(value: Json, pathPick: number[], replacement: Json): Json {
  if (pathPick.length === 0 || value === null || typeof value !== 'object') return replacement
  const [pick, ...rest] = pathPick as [number, ...number[]]
  if (Array.isArray(value)) {
    if (value.length === 0) return [replacement]
    const i = pick % value.length
    return value.map((v, j) => (j === i ? mutate(v, rest, replacement) : v))
  }
  const keys = Object.keys(value)
  if (keys.length === 0) return { x: replacement }
  const k = keys[pick % keys.length] as string
  return { ...value, [k]: mutate(value[k] as Json, rest, replacement) }
}

// --- requests --------------------------------------------------------------------------------------

interface FuzzRequest {
  op: number
  pathValues: string[]
  query: [string, string][]
  body:
    | { kind: 'none' }
    | { kind: 'value'; mutation: number[]; replacement: Json; whole: boolean }
    | { kind: 'sprinkle'; text: string; number: number; numbersToo: boolean }
    | { kind: 'aimed'; text: string | undefined; date: string | undefined; integer: number | undefined }
    | { kind: 'raw'; text: string }
  contentType: string | undefined
  headers: [string, string][]
  /** For operations that take a run token: the known run's, none, another run's, or hostile text. */
  runToken: string
  method: string | undefined
}

const contentTypes = fc.constantFrom(
  'application/json',
  'application/json',
  'application/json; charset=utf-8',
  'application/vnd.rota+json',
  undefined,
  'text/plain',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  'application/json; charset=latin1; x=y',
  'json',
)

/** Header values travel as bytes: send the UTF-8 of hostile text as Latin-1, without the controls HTTP forbids. */
const latin1 = (s: string) => Buffer.from(s, 'utf8').toString('latin1').replace(/[\u0000-\u0008\u000a-\u001f\u007f]/g, '').trim()
const headerValue = fc.oneof(hostileText.map(latin1), fc.constantFrom('ключ-that-is-utf8', 'a'.repeat(4096)).map(latin1))

const fuzzRequest: fc.Arbitrary<FuzzRequest> = fc.record({
  op: fc.nat(),
  pathValues: fc.array(fc.oneof({ weight: 4, arbitrary: fc.constant('@known') }, { weight: 1, arbitrary: hostileText }, { weight: 1, arbitrary: fc.uuid() }), { minLength: 3, maxLength: 3 }),
  query: fc.array(fc.tuple(fc.oneof(fc.constant('@declared'), hostileText), fc.oneof(hostileText, hostileNumber.map(String), fc.constant('@valid'))), { maxLength: 4 }),
  body: fc.oneof(
    fc.constant({ kind: 'none' as const }),
    fc.record({ kind: fc.constant('value' as const), mutation: fc.array(fc.nat(), { maxLength: 4 }), replacement: hostileJson, whole: fc.boolean() }),
    fc.record({ kind: fc.constant('sprinkle' as const), text: hostileText, number: hostileNumber, numbersToo: fc.boolean() }),
    fc.record({ kind: fc.constant('raw' as const), text: rawBody }),
    fc.record({ kind: fc.constant('aimed' as const), text: fc.option(hostileText, { nil: undefined }), date: fc.option(hostileText, { nil: undefined }), integer: fc.option(hostileNumber, { nil: undefined }) }),
    fc.record({ kind: fc.constant('aimed' as const), text: fc.option(hostileText, { nil: undefined }), date: fc.constant(undefined), integer: fc.constant(undefined) }),
  ),
  contentType: contentTypes,
  headers: fc.array(fc.tuple(fc.constantFrom('x-api-key', 'authorization', 'accept', 'origin', 'sec-fetch-site', 'x-forwarded-for', 'cookie', 'accept-language', 'if-none-match'), headerValue), { maxLength: 2 }),
  runToken: fc.oneof({ weight: 4, arbitrary: fc.constant('@valid') }, { weight: 1, arbitrary: fc.constantFrom('@none', '', 'x'.repeat(43), 'a'.repeat(300)) }, { weight: 1, arbitrary: headerValue }),
  method: fc.oneof({ weight: 19, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.constantFrom('PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD') }),
})

interface Sent {
  method: string
  url: string
  contentType: string | undefined
  body: string | undefined
  /** Headers the operation declares (the run token). */
  declared: [string, string][]
}

function build(r: FuzzRequest): Sent {
  const op = operations[r.op % operations.length] as Operation
  let i = 0
  const path = op.path.replace(/\{(\w+)\}/g, (_m, name: string) => {
    const v = r.pathValues[i++ % r.pathValues.length] as string
    if (v !== '@known') return encodeURIComponent(v.replace(/[\ud800-\udfff]/g, '\ufffd'))
    return name === 'idOrName' ? (known.flow as string) : op.path.startsWith('/api/agents') ? (known.agent as string) : (known.run as string)
  })
  const declared = op.parameters.filter((p) => p.in === 'query')
  const q = new URLSearchParams()
  r.query.forEach(([k, v], n) => {
    const param = declared[n % Math.max(1, declared.length)]
    const key = k === '@declared' ? (param?.name ?? 'x') : k
    const value = v === '@valid' ? String(param?.schema ? sample(param.schema, key) : 'x') : v
    q.append(key.replace(/[\ud800-\udfff]/g, '\ufffd'), value.replace(/[\ud800-\udfff]/g, '\ufffd'))
  })
  // Raw bytes that are not valid percent-encoding of UTF-8 (and %00) go into the URL as they are.
  const extra = r.query.some(([, v]) => v === '%00') ? '&raw=%00&bad=%ED%A0%80' : ''
  const query = q.toString() || extra ? `?${q.toString()}${extra}` : ''
  let body: string | undefined
  if (r.body.kind === 'value') {
    const base = op.body ? sample(op.body) : {}
    body = JSON.stringify(r.body.whole ? r.body.replacement : mutate(base, r.body.mutation, r.body.replacement))
  } else if (r.body.kind === 'sprinkle') {
    const texts = sprinkle(op.body ? sample(op.body) : {}, 'string', r.body.text)
    body = JSON.stringify(r.body.numbersToo ? sprinkle(texts, 'number', r.body.number) : texts)
  } else if (r.body.kind === 'aimed') {
    const { text, date, integer } = r.body
    body = JSON.stringify(op.body ? sample(op.body, '', { ...(text !== undefined ? { text } : {}), ...(date !== undefined ? { date } : {}), ...(integer !== undefined ? { integer } : {}) }) : {})
  } else if (r.body.kind === 'raw') body = r.body.text
  else if (op.body) body = JSON.stringify(sample(op.body))
  const headers: [string, string][] = op.parameters
    .filter((p) => p.in === 'header' && r.runToken !== '@none')
    .map((p) => [p.name, r.runToken === '@valid' ? (known.token as string) : r.runToken])
  return { method: r.method ?? op.method, url: `${server.url}${path}${query}`, contentType: r.contentType, body, declared: headers }
}

/** Requests sent again after a connection closed under them (see send). */
let resent = 0

/**
 * Sends one request. A request that finds its kept-alive connection closed by the server (after an
 * answer that ends the connection, such as a 431) is sent once more on a new connection, as HTTP
 * clients do: the property is that the server answers every request, and a second failure counts.
 */
async function send(s: Sent, headers: [string, string][], again = true): Promise<{ status: number; text: string; timedOut: boolean; error?: string }> {
  const h = new Headers()
  for (const [k, v] of [...s.declared, ...headers]) h.set(k, v)
  if (s.contentType) h.set('content-type', s.contentType)
  const withBody = s.body !== undefined && !['GET', 'HEAD'].includes(s.method)
  try {
    const res = await fetch(s.url, { method: s.method, headers: h, body: withBody ? s.body : undefined, signal: AbortSignal.timeout(4000) })
    return { status: res.status, text: await res.text(), timedOut: false }
  } catch (err) {
    if ((err as Error).name === 'TimeoutError') return { status: 0, text: '', timedOut: true }
    const cause = (err as { cause?: Error }).cause
    if (again && /other side closed|ECONNRESET|socket hang up/.test(`${cause?.message} ${(cause as NodeJS.ErrnoException | undefined)?.code}`)) {
      resent++
      return send(s, headers, false)
    }
    return { status: 0, text: '', timedOut: false, error: `${(err as Error).message}${cause ? ` (${cause.message})` : ''}` }
  }
}

const STACK = /\n\s+at\s|\.ts:\d+:\d+|node_modules|\bat (?:async )?\w+ \(/

/** What is wrong with one answer, or undefined when it is right. */
function judge(s: Sent, status: number, text: string): string | undefined {
  if (status >= 500) return `answered ${status}`
  if (STACK.test(text)) return 'a stack trace in the body'
  if (status < 400 || s.method === 'HEAD') return undefined
  let body: unknown
  try {
    body = JSON.parse(text)
  } catch {
    return `a ${status} whose body is not JSON`
  }
  const message = (body as { error?: { message?: unknown } } | null)?.error?.message
  if (typeof message !== 'string' || message.length === 0) return `a ${status} not shaped { error: { message } }`
  return undefined
}

describe('fuzzing every route of the OpenAPI document', () => {
  it(`answers every hostile request below 500, without a stack trace, in one error shape (seed ${SEED})`, async () => {
    assert.ok(operations.length >= 20, `the OpenAPI document lists ${operations.length} operations`)
    const failures = new Map<string, string>()
    const statuses = new Map<number, number>()
    let timeouts = 0
    const tokenCases = { accepted: 0, refused: 0 }
    await fc.assert(
      fc.asyncProperty(fuzzRequest, async (r) => {
        const s = build(r)
        const { status, text, timedOut, error } = await send(s, r.headers)
        if (error) {
          failures.set(`${s.method} ${new URL(s.url).pathname}: no answer (${error})`, show(s))
          return true
        }
        if (timedOut) {
          // Only the agents' long poll may legitimately hold a request this long.
          if (!/\/poll$/.test(new URL(s.url).pathname)) failures.set(`${s.method} ${new URL(s.url).pathname}: no answer within 4 s`, show(s))
          timeouts++
          return true
        }
        statuses.set(status, (statuses.get(status) ?? 0) + 1)
        const op = operations[r.op % operations.length]
        // The token guards the operation that declares it; another method on its path (a HEAD is a
        // GET: the run's logs and task runs are read by the dashboard with the API key) is not it.
        if (op?.method === s.method && op.parameters.some((p) => p.in === 'header')) {
          const valid = s.declared.length > 0 && s.declared.every(([, v]) => v === known.token)
          if (valid && status < 300) tokenCases.accepted++
          if (!valid && (status === 401 || status === 403)) tokenCases.refused++
          // Another token, none, or a hostile one: never let through.
          if (!valid && status < 300) failures.set(`${s.method} ${new URL(s.url).pathname}: answered ${status} without the run's token`, show(s))
        }
        const wrong = judge(s, status, text)
        if (wrong) {
          const op = operations[r.op % operations.length] as Operation
          const key = `${s.method} ${op.path}: ${wrong}`
          if (!failures.has(key)) failures.set(key, `${show(s)}\n    -> ${status} ${text.slice(0, 300)}`)
        }
        return true
      }),
      { numRuns: RUNS, seed: SEED, endOnFailure: true },
    )
    const summary = [...statuses.entries()].sort((a, b) => a[0] - b[0]).map(([k, v]) => `${k}: ${v}`).join(', ')
    console.log(`fuzz: ${RUNS} requests over ${operations.length} operations, seed ${SEED}; statuses ${summary}; long polls held ${timeouts}; sent again on a new connection ${resent}; run routes: ${tokenCases.accepted} accepted with the run token, ${tokenCases.refused} refused without it`)
    if (RUNS >= 500) assert.ok(tokenCases.accepted > 0 && tokenCases.refused > 0, `the run routes were exercised with and without the token: ${JSON.stringify(tokenCases)}`)
    assert.equal(failures.size, 0, `${failures.size} distinct failures (replay with ROTA_FUZZ_SEED=${SEED}):\n${[...failures].map(([k, v]) => `- ${k}\n    ${v}`).join('\n')}`)
  })

  it('the event stream refuses hostile run ids with a 400 in the error shape', async () => {
    await fc.assert(
      fc.asyncProperty(hostileText, async (id) => {
        const ac = new AbortController()
        const res = await fetch(`${server.url}/api/events?flowRunId=${encodeURIComponent(id.replace(/[\ud800-\udfff]/g, '\ufffd'))}`, { signal: ac.signal })
        try {
          if (res.status === 200) return /^[0-9a-f-]{36}$/i.test(id) // only a UUID may open a stream
          assert.ok(res.status < 500, `answered ${res.status}`)
          assert.equal(typeof ((await res.json()) as { error: { message: unknown } }).error.message, 'string')
          return true
        } finally {
          ac.abort()
        }
      }),
      { numRuns: 60, seed: SEED },
    )
  })
})

function show(s: Sent): string {
  const body = s.body === undefined ? '' : ` body(${s.body.length}) ${JSON.stringify(s.body.slice(0, 160))}`
  return `${s.method} ${s.url.slice(server.url.length, server.url.length + 200)} [${s.contentType ?? 'no content-type'}]${body}`
}
