/**
 * The embedded database shares the server's event loop: PGlite runs a query synchronously and hands
 * its lock to the next query in a microtask, so queries that follow one another never let the loop
 * turn, and a busy server stopped accepting connections (the throughput benchmark's clients got
 * resets after tens of seconds). Rota's PGlite door lets the loop turn before each query.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { DB_KIND, freshDatabase } from '../helpers/rota.ts'
import { openDb } from '../../src/server/db/index.ts'

describe('PGlite and the event loop', { skip: DB_KIND === 'pglite' ? false : 'PGlite only (PostgreSQL runs in its own processes)' }, () => {
  it('lets the event loop turn between queries, one after another and many at once', async () => {
    const test = await freshDatabase()
    const db = await openDb({ databaseUrl: test.databaseUrl, home: test.home })
    try {
      let turns = 0
      let busy = true
      const turn = () => {
        turns++
        if (busy) setImmediate(turn)
      }
      setImmediate(turn)
      const QUERIES = 40
      // one after another, as a request's handler runs them
      for (let i = 0; i < QUERIES; i++) await db.query('select $1::int as i', [i])
      const sequential = turns
      // and many at once, as requests do
      await Promise.all(Array.from({ length: QUERIES }, (_, i) => db.transaction((tx) => tx.query('select $1::int as i', [i]))))
      busy = false
      assert.ok(sequential >= QUERIES, `the loop turned ${sequential} times during ${QUERIES} queries in a row`)
      assert.ok(turns > sequential, 'and while transactions waited for one another')
    } finally {
      await db.close()
      await test.drop()
    }
  })
})
