/**
 * The pure parts of retention and automations, example by example and by property (fast-check):
 * durations, the retention settings and flows' own, the per-flow policy, what answers show of a
 * webhook (never a header value, never the secret part of its URL), the webhook's contract checks,
 * and the Slack text. No database.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { DurationError, MAX_DURATION_SECONDS, formatDurationSeconds, parseDurationSeconds } from '../../src/core/duration.ts'
import { ConfigError, resolveConfig, resolveRetention } from '../../src/config.ts'
import { defineFlow } from '../../src/sdk/flow.ts'
import { effectivePolicy } from '../../src/server/retention.ts'
import { presentAction, redactUrl } from '../../src/server/api/presenter.ts'
import { AutomationActionSchema, AutomationInputSchema } from '../../src/core/contract.ts'
import { buildFiring } from '../../src/server/automations/payload.ts'
import { describeAction, describeTrigger } from '../../src/core/automations.ts'

const UNITS = { s: 1, m: 60, h: 3600, d: 86_400, w: 604_800 } as const

describe('durations', () => {
  it('reads 40s, 10m, 12h, 30d, 2w and bare seconds', () => {
    assert.deepEqual(['40s', '10m', '12h', '30d', '2w', '90', ' 5 M '].map((d) => parseDurationSeconds(d)), [40, 600, 43_200, 2_592_000, 1_209_600, 90, 300])
    assert.equal(parseDurationSeconds(7), 7)
  })

  it('refuses anything else with a message that says what it takes', () => {
    for (const bad of ['', '0', '0s', '-5m', '1.5h', '10 minutes', 'soon', '1y', '5ms', `${MAX_DURATION_SECONDS + 1}`, 'NaN', '1e3']) {
      assert.throws(() => parseDurationSeconds(bad, 'X'), (err: Error) => err instanceof DurationError && /X must be .* such as 40s, 10m, 12h, 30d or 2w/.test(err.message), bad)
    }
    for (const bad of [0, -1, 1.5, Number.NaN, Infinity]) assert.throws(() => parseDurationSeconds(bad), DurationError)
  })

  it('property: n<unit> is n times the unit, and format then parse is the identity', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5000 }), fc.constantFrom(...(Object.keys(UNITS) as (keyof typeof UNITS)[])), (n, unit) => {
        assert.equal(parseDurationSeconds(`${n}${unit}`), n * UNITS[unit])
      }),
    )
    fc.assert(fc.property(fc.integer({ min: 1, max: MAX_DURATION_SECONDS }), (s) => assert.equal(parseDurationSeconds(formatDurationSeconds(s)), s)))
  })

  it('property: any text is either a whole number of seconds in range or a DurationError', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.stringMatching(/^\d{1,14}[smhdwy]?$/)), (text) => {
        try {
          const s = parseDurationSeconds(text)
          assert.ok(Number.isInteger(s) && s >= 1 && s <= MAX_DURATION_SECONDS)
        } catch (err) {
          assert.ok(err instanceof DurationError, String(err))
        }
      }),
      { numRuns: 2000 },
    )
  })
})

describe('retention settings', () => {
  it('defaults to 30 days and the newest 100; reads ROTA_RETENTION and ROTA_RETENTION_KEEP_LAST', () => {
    assert.deepEqual(resolveRetention({}), { maxAgeSeconds: 30 * 86_400, keepLast: 100 })
    assert.deepEqual(resolveRetention({ ROTA_RETENTION: '40s', ROTA_RETENTION_KEEP_LAST: '0' }), { maxAgeSeconds: 40, keepLast: 0 })
    assert.deepEqual(resolveRetention({ ROTA_RETENTION: 'off' }), { maxAgeSeconds: null, keepLast: 100 })
    assert.deepEqual(resolveConfig({ ROTA_RETENTION: '12h' }).retention, { maxAgeSeconds: 43_200, keepLast: 100 })
  })

  it('says what to set when a value is wrong', () => {
    assert.throws(() => resolveRetention({ ROTA_RETENTION: 'a month' }), (e: Error) => e instanceof ConfigError && /ROTA_RETENTION must be .*; or "off" to keep every run/.test(e.message))
    for (const keep of ['-1', 'many', '1.5', '2000000']) {
      assert.throws(() => resolveRetention({ ROTA_RETENTION_KEEP_LAST: keep }), (e: Error) => e instanceof ConfigError && /ROTA_RETENTION_KEEP_LAST must be a whole number/.test(e.message), keep)
    }
    assert.throws(() => resolveConfig({ ROTA_PUBLIC_URL: 'ftp://x' }), /ROTA_PUBLIC_URL must start with http/)
  })

  it("a flow's own retention: checked by defineFlow, in the registration's wire form", () => {
    const flow = defineFlow({ name: 'r', retention: { maxAge: '7d', keepLast: 50 } }, async () => undefined)
    assert.deepEqual(flow.retention, { maxAgeSeconds: 604_800, keepLast: 50 })
    assert.deepEqual(defineFlow({ name: 'r', retention: { maxAge: null } }, async () => undefined).retention, { maxAgeSeconds: null })
    assert.equal(defineFlow({ name: 'r' }, async () => undefined).retention, null)
    assert.throws(() => defineFlow({ name: 'r', retention: { maxAge: 'a week' } }, async () => undefined), /flow "r": retention\.maxAge must be/)
    assert.throws(() => defineFlow({ name: 'r', retention: { keepLast: -1 } }, async () => undefined), /flow "r": retention\.keepLast must be a whole number/)
  })

  it("property: a flow's settings win field by field, the server's fill the rest", () => {
    const age = fc.option(fc.integer({ min: 1, max: 10 ** 9 }), { nil: null })
    fc.assert(
      fc.property(age, fc.integer({ min: 0, max: 1000 }), fc.record({ maxAgeSeconds: age, keepLast: fc.integer({ min: 0, max: 1000 }) }, { requiredKeys: [] }), (gAge, gKeep, own) => {
        const p = effectivePolicy({ maxAgeSeconds: gAge, keepLast: gKeep }, own)
        assert.equal(p.maxAgeSeconds, 'maxAgeSeconds' in own ? own.maxAgeSeconds : gAge)
        assert.equal(p.keepLast, own.keepLast ?? gKeep)
      }),
    )
    assert.deepEqual(effectivePolicy({ maxAgeSeconds: 60, keepLast: 3 }, null), { maxAgeSeconds: 60, keepLast: 3 })
  })
})

describe('webhook secrets in answers', () => {
  it('shows header names, never their values, and a URL up to its first path segment', () => {
    assert.deepEqual(presentAction({ type: 'webhook', url: 'https://hooks.slack.com/services/T0/B0/XyZ', headers: { Authorization: 'Bearer abc' } }), {
      type: 'webhook',
      url: 'https://hooks.slack.com/services/…',
      headers: { Authorization: '********' },
    })
    assert.equal(redactUrl('https://user:pw@example.org:8443/hook?token=abc'), 'https://example.org:8443/hook?…')
    assert.equal(redactUrl('http://127.0.0.1:9/'), 'http://127.0.0.1:9/')
    assert.deepEqual(presentAction({ type: 'run-flow', flow: 'f', parameters: { a: 1 } }), { type: 'run-flow', flow: 'f', parameters: { a: 1 } })
  })

  it('property: no header value and nothing past the first path segment, query or user info appears in what answers show', () => {
    const token = fc.stringMatching(/^[A-Za-z0-9]{6,20}$/).map((s) => `SECRET${s}`)
    fc.assert(
      fc.property(
        fc.constantFrom('http', 'https'),
        fc.domain(),
        fc.stringMatching(/^[a-z]{1,8}$/),
        fc.array(token, { maxLength: 3 }),
        fc.option(token, { nil: undefined }),
        fc.option(token, { nil: undefined }),
        fc.dictionary(fc.stringMatching(/^[A-Za-z][A-Za-z0-9-]{0,15}$/), token, { maxKeys: 5 }),
        (scheme, host, first, rest, query, password, headers) => {
          const url = `${scheme}://${password ? `u:${password}@` : ''}${host}/${first}${rest.map((r) => `/${r}`).join('')}${query ? `?k=${query}` : ''}`
          const shown = JSON.stringify(presentAction({ type: 'webhook', url, headers }))
          assert.ok(!shown.includes('SECRET'), `${url} ${JSON.stringify(headers)} -> ${shown}`)
          for (const name of Object.keys(headers)) assert.ok(shown.includes(name))
        },
      ),
      { numRuns: 500 },
    )
  })

  it('property: a webhook URL is taken when it is http(s), refused otherwise; header values on one line only', () => {
    fc.assert(
      fc.property(fc.webUrl({ validSchemes: ['http', 'https'] }), (url) => assert.ok(AutomationActionSchema.safeParse({ type: 'webhook', url }).success, url)),
      { numRuns: 300 },
    )
    fc.assert(
      fc.property(fc.webUrl({ validSchemes: ['ftp', 'file', 'javascript', 'data', 'ws'] }), (url) => assert.ok(!AutomationActionSchema.safeParse({ type: 'webhook', url }).success, url)),
      { numRuns: 300 },
    )
    fc.assert(
      fc.property(fc.string(), fc.constantFrom('\r', '\n', '\u0000', '\u007f', 'é'), fc.string(), (a, bad, b) => {
        assert.ok(!AutomationActionSchema.safeParse({ type: 'webhook', url: 'https://x.example/h', headers: { X: a + bad + b } }).success)
      }),
    )
  })

  it('property: whatever JSON comes in, the input schema answers with issues, never throws', () => {
    fc.assert(fc.property(fc.jsonValue(), (body) => void AutomationInputSchema.safeParse(body)), { numRuns: 1000 })
  })
})

describe('what a firing says', () => {
  const base = { automation: { id: 'a', name: 'ops' }, baseUrl: 'https://rota.example', dedupeKey: 'k' }
  it('carries the fields a webhook receives, with a Slack link to the run', () => {
    const f = buildFiring({ ...base, kind: 'flow-run-state', flowName: 'brt', run: { id: 'r1', name: 'brave-otter', state: 'failed', message: 'boom' } })
    assert.deepEqual(Object.keys(f.payload).sort(), ['automation', 'automationId', 'flowName', 'flowRunId', 'flowRunName', 'flowUrl', 'kind', 'message', 'runUrl', 'state', 'text', 'time'])
    assert.equal(f.payload.runUrl, 'https://rota.example/#/runs/r1')
    assert.equal(f.payload.text, '[Rota] ops: brt: run brave-otter is failed: boom <https://rota.example/#/runs/r1|open the run>')
    assert.equal(f.dedupeKey, 'k')
  })

  it("property: the Slack text escapes what is not Rota's own markup", () => {
    fc.assert(
      fc.property(fc.string(), fc.string({ minLength: 1 }), (message, name) => {
        const f = buildFiring({ ...base, automation: { id: 'a', name }, kind: 'flow-run-state', flowName: 'f', run: { id: 'r', name: 'n', state: 'failed', message } })
        const text = String(f.payload.text)
        const link = ' <https://rota.example/#/runs/r|open the run>'
        assert.ok(text.endsWith(link))
        assert.ok(!/[<>]/.test(text.slice(0, -link.length)), text)
      }),
      { numRuns: 500 },
    )
  })

  it('describes triggers and actions in words', () => {
    assert.equal(describeTrigger({ type: 'no-success', flow: 'brt', withinSeconds: 900 }), 'brt has no success for 15m (and when it recovers)')
    assert.equal(describeTrigger({ type: 'late', forSeconds: 60 }), 'a run of any flow is 1m late')
    assert.equal(describeAction({ type: 'pause-schedule' }), "pause the schedule of the run's flow")
  })
})
