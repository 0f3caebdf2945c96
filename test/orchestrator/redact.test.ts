/**
 * Redaction (src/core/redact.ts), as properties: whatever the secret and whatever surrounds it, no
 * encoding of it a program is likely to print survives — judged by an independent decoder
 * (test/helpers/leaks.ts), not by redaction's own list of forms. No database: PGlite pass only.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { DB_KIND } from '../helpers/rota.ts'
import { awkwardSecret, leak } from '../helpers/leaks.ts'
import { MIN_SECRET_LENGTH, REDACTED, redact, redactor, secretForms, secretStrings } from '../../src/core/redact.ts'
import { ParameterError, parameterSpecs, resolveParameters, secretValues } from '../../src/core/parameters.ts'

const once = DB_KIND === 'pglite' ? false : 'no database involved: runs in the PGlite pass only'

/** The ways a flow may print a secret; each is embedded in random text. */
const ENCODINGS: Record<string, (s: string) => string> = {
  raw: (s) => s,
  json: (s) => JSON.stringify({ token: s }),
  'json twice': (s) => JSON.stringify(JSON.stringify({ token: s })),
  'json ascii-only': (s) => JSON.stringify(s).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`),
  url: (s) => `https://api.example/x?token=${encodeURIComponent(s)}&y=1`,
  'url form': (s) => new URLSearchParams({ token: s }).toString(),
  base64: (s) => Buffer.from(s).toString('base64'),
  base64url: (s) => Buffer.from(s).toString('base64url'),
  'basic auth': (s) => `Authorization: Basic ${Buffer.from(`user:${s}`).toString('base64')}`,
  'base64 of a JSON body': (s) => Buffer.from(JSON.stringify({ a: 1, password: s })).toString('base64'),
}

const secrets = fc.oneof(
  fc.string({ minLength: MIN_SECRET_LENGTH, maxLength: 40 }),
  fc.string({ unit: 'grapheme', minLength: MIN_SECRET_LENGTH, maxLength: 20 }),
  fc.constantFrom(awkwardSecret(), 'hunter2!', 'a b+c/d=e', '"quoted"', 'back\\slash', 'çé€😀-key'),
)
const surroundings = fc.tuple(fc.string({ maxLength: 30 }), fc.string({ maxLength: 30 }))

describe('redaction', { skip: once }, () => {
  it('leaves no encoding of a secret, wherever it is embedded (property, 3,000 cases)', () => {
    fc.assert(
      fc.property(secrets, surroundings, fc.constantFrom(...Object.keys(ENCODINGS)), fc.nat(3), (secret, [before, after], how, shift) => {
        // Texts made only of spaces are hidden by nobody sensible; they are not secrets worth the name.
        fc.pre(secret.trim().length >= MIN_SECRET_LENGTH)
        const printed = `${before}${'x'.repeat(shift)}${(ENCODINGS[how] as (s: string) => string)(secret)}${after}`
        const out = redact(printed, [secret])
        const found = leak(out, secret)
        assert.equal(found, undefined, `${how} of ${JSON.stringify(secret)} survived in ${JSON.stringify(out)}: ${found}`)
      }),
      { numRuns: 3000 },
    )
  })

  it('hides secrets inside data (keys, values, numbers) and keeps the rest', () => {
    const r = redactor(['s3cret-value', '987654'])
    assert.deepEqual(r.value({ a: 'x s3cret-value y', 's3cret-value': 1, n: 987654, list: ['ok', 'u=s3cret-value'], keep: 42 }), {
      a: `x ${REDACTED} y`,
      [REDACTED]: 1,
      n: REDACTED,
      list: ['ok', `u=${REDACTED}`],
      keep: 42,
    })
    assert.equal(r.text('nothing secret here'), 'nothing secret here')
  })

  it('takes the secrets of secret parameters only, in every shape a value may have', () => {
    const specs = parameterSpecs({ token: 'x', count: 1, config: {}, open: 'public-value' }, ['token', 'count', 'config'])
    const values = resolveParameters(specs, { token: 'tok-123456', count: 424242, config: { password: 'pw-abcdef', list: ['deep-secret'] } })
    const secrets = secretValues(specs, values)
    for (const s of ['tok-123456', '424242', 'pw-abcdef', 'deep-secret']) assert.ok(secrets.includes(s), s)
    assert.ok(!secrets.includes('public-value'))
    assert.ok(!secrets.includes('password'), 'keys are not secrets')
    assert.deepEqual(secretStrings('abc'), [], 'shorter than MIN_SECRET_LENGTH: not redacted')
    assert.deepEqual(secretForms('abc'), [])
  })

  it('parameter errors name what came, never its value', () => {
    const specs = parameterSpecs({ n: 1, flag: false }, ['n'])
    for (const bad of [{ n: 'hunter2-secret' }, { n: { password: 'hunter2-secret' } }, { flag: 'hunter2-secret' }]) {
      assert.throws(
        () => resolveParameters(specs, bad),
        (err: Error) => err instanceof ParameterError && !err.message.includes('hunter2') && /must be a (number|boolean), got a/.test(err.message),
      )
    }
  })
})
