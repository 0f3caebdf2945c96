/**
 * `npm test` runs every file once per database (PGlite, then PostgreSQL). Most BRT tests never
 * touch the orchestrator's database: they run in the PGlite pass only, and say so in the other.
 * (When the PGlite pass is not run, ROTA_TEST_DBS without "pglite", they run wherever they are.)
 */
const passes = (process.env.ROTA_TEST_DBS ?? 'pglite postgres').split(/\s+/)

export const DB_FREE: string | false =
  process.env.ROTA_TEST_DB === 'postgres' && passes.includes('pglite') ? 'needs no database: runs once, in the PGlite pass' : false
