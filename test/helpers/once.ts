/**
 * For tests that need no database of their own, or are too costly to repeat: `npm test` runs every
 * file on PGlite and again on PostgreSQL; `{ skip: once }` runs it in the PGlite pass only.
 */
import { DB_KIND } from './rota.ts'

export const once: string | false = DB_KIND === 'postgres' ? 'runs once, in the PGlite pass' : false
