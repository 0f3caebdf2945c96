import type { RotaConfig } from '../../config.ts'
import type { Db } from '../db/index.ts'
import type { EventBus } from '../events.ts'

export interface ServerContext {
  db: Db
  bus: EventBus
  config: RotaConfig
  version: string
  /** Aborted when the server stops: long polls and streams end. */
  shutdown: AbortSignal
}
