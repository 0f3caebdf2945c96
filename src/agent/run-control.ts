/**
 * The run process's control calls beyond reporting (src/sdk/control.ts), made with the run
 * process's own client and under its delivery policy (delivery.ts): a task's pool slot (a long-poll
 * the server answers when the slot is held, asked again while it waits) and child runs (created on
 * the server, executed in this process, watched with a long-poll so a cancel on the server stops them).
 */
import { randomUUID } from 'node:crypto'
import type { RotaClient } from '../client/index.ts'
import type { ChildRun, ChildRunRequest, RunControl, SlotLease, SlotRequest } from '../sdk/control.ts'
import { ChildFlowError } from '../sdk/control.ts'
import type { FlowOutcome } from '../sdk/runtime.ts'
import { retryUntilDelivered } from './delivery.ts'
import { MAX_LINE, ServerReporter } from './reporter.ts'
import { cutText } from '../core/text.ts'
import { storableResult } from '../core/flow-control.ts'

/** One slot request waits at most this long on the server before it is asked again. */
const SLOT_WAIT_MS = 20_000
/** One watch of a child waits at most this long on the server before it is asked again. */
const WATCH_WAIT_MS = 20_000

export interface RunControlOptions {
  /** How long calls may fail before they give up (ROTA_REPORT_GIVE_UP). */
  giveUpMs: number
  /** A line on the run process's stderr (its agent forwards it to the run's logs). */
  note: (line: string) => void
}

export class ServerRunControl implements RunControl {
  constructor(
    private readonly client: RotaClient,
    private readonly options: RunControlOptions,
  ) {}

  private deliver<T>(call: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    return retryUntilDelivered(call, { giveUpMs: this.options.giveUpMs, signal, onRetry: (err) => this.options.note(`${err.message}; retrying`) })
  }

  async acquireSlot(request: SlotRequest, onWaiting: (message: string) => void, signal: AbortSignal): Promise<SlotLease> {
    const { flowRunId, ...slot } = request
    let told: string | undefined
    let slotId: number | null = null
    try {
      for (;;) {
        signal.throwIfAborted()
        const answer = await this.deliver(() => this.client.acquireSlot(flowRunId, { ...slot, waitMs: SLOT_WAIT_MS, ...(told === undefined ? {} : { told }) }, signal), signal)
        slotId = answer.slotId
        if (answer.status === 'held') return this.lease(flowRunId, answer.slotId)
        if (answer.message !== told) onWaiting((told = answer.message))
      }
    } catch (err) {
      // Stopped while waiting: withdraw the request (the server drops it anyway when the run ends).
      if (slotId !== null) await this.lease(flowRunId, slotId).release()
      throw err
    }
  }

  private lease(flowRunId: string, slotId: number | null): SlotLease {
    let released: Promise<void> | undefined
    return {
      release: () =>
        (released ??=
          slotId === null
            ? Promise.resolve()
            : this.deliver(() => this.client.releaseSlot(flowRunId, slotId)).then(
                () => undefined,
                // The server frees it when the run ends; until then the slot stays taken.
                (err: Error) => this.options.note(`could not give back slot ${slotId}: ${err.message}; it is freed when the run ends`),
              )),
    }
  }

  async startChild(request: ChildRunRequest): Promise<ChildRun> {
    const id = randomUUID()
    const exec = await this.deliver(() => this.client.startChildRun(request.parentRunId, { id, flow: request.flowName, parameters: request.parameters }), request.signal)
    // The child's reports and control calls act for the child: with its own run token.
    const client = this.client.forRun(exec.token)
    for (;;) {
      const { verdict } = await this.deliver(() => client.proposeState(id, 'running'), request.signal)
      if (verdict.status === 'accept') break
      if (verdict.status === 'wait') {
        await new Promise((r) => setTimeout(r, Math.max(1, verdict.retryAfterMs ?? 100)))
        continue
      }
      throw new ChildFlowError(request.flowName, id, exec.run.state, `child run ${id} of flow ${request.flowName} could not start: ${verdict.reason ?? verdict.status}`)
    }
    const cancelled = new AbortController()
    const finished = new AbortController()
    const reporter = new ServerReporter(client, id, this.options.note, {
      giveUpMs: this.options.giveUpMs,
      onGiveUp: (message) => cancelled.abort(new Error(message)),
    })
    void this.watch(id, cancelled, finished.signal)
    return {
      id,
      name: exec.run.name,
      parameters: exec.parameters,
      scheduledStartTime: new Date(exec.run.scheduledStartTime),
      reporter,
      signal: AbortSignal.any([request.signal, cancelled.signal]),
      control: new ServerRunControl(client, this.options),
      expectedTasks: exec.tasks,
      finish: async (outcome: FlowOutcome) => {
        finished.abort()
        await reporter.flush()
        const kept = outcome.state === 'success' ? storableResult(outcome.reportedResult) : {}
        if (kept.problem) this.options.note(`child run ${id}: ${kept.problem}`)
        const message = cutText(reporter.failure ?? outcome.message, MAX_LINE, '… [cut]')
        const state = reporter.failure ? 'failed' : outcome.state
        await this.deliver(() => client.proposeState(id, state, message, undefined, { result: kept.result })).catch((err: Error) =>
          this.options.note(`could not report the final state ${state} of child run ${id}: ${err.message}`),
        )
      },
    }
  }

  /** Long-polls the child's state while it runs: cancelled (or ended) on the server, it stops here. */
  private async watch(id: string, cancelled: AbortController, finished: AbortSignal): Promise<void> {
    while (!finished.aborted) {
      try {
        const run = await this.client.waitRun(id, 'running', WATCH_WAIT_MS, finished)
        if (run.state !== 'running') {
          cancelled.abort(new Error(`child run ${id} is ${run.state} on the server`))
          return
        }
      } catch {
        if (finished.aborted) return
        await new Promise((r) => setTimeout(r, 1000)) // server away: look again in a moment
      }
    }
  }
}
