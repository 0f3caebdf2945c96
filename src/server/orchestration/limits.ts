/**
 * The limits claimed runs must fit in: their flow's maxActiveRuns, their flow's pool, their
 * backfill's maxActive. A claim locks each limit it touches (advisory locks, sorted: see
 * store/pools.ts lockLimits), then reads who holds it, so two agents on two servers claiming at the
 * same instant are serialised and never both see a free slot. Within one claim, each accepted run
 * takes its slots at once, so the next candidate of the batch sees them taken.
 */
import type { Queryable } from '../db/index.ts'
import type { ActiveRun, ClaimLimits, SlotHolder } from './rules.ts'
import type { ClaimCandidate } from '../store/queue.ts'
import { activeRunsOfFlows, backfillLimits } from '../store/queue.ts'
import { ensurePools, lockLimits, poolHolders, listPoolRows } from '../store/pools.ts'

export class ClaimLimitBook {
  private constructor(
    private readonly flows: Map<string, { name: string; maxActiveRuns: number; overlap: ClaimCandidate['overlap']; active: ActiveRun[] }>,
    private readonly pools: Map<string, { name: string; slots: number; holders: SlotHolder[] }>,
    private readonly backfills: Map<string, { id: string; maxActive: number; active: ActiveRun[] }>,
  ) {}

  /**
   * Reads the limits of these candidates. With `lock`, takes their advisory locks first (claims);
   * without, reads what is there (the reaper, to say why runs wait).
   */
  static async load(tx: Queryable, candidates: readonly ClaimCandidate[], options: { lock: boolean }): Promise<ClaimLimitBook> {
    const limitedFlows = new Map(candidates.filter((c) => c.maxActiveRuns !== null).map((c) => [c.flowId, c]))
    const poolNames = [...new Set(candidates.map((c) => c.flowPool).filter((p): p is string => p !== null))]
    const backfillIds = [...new Set(candidates.map((c) => c.backfillId).filter((b): b is string => b !== null))]
    if (options.lock) {
      await lockLimits(tx, [...[...limitedFlows.keys()].map((id) => `flow:${id}`), ...poolNames.map((n) => `pool:${n}`), ...backfillIds.map((id) => `backfill:${id}`)])
    }
    const flows = new Map<string, { name: string; maxActiveRuns: number; overlap: ClaimCandidate['overlap']; active: ActiveRun[] }>()
    for (const [id, c] of limitedFlows) flows.set(id, { name: c.flowName, maxActiveRuns: c.maxActiveRuns as number, overlap: c.overlap, active: [] })
    for (const a of await activeRunsOfFlows(tx, [...limitedFlows.keys()])) flows.get(a.flowId)?.active.push({ id: a.id, name: a.name, state: a.state })

    const pools = new Map<string, { name: string; slots: number; holders: SlotHolder[] }>()
    if (poolNames.length > 0) {
      if (options.lock) await ensurePools(tx, poolNames)
      const rows = new Map((await listPoolRows(tx)).map((p) => [p.name, p]))
      for (const name of poolNames) pools.set(name, { name, slots: rows.get(name)?.slots ?? 1, holders: [] })
      for (const h of await poolHolders(tx, poolNames)) pools.get(h.pool)?.holders.push({ flowRunName: h.flowRunName, taskName: h.taskName })
    }

    const backfills = new Map<string, { id: string; maxActive: number; active: ActiveRun[] }>()
    for (const row of await backfillLimits(tx, backfillIds)) {
      if (row.maxActive === null) continue
      const b = backfills.get(row.backfillId) ?? { id: row.backfillId, maxActive: row.maxActive, active: [] }
      backfills.set(row.backfillId, b)
      if (row.id && row.name && row.state) b.active.push({ id: row.id, name: row.name, state: row.state })
    }
    return new ClaimLimitBook(flows, pools, backfills)
  }

  /** The snapshot of the limits `run` must fit in now. */
  limitsFor(run: ClaimCandidate): ClaimLimits {
    return {
      flow: this.flows.get(run.flowId),
      pool: run.flowPool ? this.pools.get(run.flowPool) : undefined,
      backfill: run.backfillId ? this.backfills.get(run.backfillId) : undefined,
    }
  }

  /** An accepted run takes its slots: later candidates of the same claim see them taken. */
  take(run: ClaimCandidate): void {
    const active: ActiveRun = { id: run.id, name: run.name, state: 'pending' }
    this.flows.get(run.flowId)?.active.push(active)
    if (run.flowPool) this.pools.get(run.flowPool)?.holders.push({ flowRunName: run.name, taskName: null })
    if (run.backfillId) this.backfills.get(run.backfillId)?.active.push(active)
  }

  /** Runs a claim has just set cancelling (overlap 'cancel-running'): they hold their slot until they end, but are not cancelled twice. */
  cancelled(flowId: string, ids: readonly string[]): void {
    const flow = this.flows.get(flowId)
    if (flow) for (const a of flow.active) if (ids.includes(a.id)) a.state = 'cancelling'
  }
}
