/**
 * What running unattended needs beside the API: the retention policy, the database's size and
 * oldest run (read at most every 10 s), and the metrics registry. One per server.
 */
import type { Db } from './db/index.ts'
import type { RotaConfig, RetentionPolicy } from '../config.ts'
import { StorageProbe } from './retention.ts'
import { RotaMetrics } from './metrics.ts'

export interface Ops {
  retention: RetentionPolicy
  storage: StorageProbe
  metrics: RotaMetrics
}

export function createOps(db: Db, config: RotaConfig): Ops {
  const storage = new StorageProbe(db)
  return { retention: config.retention, storage, metrics: new RotaMetrics(db, storage) }
}
