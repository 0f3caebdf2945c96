/**
 * Retention: the server deletes finished runs older than ROTA_RETENTION (30 days by default), with
 * their task runs, state history, logs and artifacts, keeping the ROTA_RETENTION_KEEP_LAST newest
 * finished runs of each flow whatever their age; a flow may set its own (`defineFlow({ retention })`).
 * Runs that are scheduled, pending, running, retrying or cancelling are never deleted.
 *
 * A sweep deletes in batches of `batchSize` runs, one short statement each (no long transaction, no
 * lock on anything the API or the scheduler waits for: rows locked elsewhere are skipped), and stops
 * after `budgetMs` to go on at the next tick. Several servers may sweep at once (SKIP LOCKED).
 * PGlite runs no autovacuum: after large deletes the sweep vacuums the run tables itself, so the
 * space is reused and the database stays flat; PostgreSQL's autovacuum does that on its own.
 *
 * Children go by ON DELETE CASCADE rather than by deleting them first, set-based (`bench/year.ts
 * --compare-deletes`, 20,000 runs, 2 busy cores): 3.3 s against 13.4 s on PostgreSQL; on PGlite about
 * the same (18.9 s against 17.9 s), so the simpler one.
 */
import type { Db } from './db/index.ts'
import type { RetentionPolicy } from '../config.ts'
import { flowsForRetention, pruneFirings, pruneFlowRuns, storageFacts, vacuumRunTables, type PruneCursor, type StorageRow } from './store/retention.ts'

export interface RetentionOptions {
  /** Runs deleted per statement (default 500 on PostgreSQL; 100 on PGlite, whose one connection every request shares). */
  batchSize?: number
  /** A sweep stops after this long and goes on at the next tick (default 20 s). */
  budgetMs?: number
  /** Firings kept per automation whatever their age (default 20). */
  firingsKept?: number
  /** PGlite: vacuum after this many deleted runs... (default 5,000) */
  vacuumAfterRuns?: number
  /** ...or after this long with any deletes (default 10 minutes). */
  vacuumEveryMs?: number
}

export interface SweepResult {
  /** Deleted runs by flow name. */
  deleted: Record<string, number>
  /** False when the time budget ran out with runs left to delete. */
  complete: boolean
  vacuumed: boolean
}

/** A flow's effective policy: its own settings over the server's. */
export function effectivePolicy(global: RetentionPolicy, own: { maxAgeSeconds?: number | null | undefined; keepLast?: number | undefined } | null): RetentionPolicy {
  return {
    maxAgeSeconds: own?.maxAgeSeconds !== undefined ? own.maxAgeSeconds : global.maxAgeSeconds,
    keepLast: own?.keepLast ?? global.keepLast,
  }
}

export class RetentionSweeper {
  private readonly batchSize: number
  private readonly budgetMs: number
  private readonly firingsKept: number
  private readonly vacuumAfterRuns: number
  private readonly vacuumEveryMs: number
  private deletedSinceVacuum = 0
  private lastVacuum = Date.now()

  constructor(
    private readonly db: Db,
    readonly policy: RetentionPolicy,
    options: RetentionOptions = {},
    private readonly onDeleted: (flowName: string, runs: number) => void = () => undefined,
  ) {
    // Measured (bench/year.ts, 2 busy cores): a batch of 500 runs with their children takes 80-180 ms
    // on PostgreSQL (p99 130-470 ms), ~480 ms on PGlite (p99 ~0.9 s), where nothing else runs meanwhile.
    this.batchSize = options.batchSize ?? (db.kind === 'pglite' ? 100 : 500)
    this.budgetMs = options.budgetMs ?? 20_000
    this.firingsKept = options.firingsKept ?? 20
    this.vacuumAfterRuns = options.vacuumAfterRuns ?? 5000
    this.vacuumEveryMs = options.vacuumEveryMs ?? 10 * 60_000
  }

  /** One sweep over every flow. */
  async sweep(): Promise<SweepResult> {
    const started = Date.now()
    const deleted: Record<string, number> = {}
    let complete = true
    for (const flow of await flowsForRetention(this.db)) {
      const policy = effectivePolicy(this.policy, flow.retention)
      if (policy.maxAgeSeconds === null) continue
      let cursor: PruneCursor | undefined
      for (;;) {
        if (Date.now() - started > this.budgetMs) {
          complete = false
          break
        }
        const batch = await pruneFlowRuns(this.db, flow.id, { maxAgeSeconds: policy.maxAgeSeconds, keepLast: policy.keepLast }, this.batchSize, cursor)
        if (batch.deleted > 0) {
          deleted[flow.name] = (deleted[flow.name] ?? 0) + batch.deleted
          this.deletedSinceVacuum += batch.deleted
          this.onDeleted(flow.name, batch.deleted)
        }
        if (batch.deleted < this.batchSize || !batch.last) break
        cursor = batch.last
        // Requests that arrived meanwhile go first (on PGlite they share the one connection).
        await new Promise((resolve) => setImmediate(resolve))
      }
      if (!complete) break
    }
    if (this.policy.maxAgeSeconds !== null) await pruneFirings(this.db, this.policy.maxAgeSeconds, this.firingsKept, 1000)
    let vacuumed = false
    const due = this.deletedSinceVacuum >= this.vacuumAfterRuns || (this.deletedSinceVacuum > 0 && Date.now() - this.lastVacuum >= this.vacuumEveryMs)
    if (this.db.kind === 'pglite' && due) {
      await vacuumRunTables(this.db)
      vacuumed = true
    }
    if (due) {
      this.deletedSinceVacuum = 0
      this.lastVacuum = Date.now()
    }
    return { deleted, complete, vacuumed }
  }
}

/** The database's size and oldest run, read at most every `ttlMs` (health checks and scrapes come often). */
export class StorageProbe {
  private cached: { at: number; facts: StorageRow } | undefined
  private pending: Promise<StorageRow> | undefined

  constructor(
    private readonly db: Db,
    private readonly ttlMs = 10_000,
  ) {}

  async read(): Promise<StorageRow> {
    if (this.cached && Date.now() - this.cached.at < this.ttlMs) return this.cached.facts
    this.pending ??= storageFacts(this.db)
      .then((facts) => {
        this.cached = { at: Date.now(), facts }
        return facts
      })
      .finally(() => {
        this.pending = undefined
      })
    return this.pending
  }
}
