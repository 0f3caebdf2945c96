/**
 * Delivers a flow process's task states, logs and artifacts to the server: queued in order, sent
 * in batches every 50 ms (at most 2,000 items and about 1 MiB a request), under delivery.ts's policy:
 * - a batch the server refuses (4xx) is dropped, and one line says what was dropped and why: it
 *   would be refused again, and retrying it for ever would hold back everything after it;
 * - 5xx and network errors are retried with backoff, in order, while the run goes on: a server
 *   restart or outage mid-run loses nothing, and what was logged meanwhile lands when it is back;
 * - when nothing could be delivered for `giveUpMs` (ROTA_REPORT_GIVE_UP, default 5 minutes), the
 *   reporter gives up: it drops what it holds, stops sending, and `onGiveUp` lets the run process
 *   fail the run with a message saying so.
 * Lines are cut at 60 KiB on a character boundary (never half a surrogate pair, which the server
 * could not store), saying how much was cut.
 */
import { randomUUID } from 'node:crypto'
import type { ArtifactRecord, LogLevel, Reporter, TaskEvent } from '../sdk/context.ts'
import type { LogWire, RotaClient, TaskEventWire } from '../client/index.ts'
import { ApiError } from '../client/index.ts'
import { cutText } from '../core/text.ts'
import { backoffMs, DEFAULT_GIVE_UP_MS, retryable } from './delivery.ts'

/** Longest log line or task message kept, in UTF-16 units (the server takes up to 64 Ki). */
export const MAX_LINE = 60 * 1024
const BATCH_MS = 50
const BATCH_ITEMS = 2000
const BATCH_BYTES = 1024 * 1024

export interface ReporterOptions {
  /** How long deliveries may fail before the reporter gives up; default 5 minutes. */
  giveUpMs?: number
  /** Called once when the reporter gives up, with a message for the run's final state. */
  onGiveUp?: (message: string) => void
}

export class ServerReporter implements Reporter {
  private tasks: TaskEventWire[] = []
  private logs: (LogWire & { bytes: number })[] = []
  private seq = 0
  private readonly source = `child:${randomUUID().slice(0, 8)}`
  private timer: NodeJS.Timeout | undefined
  private sending: Promise<void> = Promise.resolve()
  /** When deliveries started failing (undefined while they succeed). */
  private failingSince: number | undefined
  private readonly giveUpMs: number
  /** Why the reporter gave up; once set, nothing more is sent. */
  failure: string | undefined
  /** Set by `lastTry`: the next failed delivery gives up at once, saying this. */
  private ending: string | undefined

  constructor(
    private readonly client: RotaClient,
    private readonly flowRunId: string,
    private readonly onDeliveryError: (message: string) => void = () => undefined,
    private readonly options: ReporterOptions = {},
  ) {
    this.giveUpMs = options.giveUpMs ?? DEFAULT_GIVE_UP_MS
  }

  taskState(e: TaskEvent): void {
    if (this.failure) return
    const message = e.message === undefined ? undefined : cutLine(e.message)
    const stack = e.stack === undefined ? undefined : cutLine(e.stack)
    this.tasks.push({ ...e, message, stack, time: e.time.toISOString() })
    this.schedule()
  }

  log(level: LogLevel, message: string, taskName: string | undefined): void {
    if (this.failure) return
    const text = cutLine(message)
    // JSON may grow a line (escapes): the estimate only has to keep a batch well under the server's 8 MiB.
    this.logs.push({ seq: this.seq++, time: new Date().toISOString(), level, message: text, taskName: taskName ?? null, bytes: Buffer.byteLength(text) + 120 })
    this.schedule()
  }

  async artifact(a: ArtifactRecord, taskName: string | undefined): Promise<void> {
    await this.flush()
    if (this.failure) return
    await this.deliver(`artifact "${a.key}"`, () => this.client.postArtifact(this.flowRunId, { ...a, description: a.description ?? null, taskName: taskName ?? null }))
  }

  async flush(): Promise<void> {
    clearTimeout(this.timer)
    this.timer = undefined
    this.sending = this.sending.then(() => this.send())
    await this.sending
  }

  /**
   * No retries from now on: what is queued is still sent, but the first delivery that fails drops
   * it and all that follows, saying `why`. For the agent's copy of a run's output once the run has
   * ended: nothing waits on it, so a server that is away must not keep it retrying for giveUpMs.
   */
  lastTry(why: string): void {
    this.ending = why
  }

  private schedule(): void {
    this.timer ??= setTimeout(() => {
      this.timer = undefined
      this.sending = this.sending.then(() => this.send())
    }, BATCH_MS)
  }

  private async send(): Promise<void> {
    while (!this.failure && (this.tasks.length > 0 || this.logs.length > 0)) {
      const tasks = this.tasks.splice(0, BATCH_ITEMS)
      let n = 0
      for (let bytes = 0; n < this.logs.length && n < BATCH_ITEMS && (n === 0 || bytes + (this.logs[n]?.bytes ?? 0) <= BATCH_BYTES); n++) bytes += this.logs[n]?.bytes ?? 0
      const logs = this.logs.splice(0, n).map(({ bytes: _, ...l }) => l)
      if (tasks.length) await this.deliver(describeTasks(tasks), () => this.client.postTaskEvents(this.flowRunId, tasks))
      if (logs.length && !this.failure) await this.deliver(describeLogs(logs), () => this.client.postLogs(this.flowRunId, this.source, logs))
    }
  }

  /** Sends one batch under the delivery policy; `what` names it in the line written when it is dropped. */
  private async deliver(what: string, call: () => Promise<unknown>): Promise<void> {
    for (let attempt = 1; !this.failure; attempt++) {
      try {
        await call()
        if (this.failingSince !== undefined) this.onDeliveryError(`the server takes reports again after ${Math.round((Date.now() - this.failingSince) / 1000)} s`)
        this.failingSince = undefined
        return
      } catch (err) {
        if (!retryable(err)) {
          this.onDeliveryError(`dropped ${what}: the server refused it (${(err as ApiError).status}: ${(err as Error).message})`)
          return
        }
        if (this.ending !== undefined) {
          this.giveUp(`dropped ${what}: ${this.ending} (${(err as Error).message})`)
          return
        }
        const since = (this.failingSince ??= Date.now())
        const failingMs = Date.now() - since
        if (failingMs >= this.giveUpMs) {
          this.giveUp(`could not deliver the run's reports to the server for ${Math.round(failingMs / 1000)} s (${(err as Error).message}); the run was stopped`)
          return
        }
        if (attempt === 1 || attempt % 10 === 0) this.onDeliveryError(`cannot deliver ${what} yet (${(err as Error).message}); retrying`)
        await new Promise((r) => setTimeout(r, Math.min(backoffMs(attempt), since + this.giveUpMs - Date.now())))
      }
    }
  }

  private giveUp(message: string): void {
    this.failure = message
    const dropped = this.tasks.length + this.logs.length
    this.tasks = []
    this.logs = []
    this.onDeliveryError(`${message}${dropped ? ` (${dropped} more reports dropped)` : ''}`)
    this.options.onGiveUp?.(message)
  }
}

function cutLine(text: string): string {
  return cutText(text, MAX_LINE, `… [line cut: ${text.length} characters long]`)
}

function describeTasks(tasks: TaskEventWire[]): string {
  const names = [...new Set(tasks.map((t) => `${t.taskName}: ${t.state}`))].slice(0, 5).join(', ')
  return `${tasks.length} task state ${tasks.length === 1 ? 'change' : 'changes'} (${names}${tasks.length > 5 ? ', …' : ''})`
}

function describeLogs(logs: LogWire[]): string {
  const first = logs[0]?.seq
  const last = logs.at(-1)?.seq
  return `${logs.length} log ${logs.length === 1 ? 'line' : 'lines'} (seq ${first === last ? first : `${first}-${last}`})`
}
