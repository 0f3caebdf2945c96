/**
 * Slot pools: named sets of slots shared across flows and tasks. A whole run takes a slot of its
 * flow's pool when it is claimed (orchestration/limits.ts); a task takes one here, asked by its run
 * process, which long-polls until it holds one. A slot goes back when the task gives it back or
 * when the run ends in any way, a crash included (slots of runs that are not active are not counted).
 */
import type { Db } from './db/index.ts'
import type { EventBus } from './events.ts'
import { ACTIVE_STATES, type State } from '../core/states.ts'
import { ConflictError, NotFoundError } from './orchestration/transition.ts'
import { poolWaitMessage } from './orchestration/rules.ts'
import {
  deleteSlot,
  ensurePools,
  getPoolRow,
  grantSlot,
  listPoolRows,
  lockLimits,
  poolHolders,
  poolWaiters,
  setPoolSlots,
  upsertSlotRequest,
  waitersAhead,
  type HolderRow,
  type PoolRow,
} from './store/pools.ts'

export interface PoolView extends PoolRow {
  holders: HolderRow[]
  waiting: HolderRow[]
}

export interface SlotAnswer {
  status: 'held' | 'waiting'
  slotId: number | null
  pool: string
  message: string
}

export async function listPools(db: Db): Promise<PoolView[]> {
  const pools = await listPoolRows(db)
  const names = pools.map((p) => p.name)
  const [holders, waiting] = await Promise.all([poolHolders(db, names), poolWaiters(db, names)])
  return pools.map((p) => ({ ...p, holders: holders.filter((h) => h.pool === p.name), waiting: waiting.filter((w) => w.pool === p.name) }))
}

export async function getPool(db: Db, name: string): Promise<PoolView> {
  const pool = await getPoolRow(db, name)
  if (!pool) throw new NotFoundError(`pool "${name}" does not exist; create it with \`rota pool set ${name} --slots N\` (PUT /api/pools/${name})`)
  const [holders, waiting] = await Promise.all([poolHolders(db, [name]), poolWaiters(db, [name])])
  return { ...pool, holders, waiting }
}

/** Creates a pool or changes its size; more slots wake whoever waits for them. */
export async function setPool(db: Db, bus: EventBus, name: string, slots: number): Promise<PoolView> {
  await setPoolSlots(db, name, slots)
  bus.publish({ type: 'pool', pool: name })
  bus.publish({ type: 'runs-available' })
  return getPool(db, name)
}

/**
 * A task of run `flowRunId` asks for a slot of `pool`. Answers held as soon as it holds one, or
 * waiting (with who holds the slots) as soon as that differs from what the task was told (`told`),
 * or after `waitMs`: the run process asks again. Waiters are served
 * by their run's priority, then first come. A task of a run that holds a slot of this same pool for
 * itself (defineFlow({ pool })) is already inside it: it takes no second slot (it would wait for ever
 * on a pool of one).
 */
export async function acquireSlot(
  db: Db,
  bus: EventBus,
  flowRunId: string,
  req: { pool: string; taskRunId: string; taskKey: string; taskName: string; waitMs: number; told?: string | undefined },
  gone: AbortSignal,
): Promise<SlotAnswer> {
  const deadline = Date.now() + req.waitMs
  const done = new AbortController()
  const signal = AbortSignal.any([gone, done.signal])
  try {
    for (;;) {
      // Listen before looking, so a release between the look and the wait is not missed.
      const changed = bus.waitFor((e) => (e.type === 'pool' && e.pool === req.pool) || (e.type === 'flow-run' && e.flowRunId === flowRunId), Math.max(1, deadline - Date.now()), signal)
      const answer = await tryAcquire(db, flowRunId, req)
      // Held, or something new to tell (who holds changed), or time is up: answer.
      if (answer.status === 'held' || answer.message !== req.told || Date.now() >= deadline || signal.aborted) return answer
      await changed
    }
  } finally {
    done.abort()
  }
}

async function tryAcquire(db: Db, flowRunId: string, req: { pool: string; taskRunId: string; taskKey: string; taskName: string }): Promise<SlotAnswer> {
  return db.transaction(async (tx) => {
    const run = (await tx.query<{ state: State; pool: string | null; priority: number }>(`select state, pool, priority from rota_flow_runs where id = $1`, [flowRunId]))[0]
    if (!run) throw new NotFoundError(`flow run ${flowRunId} does not exist`)
    if (!ACTIVE_STATES.has(run.state)) throw new ConflictError(`run ${flowRunId} is ${run.state}: only an active run's tasks take pool slots`)
    if (run.pool === req.pool) return { status: 'held', slotId: null, pool: req.pool, message: `the run holds a slot of pool ${req.pool} for itself` }
    await ensurePools(tx, [req.pool])
    await lockLimits(tx, [`pool:${req.pool}`])
    const request = await upsertSlotRequest(tx, { ...req, flowRunId })
    if (request.state === 'held') return { status: 'held', slotId: Number(request.id), pool: req.pool, message: `holds a slot of pool ${req.pool}` }
    const slots = (await getPoolRow(tx, req.pool))?.slots ?? 1
    const holders = await poolHolders(tx, [req.pool])
    const ahead = await waitersAhead(tx, req.pool, request, run.priority)
    if (holders.length + ahead < slots) {
      await grantSlot(tx, request.id)
      return { status: 'held', slotId: Number(request.id), pool: req.pool, message: `holds a slot of pool ${req.pool}` }
    }
    const message = poolWaitMessage({ name: req.pool, slots, holders })
    return { status: 'waiting', slotId: Number(request.id), pool: req.pool, message: ahead > 0 ? `${message}; ${ahead} ahead in line` : message }
  })
}

/** A task gives its slot back (or withdraws its request). Unknown slots are fine: the run may have ended. */
export async function releaseSlot(db: Db, bus: EventBus, flowRunId: string, slotId: number): Promise<void> {
  const pool = await deleteSlot(db, flowRunId, slotId)
  if (pool) {
    bus.publish({ type: 'pool', pool })
    bus.publish({ type: 'runs-available' })
  }
}
