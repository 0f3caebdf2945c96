/**
 * Automations: triggers evaluated, firings claimed, actions delivered.
 *
 * Glossary:
 * - trigger: what an automation watches. `flow-run-state` and `consecutive-failures` are judged on
 *   each state a run takes, read from the state history (every transition writes a line there) from
 *   a cursor; the event bus only wakes the reader early. `late` and `no-success` are judged every
 *   `everyMs` (they fire on time passing, when no event happens).
 * - firing: one occasion an automation fired, claimed in the database by its dedupe key (`run:<id>`:
 *   at most one firing per run; `breach:`/`recovery:` the no-success episode; `streak:` the first run
 *   of a failure streak). Several servers on one PostgreSQL may judge the same transition: the claim
 *   is insert-on-conflict, so one of them fires. Firings within the automation's minimum gap are
 *   recorded as `throttled` and not delivered (no-success breaches and recoveries excepted).
 * - delivery: a claimed firing's action (a webhook POST, pausing a schedule, starting a run), done
 *   under a lease by whichever server leases it, retried with backoff (the core's helper) on no
 *   answer, 408, 429 or 5xx, and recorded: attempts, HTTP status, error. At least once: a server that
 *   dies mid-delivery leaves it to another when the lease runs out.
 */
import type { Db } from '../db/index.ts'
import type { EventBus } from '../events.ts'
import { backoffDelay, type BackoffPolicy } from '../../core/backoff.ts'
import { storableText } from '../../core/text.ts'
import { resolveParameters, ParameterError } from '../../core/parameters.ts'
import type { State } from '../../core/states.ts'
import {
  claimFiring,
  failuresSinceSuccess,
  flowIdsByName,
  lastEpisodeFiring,
  lastSuccess,
  lateRuns,
  leaseDeliveries,
  listAutomations,
  newestTransitionId,
  settleFiring,
  transitionsSince,
  type AutomationRow,
  type FiringStatus,
  type LeasedFiring,
  type Transition,
} from '../store/automations.ts'
import { getFlow } from '../store/flows.ts'
import { switchSchedule } from '../scheduler.ts'
import { createFlowRun } from '../orchestration/transition.ts'
import { buildFiring, type FiringFacts, type FiringRun } from './payload.ts'
import { postWebhook, type WebhookResult } from './webhook.ts'

export interface AutomationOptions {
  /** The dashboard's address, for the links firings carry. */
  baseUrl: () => string
  /** How often late and no-success triggers are judged, and the history read without an event (default 5 s). */
  everyMs?: number
  /** How often due deliveries are looked for without a nudge (default 1 s). */
  deliverEveryMs?: number
  /** Delivery retries: waits from the core's backoff helper, and how many attempts in all (default 2 s, x3, at most 5 min; 6 attempts). */
  retry?: BackoffPolicy & { attempts: number }
  /** A webhook that has not answered after this long is a failed attempt (default 10 s). */
  timeoutMs?: number
  /** False: firings are claimed and recorded but nothing is delivered (a fuzzed server must not call random URLs). */
  deliver?: boolean
  /** Told when a firing is settled for good (metrics). */
  onSettled?: (automation: string, status: FiringStatus) => void
  log?: (line: string) => void
}

/** History lines read again each time, for transactions that committed after later ones (PostgreSQL). */
const OVERLAP = 1000
/** On start, a server reads this many history lines back: transitions made while no server ran one. */
const STARTUP_LOOKBACK = 2000
const PAGE = 2000
const FAILED: readonly State[] = ['failed', 'crashed']
/** Even when woken by every transition, the history is read at most this often. */
const MIN_EVALUATE_GAP_MS = 200

export class AutomationEngine {
  private readonly everyMs: number
  private readonly deliverEveryMs: number
  private readonly retry: BackoffPolicy & { attempts: number }
  private readonly timeoutMs: number
  private readonly log: (line: string) => void
  private cursor: number | undefined
  private readonly seen = new Set<number>()
  /** (automation, key) pairs this server already claimed or found claimed: not asked again. */
  private readonly known = new Set<string>()
  private lastPeriodic = 0
  private watchesStates = true
  private readonly wake = { evaluate: new Waker(), deliver: new Waker() }

  constructor(
    private readonly db: Db,
    private readonly bus: EventBus,
    private readonly options: AutomationOptions,
  ) {
    this.everyMs = options.everyMs ?? 5000
    this.deliverEveryMs = options.deliverEveryMs ?? 1000
    this.retry = options.retry ?? { baseMs: 2000, factor: 3, maxMs: 300_000, attempts: 6 }
    this.timeoutMs = options.timeoutMs ?? 10_000
    this.log = options.log ?? ((line) => console.log(line))
  }

  /** Runs both loops until `signal` aborts. */
  async run(signal: AbortSignal): Promise<void> {
    const off = this.bus.subscribe((event) => {
      if (event.type === 'flow-run' && this.watchesStates) this.wake.evaluate.wake()
    })
    try {
      await Promise.all([
        this.loop('automations', this.everyMs, MIN_EVALUATE_GAP_MS, () => this.evaluateOnce(), this.wake.evaluate, signal),
        this.options.deliver === false ? undefined : this.loop('automation deliveries', this.deliverEveryMs, 0, () => this.deliverOnce(), this.wake.deliver, signal),
      ])
    } finally {
      off()
    }
  }

  /** One evaluation: new transitions, and (every `everyMs`) the triggers judged on time. */
  async evaluateOnce(): Promise<void> {
    const automations = await listAutomations(this.db, { enabledOnly: true })
    const onStates = automations.filter((a) => a.trigger.type === 'flow-run-state' || a.trigger.type === 'consecutive-failures')
    this.watchesStates = onStates.length > 0
    const flows = await flowIdsByName(this.db, [...new Set(automations.flatMap((a) => (a.trigger.flow ? [a.trigger.flow] : [])))])
    await this.readTransitions(onStates)
    if (Date.now() - this.lastPeriodic >= this.everyMs) {
      this.lastPeriodic = Date.now()
      for (const a of automations) {
        if (a.trigger.type === 'late') await this.judgeLate(a, a.trigger.flow ? flows.get(a.trigger.flow)?.id : null, a.trigger.forSeconds)
        else if (a.trigger.type === 'no-success') {
          const flow = flows.get(a.trigger.flow)
          if (flow) await this.judgeNoSuccess(a, a.trigger.flow, flow, a.trigger.withinSeconds)
        }
      }
    }
  }

  private async readTransitions(automations: readonly AutomationRow[]): Promise<void> {
    if (automations.length === 0) {
      this.cursor = await newestTransitionId(this.db)
      this.seen.clear()
      return
    }
    this.cursor ??= Math.max(0, (await newestTransitionId(this.db)) - STARTUP_LOOKBACK)
    const states = new Set<State>()
    for (const a of automations) {
      if (a.trigger.type === 'flow-run-state') for (const s of a.trigger.states) states.add(s)
      else for (const s of FAILED) states.add(s)
    }
    let from = Math.max(0, this.cursor - OVERLAP)
    for (;;) {
      const page = await transitionsSince(this.db, from, [...states], PAGE)
      for (const t of page) {
        if (this.seen.has(t.historyId)) continue
        this.seen.add(t.historyId)
        this.cursor = Math.max(this.cursor, t.historyId)
        for (const a of automations) await this.judgeTransition(a, t)
      }
      if (page.length < PAGE) break
      from = (page.at(-1) as Transition).historyId
    }
    for (const id of this.seen) if (id <= this.cursor - OVERLAP) this.seen.delete(id)
  }

  private async judgeTransition(a: AutomationRow, t: Transition): Promise<void> {
    const trigger = a.trigger
    if (trigger.type !== 'flow-run-state' && trigger.type !== 'consecutive-failures') return
    // Transitions from before the automation was made, changed or enabled are not its to judge.
    if ((trigger.flow && trigger.flow !== t.flowName) || new Date(t.time) < new Date(a.updatedAt)) return
    const run: FiringRun = { id: t.flowRunId, name: t.flowRunName, state: t.state, message: t.message }
    if (trigger.type === 'flow-run-state') {
      if (trigger.states.includes(t.state)) await this.fire(a, { kind: 'flow-run-state', flowName: t.flowName, run, dedupeKey: `run:${t.flowRunId}` })
      return
    }
    if (!FAILED.includes(t.state)) return
    const streak = await failuresSinceSuccess(this.db, t.flowId, trigger.count)
    if (streak.length < trigger.count) return
    const first = streak[0] as (typeof streak)[number]
    const latest = streak[trigger.count - 1] as (typeof streak)[number]
    await this.fire(a, {
      kind: 'consecutive-failures',
      flowName: t.flowName,
      run: { id: latest.id, name: latest.name, state: latest.state, message: latest.message },
      dedupeKey: `streak:${first.id}`,
      threshold: trigger.count,
    })
  }

  private async judgeLate(a: AutomationRow, flowId: string | null | undefined, forSeconds: number): Promise<void> {
    if (flowId === undefined) return // names a flow that is not registered (any more)
    for (const r of await lateRuns(this.db, flowId, forSeconds, 100)) {
      await this.fire(a, {
        kind: 'late',
        flowName: r.flowName,
        run: { id: r.id, name: r.name, state: r.state, message: r.message, scheduledStartTime: r.scheduledStartTime },
        dedupeKey: `run:${r.id}`,
        threshold: forSeconds,
      })
    }
  }

  /**
   * A freshness promise: breached when the flow's last success ended more than `withinSeconds` ago
   * (or it never succeeded since it, or the automation, came to be), recovered by the next success.
   * The episode is named by the last success before the breach, so every server names it alike.
   */
  private async judgeNoSuccess(a: AutomationRow, flowName: string, flow: { id: string; createdAt: Date }, withinSeconds: number): Promise<void> {
    const last = await lastSuccess(this.db, flow.id)
    const episode = await lastEpisodeFiring(this.db, a.id)
    const lastRun: FiringRun | null = last ? { id: last.id, name: last.name, state: last.state, message: last.message } : null
    if (episode?.kind === 'no-success') {
      const before = episode.dedupeKey.slice('breach:'.length)
      if (last && last.id !== before) await this.fire(a, { kind: 'recovery', flowName, run: lastRun, dedupeKey: `recovery:${before}` })
      return
    }
    const since = last ? new Date(last.endTime ?? last.scheduledStartTime) : new Date(Math.max(new Date(a.createdAt).getTime(), new Date(flow.createdAt).getTime()))
    if (Date.now() - since.getTime() < withinSeconds * 1000) return
    await this.fire(a, { kind: 'no-success', flowName, run: null, dedupeKey: `breach:${last?.id ?? 'none'}`, threshold: withinSeconds, lastSuccess: lastRun })
  }

  private async fire(a: AutomationRow, facts: Omit<FiringFacts, 'automation' | 'baseUrl'>): Promise<void> {
    const known = `${a.id}|${facts.dedupeKey}`
    if (this.known.has(known)) return
    const firing = buildFiring({ ...facts, automation: { id: a.id, name: a.name }, baseUrl: this.options.baseUrl() })
    // A no-success breach fires once per episode: it is no storm, and its recovery must not be alone.
    if (facts.kind === 'no-success') firing.exemptFromGap = true
    const claimed = await claimFiring(this.db, a.id, firing)
    if (!claimed) return // fired already (here or on another server), or the automation was just disabled
    this.remember(known)
    if (claimed.status === 'throttled') this.options.onSettled?.(a.name, 'throttled')
    else this.wake.deliver.wake()
  }

  private remember(key: string): void {
    this.known.add(key)
    if (this.known.size > 20_000) for (const k of [...this.known].slice(0, 10_000)) this.known.delete(k)
  }

  /** Delivers the due firings this server can lease; returns how many it tried. */
  async deliverOnce(): Promise<number> {
    const leased = await leaseDeliveries(this.db, 10, this.timeoutMs / 1000 + 30)
    await Promise.all(leased.map((f) => this.deliver(f)))
    return leased.length
  }

  private async deliver(f: LeasedFiring): Promise<void> {
    let result: WebhookResult
    try {
      result = await this.act(f)
    } catch (err) {
      result = { ok: false, statusCode: null, error: (err as Error).message, retryable: true }
    }
    const error = result.error === null ? null : storableText(result.error).slice(0, 2000)
    if (result.ok) {
      await settleFiring(this.db, f.id, { status: 'delivered', statusCode: result.statusCode, error: null })
      this.options.onSettled?.(f.automationName, 'delivered')
    } else if (result.retryable && f.attempts < this.retry.attempts) {
      const retryAt = new Date(Date.now() + backoffDelay(this.retry, f.attempts))
      await settleFiring(this.db, f.id, { status: 'pending', statusCode: result.statusCode, error, retryAt })
    } else {
      await settleFiring(this.db, f.id, { status: 'failed', statusCode: result.statusCode, error })
      this.options.onSettled?.(f.automationName, 'failed')
      this.log(`[rota] automation "${f.automationName}" could not deliver after ${f.attempts} attempt(s): ${error}`)
    }
  }

  private async act(f: LeasedFiring): Promise<WebhookResult> {
    const action = f.action
    if (action.type === 'webhook') return postWebhook(action.url, action.headers ?? {}, f.payload, this.timeoutMs)
    const refused = (error: string): WebhookResult => ({ ok: false, statusCode: null, error, retryable: false })
    const done: WebhookResult = { ok: true, statusCode: null, error: null, retryable: false }
    const flowName = action.type === 'run-flow' ? action.flow : (action.flow ?? f.flowName)
    if (!flowName) return refused('no flow to act on: name one in the action')
    const flow = await getFlow(this.db, flowName)
    if (!flow) return refused(`flow "${flowName}" does not exist`)
    if (action.type === 'pause-schedule') {
      if (!flow.schedule) return refused(`flow "${flowName}" has no schedule to pause`)
      if (flow.scheduleActive) await switchSchedule(this.db, this.bus, flow, false)
      return done
    }
    let parameters: Record<string, unknown>
    try {
      parameters = action.parameters ?? {}
      resolveParameters(flow.parameters, parameters)
    } catch (err) {
      if (err instanceof ParameterError) return refused(`flow "${flowName}": ${err.message}`)
      throw err
    }
    await createFlowRun(this.db, this.bus, flow, { parameters })
    return done
  }

  private async loop(name: string, everyMs: number, minGapMs: number, work: () => Promise<unknown>, waker: Waker, signal: AbortSignal): Promise<void> {
    let failures = 0
    while (!signal.aborted) {
      waker.clear()
      const started = Date.now()
      try {
        await work()
        failures = 0
      } catch (err) {
        failures++
        if (!signal.aborted) this.log(`[rota] ${name} failed (${failures}x): ${(err as Error).message}`)
      }
      const delay = failures === 0 ? everyMs : backoffDelay({ baseMs: everyMs * 2, maxMs: 30_000 }, failures)
      await waker.sleep(delay, signal, failures === 0 ? Math.max(0, minGapMs - (Date.now() - started)) : delay)
    }
  }
}

/** A sleep that `wake()` cuts short (not before `minMs`); a wake during work makes the next sleep short. */
class Waker {
  private woken = false
  private resolve: (() => void) | undefined

  wake(): void {
    this.woken = true
    this.resolve?.()
  }

  clear(): void {
    this.woken = false
  }

  async sleep(ms: number, signal: AbortSignal, minMs: number): Promise<void> {
    if (minMs > 0) await new Promise((r) => setTimeout(r, minMs))
    if (this.woken || signal.aborted) return
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer)
        signal.removeEventListener('abort', done)
        this.resolve = undefined
        resolve()
      }
      const timer = setTimeout(done, Math.max(0, ms - minMs))
      signal.addEventListener('abort', done, { once: true })
      this.resolve = done
    })
  }
}
