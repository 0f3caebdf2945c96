/**
 * Issue 9, against the real server: the browser guard (Host, Origin, Sec-Fetch-Site, JSON writes),
 * the API key (constant time, never throws, ?apiKey= only on the event stream), one input door
 * (NUL and lone surrogates stored as U+FFFD; depth, size, number and date bounds answered 400),
 * errors Node answers before the app in the same shape, an unknown agent's stop answering 404, and
 * the CLI printing logs without terminal control sequences.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import http from 'node:http'
import fc from 'fast-check'
import { claimRun, cli, DB_KIND, freshDatabase, startHarness, testConfig, type Harness, type TestDatabase } from '../helpers/rota.ts'
import { startServer, type RunningServer } from '../../src/server/index.ts'
import { ConfigError, resolveConfig } from '../../src/config.ts'
import { RotaClient } from '../../src/client/index.ts'
import { cutText, storableText, terminalSafe } from '../../src/core/text.ts'

let h: Harness
let port: number
before(async () => {
  h = await startHarness()
  await h.register('test/fixtures/hello.ts')
  port = h.server.port
})
after(async () => {
  await h?.close()
})

/** A raw HTTP request (fetch may not set Host), answering status and parsed JSON body. */
function request(
  target: { port: number },
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: string,
): Promise<{ status: number; body: { error?: { message?: string } } & Record<string, unknown>; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: target.port, method, path, headers, setHost: !('host' in headers) }, (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (d: string) => (text += d))
      res.on('end', () => {
        let parsed = {}
        try {
          parsed = JSON.parse(text)
        } catch {
          // left empty: callers assert on status
        }
        resolve({ status: res.statusCode ?? 0, body: parsed, text })
      })
    })
    req.on('error', reject)
    req.end(body)
  })
}

const json = { 'content-type': 'application/json' }

describe('browser guard (key-less server on loopback)', () => {
  it('answers its own loopback names, and refuses a foreign Host (DNS rebinding) with 403', async () => {
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `LOCALHOST:${port}`, `[::1]:${port}`]) {
      assert.equal((await request(h.server, 'GET', '/api/flows', { host })).status, 200, host)
    }
    for (const host of [`evil.example:${port}`, `127.0.0.1:${port + 1}`, 'localhost', `127.0.0.1.evil.example:${port}`, '']) {
      const res = await request(h.server, 'GET', '/api/flows', { host })
      assert.equal(res.status, 403, host)
      assert.match(String(res.body.error?.message), /only to its own loopback address/)
    }
    assert.equal((await request(h.server, 'GET', '/', { host: `evil.example:${port}` })).status, 403, 'nor the dashboard')
  })

  it("refuses writes from another site or origin (403) and writes that are not JSON (415); the dashboard's own pass", async () => {
    const path = '/api/flows/hello/runs'
    const body = '{"parameters":{}}'
    const own = `http://127.0.0.1:${port}`
    const refused: [Record<string, string>, number, RegExp][] = [
      [{ ...json, origin: 'http://evil.example' }, 403, /another origin/],
      [{ ...json, origin: 'null' }, 403, /another origin/],
      [{ ...json, origin: `http://localhost:${port + 1}` }, 403, /another origin/],
      [{ ...json, 'sec-fetch-site': 'cross-site' }, 403, /cross-site request/],
      [{ ...json, 'sec-fetch-site': 'same-site', origin: own }, 403, /same-site request/],
      [{ 'content-type': 'text/plain', origin: own }, 415, /application\/json/],
      [{ 'content-type': 'application/x-www-form-urlencoded' }, 415, /application\/json/],
      [{ 'content-type': 'multipart/form-data; boundary=x' }, 415, /application\/json/],
      [{}, 415, /application\/json/],
    ]
    const before = (await h.client.listRuns({ flow: 'hello' })).items.length
    for (const [headers, status, message] of refused) {
      const res = await request(h.server, 'POST', path, headers, body)
      assert.equal(res.status, status, JSON.stringify(headers))
      assert.match(String(res.body.error?.message), message)
    }
    // a body-less action (cancel) is guarded the same way
    const run = await h.client.createRun('hello', {})
    assert.equal((await request(h.server, 'POST', `/api/flow-runs/${run.id}/cancel`, { 'content-type': 'text/plain' })).status, 415)
    assert.equal((await h.client.listRuns({ flow: 'hello' })).items.length, before + 1, 'nothing but the client-made run was created')
    // what the dashboard sends: same-origin JSON, from 127.0.0.1 or localhost
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`]) {
      const res = await request(h.server, 'POST', path, { ...json, host, origin: `http://${host}`, 'sec-fetch-site': 'same-origin' }, body)
      assert.equal(res.status, 201, host)
    }
    assert.equal((await request(h.server, 'POST', `/api/flow-runs/${run.id}/cancel`, { ...json, origin: own, 'sec-fetch-site': 'same-origin' })).status, 200)
    // reads from a page are left to the browser's same-origin policy (no CORS headers are ever sent)
    const read = await request(h.server, 'GET', '/api/flows', { origin: 'http://evil.example', 'sec-fetch-site': 'cross-site' })
    assert.equal(read.status, 200)
    assert.equal(read.text.includes('access-control'), false)
  })
})

describe('API key', () => {
  let db: TestDatabase
  let keyed: RunningServer
  const KEY = 'k3y-for-tests-only-0123456789'
  before(async () => {
    db = await freshDatabase()
    keyed = await startServer(testConfig(db, { apiKey: KEY }), { log: () => undefined })
  })
  after(async () => {
    await keyed?.close()
    await db?.drop()
  })

  it('answers 401 in the error shape for any wrong key, never 500: other lengths, non-ASCII, the right length', async () => {
    const latin1 = (s: string) => Buffer.from(s, 'utf8').toString('latin1')
    const cases = ['', 'x', KEY.slice(1), `${KEY}x`, KEY.toUpperCase(), latin1('ключ'.padEnd(KEY.length, 'é')), latin1('é'.repeat(KEY.length)), 'é'.repeat(KEY.length), '\u00ff'.repeat(4096)]
    for (const key of cases) {
      const res = await request(keyed, 'GET', '/api/flows', { 'x-api-key': key })
      assert.equal(res.status, 401, JSON.stringify(key))
      assert.match(String(res.body.error?.message), /x-api-key/)
    }
    await fc.assert(
      // header bytes Node lets through: printable ASCII and 0x80-0xff (a UTF-8 key arrives as these)
      fc.asyncProperty(fc.string({ unit: fc.integer({ min: 0x20, max: 0xff }).filter((c) => c !== 0x7f).map((c) => String.fromCharCode(c)), maxLength: 64 }), async (key) => {
        fc.pre(key.trim() !== KEY && key.trim() === key && key !== '')
        const res = await request(keyed, 'GET', '/api/flows', { 'x-api-key': key })
        return res.status === 401 && typeof res.body.error?.message === 'string'
      }),
      { numRuns: 150 },
    )
    assert.equal((await request(keyed, 'GET', '/api/flows', { 'x-api-key': KEY })).status, 200)
    assert.equal((await request(keyed, 'GET', '/api/flows', { authorization: `Bearer ${KEY}` })).status, 200)
  })

  it('takes ?apiKey= on the event stream only', async () => {
    assert.equal((await request(keyed, 'GET', `/api/flows?apiKey=${KEY}`, {})).status, 401)
    const ac = new AbortController()
    const res = await fetch(`${keyed.url}/api/events?apiKey=${KEY}`, { signal: ac.signal })
    assert.equal(res.status, 200)
    assert.match(res.headers.get('content-type') ?? '', /text\/event-stream/)
    ac.abort()
  })

  it('with a key, any Host is served (a proxy or a public name), but cross-site writes are still refused', async () => {
    assert.equal((await request(keyed, 'GET', '/api/flows', { host: 'rota.example.org', 'x-api-key': KEY })).status, 200)
    const res = await request(keyed, 'POST', '/api/agents', { ...json, host: 'rota.example.org', 'x-api-key': KEY, 'sec-fetch-site': 'cross-site' }, '{"name":"a","type":"local"}')
    assert.equal(res.status, 403)
  })

  it('refuses a configured key that no HTTP client could send', () => {
    assert.throws(() => resolveConfig({ ROTA_API_KEY: 'ключ-secret' }), (e: Error) => e instanceof ConfigError && /printable ASCII/.test(e.message))
    assert.throws(() => resolveConfig({ ROTA_API_KEY: 'two words' }), ConfigError)
    assert.equal(resolveConfig({ ROTA_API_KEY: KEY }).apiKey, KEY)
  })
})

describe('one input door', () => {
  it('stores NUL and lone surrogates as U+FFFD in logs, task messages, labels and artifacts, instead of answering 500', async () => {
    const run = await h.client.createRun('hello', {})
    const forRun = await claimRun(h.client, run.id)
    const hostile = ['nul:a\u0000b', `lone:x\ud800y`, `rev:\udc00\ud83d`, `half emoji:${'😀'.slice(0, 1)}`]
    await forRun.postLogs(run.id, 'test', hostile.map((message, seq) => ({ seq, time: new Date().toISOString(), level: 'info' as const, message, taskName: `t\u0000${seq}` })))
    const logs = (await h.client.logs(run.id)).items.map((l) => l.message)
    assert.deepEqual(logs, hostile.map(storableText))
    assert.ok(logs.every((l) => !/[\u0000]/.test(l) && storableText(l) === l))
    const events = await forRun.postTaskEvents(run.id, [
      { taskRunId: crypto.randomUUID(), taskKey: 'k\u0000', taskName: 'extract', position: 0, state: 'running', message: 'go\ud800', attempts: 1, time: new Date().toISOString() },
    ])
    assert.equal(events.applied, 1)
    const agent = await h.client.registerAgent({ name: 'agent-\u0000-\udfff', type: 'local', labels: ['a\u0000b'], concurrency: 1 })
    assert.deepEqual(agent.labels, ['a\ufffdb'])
    assert.equal(agent.name, 'agent-\ufffd-\ufffd')
    const art = (await forRun.postArtifact(run.id, { key: 'k\u0000', data: { 'key\ud800': ['v\u0000'] } })) as { key: string; data: unknown }
    assert.equal(art.key, 'k\ufffd')
    assert.deepEqual(art.data, { 'key\ufffd': ['v\ufffd'] })
  })

  it('answers 400 with a message for JSON nested too deep, strings too long, numbers too large, years 0000 and 10000, integers past 2^31', async () => {
    const run = await h.client.createRun('hello', {})
    const deep = (n: number) => '['.repeat(n) + ']'.repeat(n)
    const now = new Date().toISOString()
    const task = (over: Record<string, unknown>) => JSON.stringify({ events: [{ taskRunId: crypto.randomUUID(), taskKey: 'k', taskName: 'n', position: 0, state: 'running', attempts: 1, time: now, ...over }] })
    const cases: [string, string, string, RegExp][] = [
      ['POST', `/api/flow-runs/${run.id}/artifacts`, `{"key":"k","data":${deep(5000)}}`, /nested deeper than 64/],
      ['POST', `/api/flow-runs/${run.id}/artifacts`, JSON.stringify({ key: 'k', data: 'x'.repeat(1024 * 1024 + 1) }), /string longer than/],
      ['POST', `/api/flow-runs/${run.id}/artifacts`, '{"key":"k","data":1e400}', /number too large/],
      ['POST', `/api/flow-runs/${run.id}/artifacts`, '{"key":"k","data":', /not valid JSON \(error at character \d+\)/],
      ['POST', `/api/flow-runs/${run.id}/task-runs`, task({ time: '0000-01-01T00:00:00Z' }), /years 0001 and 9999/],
      ['POST', `/api/flow-runs/${run.id}/task-runs`, task({ time: '10000-01-01T00:00:00Z' }), /time/],
      ['POST', `/api/flow-runs/${run.id}/task-runs`, task({ position: 2 ** 31 }), /position/],
      ['POST', `/api/flow-runs/${run.id}/task-runs`, task({ attempts: 2 ** 53 }), /attempts/],
      ['POST', '/api/flows/hello/runs', '{"scheduledStartTime":"0000-06-01T00:00:00Z"}', /years 0001 and 9999/],
      ['GET', '/api/flow-runs?before=0000-01-01T00:00:00Z', '', /years 0001 and 9999/],
      ['GET', '/api/flows/a%00b', '', /NUL/],
      ['GET', '/api/flow-runs?flow=%00', '', /NUL/],
    ]
    for (const [method, path, body, message] of cases) {
      const res = await request(h.server, method, path, method === 'GET' ? {} : json, method === 'GET' ? undefined : body)
      assert.equal(res.status, 400, `${method} ${path.slice(0, 60)} ${body.slice(0, 60)}: ${res.text.slice(0, 200)}`)
      assert.match(String(res.body.error?.message), message)
      assert.ok(!res.text.includes('x'.repeat(100)), 'the message does not echo the value')
    }
    // an action posted with an empty JSON body (curl -X POST -H 'content-type: application/json') works
    assert.equal((await request(h.server, 'POST', '/api/flows/hello/runs', json, '')).status, 201)
  })

  it("answers what Node refuses before the app (headers over 16 KiB) in the API's error shape", async () => {
    const res = await request(h.server, 'GET', `/api/flows?x=${'a'.repeat(20_000)}`, {})
    assert.equal(res.status, 431)
    assert.match(String(res.body.error?.message), /16 KiB/)
  })

  it('answers 404 to stopping an agent that is not registered', async () => {
    const res = await request(h.server, 'POST', `/api/agents/${crypto.randomUUID()}/stop`, json, '{}')
    assert.equal(res.status, 404)
    assert.match(String(res.body.error?.message), /not registered/)
  })
})

describe('CLI output', () => {
  it('prints logs without terminal control sequences, keeping their text', async () => {
    const run = await h.client.createRun('hello', {})
    const lines = ['\u001b[2J\u001b[Hclear screen', '\u001b]0;evil title\u0007titled', 'bell\u0007 and \r carriage', 'bidi \u202eevil\u202c text', 'c1 \u009b31m csi']
    await (await claimRun(new RotaClient(h.server.url), run.id)).postLogs(run.id, 'test', lines.map((message, seq) => ({ seq, time: new Date().toISOString(), level: 'info' as const, message })))
    const out = await cli(['logs', run.id], { ROTA_API_URL: h.server.url, ROTA_API_KEY: '' })
    assert.equal(out.code, 0, out.stderr)
    assert.doesNotMatch(out.stdout, /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/)
    for (const text of ['clear screen', 'titled', 'bell and  carriage', 'bidi evil text', 'c1  csi']) assert.ok(out.stdout.includes(text), `${text} in:\n${out.stdout}`)
  })
})

describe('text at the boundaries (properties)', { skip: DB_KIND === 'pglite' ? false : 'no database involved: runs in the PGlite pass only' }, () => {
  const anyText = fc.string({ unit: fc.oneof(fc.constantFrom('\u0000', '\ud83d', '\ude00', '😀', '\u001b', '\u009b', 'a', 'é'), fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c))), maxLength: 80 })
  const wellFormed = (s: string) => !/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(s)

  it('storableText leaves no NUL and no lone surrogate, keeps well-formed text, and is idempotent', () => {
    fc.assert(
      fc.property(anyText, (s) => {
        const out = storableText(s)
        assert.ok(!out.includes('\u0000') && wellFormed(out))
        assert.equal(out.length, s.length, 'one U+FFFD per replaced unit')
        assert.equal(storableText(out), out)
        if (!s.includes('\u0000') && wellFormed(s)) assert.equal(out, s)
      }),
      { numRuns: 2000 },
    )
  })

  it('cutText never splits a surrogate pair and never exceeds its length', () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom('a', '😀', 'é', '\u4e2d'), maxLength: 60 }), fc.nat(70), fc.constantFrom('', '…', '… [cut]'), (s, max, suffix) => {
        fc.pre(max >= suffix.length)
        const out = cutText(s, max, suffix)
        assert.ok(out.length <= Math.max(max, 0) || out === s)
        assert.ok(wellFormed(out), JSON.stringify(out))
        assert.ok(s.startsWith(out.slice(0, out.length - (out === s ? 0 : suffix.length))))
      }),
      { numRuns: 2000 },
    )
  })

  it('terminalSafe leaves no control sequence but tabs and newlines', () => {
    fc.assert(
      fc.property(anyText, (s) => {
        assert.doesNotMatch(terminalSafe(s), /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/)
      }),
      { numRuns: 2000 },
    )
  })
})
