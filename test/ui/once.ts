/**
 * `npm test` runs every file once per database (PGlite, then PostgreSQL). The browser tests check
 * the dashboard, which does not depend on the database (the orchestrator's tests cover both):
 * they run in the PGlite pass only, and say so in the other. When the PGlite pass is not run
 * (ROTA_TEST_DBS without "pglite") they run wherever they are.
 */
const passes = (process.env.ROTA_TEST_DBS ?? 'pglite postgres').split(/\s+/)

export const UI_ONCE: string | false =
  process.env.ROTA_TEST_DB === 'postgres' && passes.includes('pglite') ? 'a browser test: runs once, in the PGlite pass' : false
