/** The API key: required beyond loopback, checked on every API call, never leaked. */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { freshDatabase, testConfig, type TestDatabase } from '../helpers/rota.ts'
import { startServer, type RunningServer } from '../../src/server/index.ts'
import { ConfigError } from '../../src/config.ts'

let db: TestDatabase
let server: RunningServer
before(async () => {
  db = await freshDatabase()
  server = await startServer(testConfig(db, { apiKey: 'k3y-for-tests-only' }), { log: () => undefined })
})
after(async () => {
  await server?.close()
  await db?.drop()
})

describe('API key', () => {
  it('refuses to listen beyond loopback without a key', async () => {
    await assert.rejects(startServer(testConfig(db, { host: '0.0.0.0' }), { log: () => undefined }), (err: Error) => err instanceof ConfigError && /ROTA_API_KEY/.test(err.message))
  })
  it('answers 401 with what to do when the key is missing or wrong, and serves it when right', async () => {
    const none = await fetch(`${server.url}/api/flows`)
    assert.equal(none.status, 401)
    assert.match(((await none.json()) as { error: { message: string } }).error.message, /x-api-key/)
    assert.equal((await fetch(`${server.url}/api/flows`, { headers: { 'x-api-key': 'wrong-key-of-same-size' } })).status, 401)
    assert.equal((await fetch(`${server.url}/api/flows`, { headers: { 'x-api-key': 'k3y-for-tests-only' } })).status, 200)
    assert.equal((await fetch(`${server.url}/api/flows`, { headers: { authorization: 'Bearer k3y-for-tests-only' } })).status, 200)
  })
  it('keeps health open for load balancers, and says a key is needed', async () => {
    const health = (await (await fetch(`${server.url}/api/health`)).json()) as { status: string; authRequired: boolean }
    assert.equal(health.status, 'ok')
    assert.equal(health.authRequired, true)
  })
})
