/**
 * Delivers a flow process's task states, logs and artifacts to the server: queued in order,
 * batched every 50 ms, retried with backoff until delivered (a server restart mid-run loses nothing).
 */
import { randomUUID } from 'node:crypto'
import type { ArtifactRecord, LogLevel, Reporter, TaskEvent } from '../sdk/context.ts'
import type { LogWire, RotaClient, TaskEventWire } from '../client/index.ts'
import { ApiError } from '../client/index.ts'
import { backoffDelay, sleep } from '../core/backoff.ts'

const MAX_LINE = 60 * 1024
const BATCH_MS = 50

export class ServerReporter implements Reporter {
  private tasks: TaskEventWire[] = []
  private logs: LogWire[] = []
  private seq = 0
  private readonly source = `child:${randomUUID().slice(0, 8)}`
  private timer: NodeJS.Timeout | undefined
  private sending: Promise<void> = Promise.resolve()

  constructor(
    private readonly client: RotaClient,
    private readonly flowRunId: string,
    private readonly onDeliveryError: (message: string) => void = () => undefined,
  ) {}

  taskState(e: TaskEvent): void {
    this.tasks.push({ ...e, time: e.time.toISOString() })
    this.schedule()
  }

  log(level: LogLevel, message: string, taskName: string | undefined): void {
    const text = message.length > MAX_LINE ? `${message.slice(0, MAX_LINE)}… [line cut at ${MAX_LINE} characters]` : message
    this.logs.push({ seq: this.seq++, time: new Date().toISOString(), level, message: text, taskName: taskName ?? null })
    this.schedule()
  }

  async artifact(a: ArtifactRecord, taskName: string | undefined): Promise<void> {
    await this.flush()
    await this.withRetry(() => this.client.postArtifact(this.flowRunId, { ...a, description: a.description ?? null, taskName: taskName ?? null }))
  }

  async flush(): Promise<void> {
    clearTimeout(this.timer)
    this.timer = undefined
    this.sending = this.sending.then(() => this.send())
    await this.sending
  }

  private schedule(): void {
    this.timer ??= setTimeout(() => {
      this.timer = undefined
      this.sending = this.sending.then(() => this.send())
    }, BATCH_MS)
  }

  private async send(): Promise<void> {
    while (this.tasks.length > 0 || this.logs.length > 0) {
      const tasks = this.tasks.splice(0, 2000)
      const logs = this.logs.splice(0, 2000)
      if (tasks.length) await this.withRetry(() => this.client.postTaskEvents(this.flowRunId, tasks))
      if (logs.length) await this.withRetry(() => this.client.postLogs(this.flowRunId, this.source, logs))
    }
  }

  private async withRetry<T>(fn: () => Promise<T>): Promise<T | undefined> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn()
      } catch (err) {
        // A 4xx will not get better by retrying: report and drop that batch, keep the run going.
        if (err instanceof ApiError && err.status < 500) {
          this.onDeliveryError(`the server refused a report: ${err.message}`)
          return undefined
        }
        if (attempt === 1 || attempt % 10 === 0) this.onDeliveryError(`cannot deliver to the server yet (${(err as Error).message}); retrying`)
        await sleep(backoffDelay({ baseMs: 200, maxMs: 5000 }, attempt))
      }
    }
  }
}
