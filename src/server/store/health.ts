/** SQL for the health check. */
import type { Queryable } from '../db/index.ts'

/** Throws when the database does not answer. */
export async function pingDatabase(db: Queryable): Promise<void> {
  await db.query('select 1')
}
