/**
 * The event bus: wakes long-polling agents and feeds the dashboard's live streams.
 * In one process it is an EventEmitter; on PostgreSQL, events also travel through NOTIFY so that
 * every server replica on the same database sees them.
 */
import { EventEmitter } from 'node:events'
import { randomUUID } from 'node:crypto'
import type { Db } from './db/index.ts'
import type { TaskRunRow } from './store/task-runs.ts'
import type { LogRow } from './store/logs.ts'

/** What metrics and automations need of a run that changed state, carried with its event (ISO times). */
export interface RunFacts {
  flowName: string
  scheduledStartTime: string
  startTime: string | null
  endTime: string | null
}

/** Events inside the server (and across replicas); /api/events presents them with the contract's shapes. */
export type RotaEvent =
  | { type: 'flow-run'; flowRunId: string; flowId: string; state: string; facts?: RunFacts | undefined }
  | { type: 'task-run'; flowRunId: string; taskRun: TaskRunRow | undefined }
  | { type: 'log'; flowRunId: string; log: LogRow | undefined }
  | { type: 'runs-available' }
  | { type: 'agent'; agentId: string }
  /** A pool's slots changed hands or number: tasks waiting for it ask again. */
  | { type: 'pool'; pool: string }
  /** Runs deleted without ending (a paused schedule's upcoming runs): lists drop them at once. */
  | { type: 'runs-removed'; flowId: string; ids: string[] }

const CHANNEL = 'rota_events'
// NOTIFY payloads are limited to 8000 bytes: bigger events cross replicas without their body.
const MAX_NOTIFY_BYTES = 7500

export class EventBus {
  private readonly emitter = new EventEmitter()
  private readonly origin = randomUUID()
  private unlisten: (() => Promise<void>) | undefined
  /** Payloads waiting for the next NOTIFY statement. */
  private outbox: string[] = []
  private sending = false

  constructor(private readonly db: Db) {
    this.emitter.setMaxListeners(0)
  }

  async start(): Promise<void> {
    if (!this.db.listen) return
    this.unlisten = await this.db.listen(CHANNEL, (payload) => {
      try {
        const { origin, event } = JSON.parse(payload) as { origin: string; event: RotaEvent }
        if (origin !== this.origin) this.emitter.emit('event', event, false)
      } catch {
        // not ours
      }
    })
  }

  async stop(): Promise<void> {
    await this.unlisten?.()
    this.emitter.removeAllListeners()
  }

  publish(event: RotaEvent): void {
    this.emitter.emit('event', event, true)
    if (!this.db.notify) return
    let payload = JSON.stringify({ origin: this.origin, event })
    if (Buffer.byteLength(payload) > MAX_NOTIFY_BYTES) {
      if (event.type === 'log' || event.type === 'task-run') payload = JSON.stringify({ origin: this.origin, event: { ...event, log: undefined, taskRun: undefined } })
      // Too many ids to carry: the other replicas' pages refetch their lists instead.
      if (event.type === 'runs-removed') payload = JSON.stringify({ origin: this.origin, event: { ...event, ids: [] } })
    }
    this.notify(payload)
  }

  /**
   * Many events of one run at once (a batch of task states or log lines): each reaches this
   * server's listeners, and other replicas get one bodiless notice to refetch, not one NOTIFY per line.
   */
  publishBatch(events: readonly RotaEvent[], notice: RotaEvent): void {
    for (const event of events) this.emitter.emit('event', event, true)
    if (events.length > 0 && this.db.notify) this.notify(JSON.stringify({ origin: this.origin, event: notice }))
  }

  /**
   * Sends payloads to the other replicas, many per statement: while one NOTIFY statement is on its
   * way, the next payloads wait and leave together (a run's life publishes about six events; at a
   * hundred runs a second, one statement each was a fifth of the server's queries).
   */
  private notify(payload: string): void {
    this.outbox.push(payload)
    if (!this.sending) void this.drain()
  }

  private async drain(): Promise<void> {
    this.sending = true
    // let the rest of this turn of the event loop add its events
    await new Promise((resolve) => setImmediate(resolve))
    while (this.outbox.length > 0 && this.db.notify) {
      const batch = this.outbox
      this.outbox = []
      await (this.db.notifyMany ? this.db.notifyMany(CHANNEL, batch) : Promise.all(batch.map((p) => this.db.notify?.(CHANNEL, p)))).catch(() => undefined)
    }
    this.sending = false
  }

  /** How many listeners (event streams, waiting polls) are subscribed now. */
  get subscribers(): number {
    return this.emitter.listenerCount('event')
  }

  /** `local` is false for events that came from another replica (counters count only their own server's). */
  subscribe(listener: (event: RotaEvent, local: boolean) => void): () => void {
    this.emitter.on('event', listener)
    return () => this.emitter.off('event', listener)
  }

  /** Resolves when an event matching `match` arrives, or after `ms`. */
  waitFor(match: (event: RotaEvent) => boolean, ms: number, signal?: AbortSignal): Promise<boolean> {
    return new Promise((resolve) => {
      const done = (v: boolean) => {
        clearTimeout(timer)
        off()
        signal?.removeEventListener('abort', onAbort)
        resolve(v)
      }
      const off = this.subscribe((e) => {
        if (match(e)) done(true)
      })
      const timer = setTimeout(() => done(false), ms)
      const onAbort = () => done(false)
      signal?.addEventListener('abort', onAbort, { once: true })
    })
  }
}
