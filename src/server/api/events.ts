/**
 * Server-Sent Events for the dashboard and `rota logs --follow`.
 *
 * Each subscriber has its own queue of events waiting to be written. A subscriber that reads slower
 * than events come (a stalled browser tab, a client that stopped reading) would make it grow without
 * end: past its bounds the subscriber is dropped, its connection closed, and what it held freed. The
 * dashboard reconnects by itself and refetches what it missed. The bounds are well above one batch of
 * a run's reports (up to 10,000 lines), which a healthy reader drains as it comes.
 */
import { Hono } from 'hono'
import { streamSSE } from 'hono/streaming'
import type { ServerContext } from './context.ts'
import type { RotaEvent } from '../events.ts'
import { getFlowRun } from '../store/runs.ts'
import { listTaskRuns } from '../store/task-runs.ts'
import { presentLog, presentRun, presentTaskRun } from './presenter.ts'
import type { EventData } from '../../core/contract.ts'
import { HttpError } from './errors.ts'
import { isUuid } from '../../core/ids.ts'

/** How much may wait for one subscriber before it is dropped. */
export interface EventQueueLimits {
  maxEvents: number
  /** Estimated from the events' text (log lines, task messages). */
  maxBytes: number
}

export const EVENT_QUEUE_LIMITS: EventQueueLimits = { maxEvents: 20_000, maxBytes: 16 * 1024 * 1024 }

/** A rough size of an event as it waits: its text, plus its fields. */
function eventBytes(e: RotaEvent): number {
  if (e.type === 'log') return 200 + (e.log?.message.length ?? 0)
  if (e.type === 'task-run') return 300 + (e.taskRun?.message?.length ?? 0)
  return 200
}

export function eventRoutes(ctx: ServerContext, limits: EventQueueLimits = EVENT_QUEUE_LIMITS) {
  const app = new Hono()
  app.get('/events', (c) => {
    const flowRunId = c.req.query('flowRunId')
    if (flowRunId !== undefined && !isUuid(flowRunId)) throw new HttpError(400, 'flowRunId must be a run id (a UUID)')
    return streamSSE(c, async (stream) => {
      const queue: RotaEvent[] = []
      let queuedBytes = 0
      let dropped = false
      let wake: (() => void) | undefined
      const drop = () => {
        dropped = true
        off()
        queue.length = 0
        queuedBytes = 0
        wake?.()
        // Close the connection itself: the bytes already waiting in its socket are freed too, and
        // the client sees the stream end (EventSource reconnects).
        ;(c.env as { outgoing?: { destroy(): void } } | undefined)?.outgoing?.destroy()
        stream.abort()
      }
      const off = ctx.bus.subscribe((e) => {
        const relevant = flowRunId
          ? ('flowRunId' in e && e.flowRunId === flowRunId) || (e.type === 'runs-removed' && (e.ids.length === 0 || e.ids.includes(flowRunId)))
          : e.type === 'flow-run' || e.type === 'agent' || e.type === 'pool' || e.type === 'runs-removed'
        if (!relevant || dropped) return
        queue.push(e)
        queuedBytes += eventBytes(e)
        if (queue.length > limits.maxEvents || queuedBytes > limits.maxBytes) return drop()
        wake?.()
      })
      stream.onAbort(() => {
        off()
        wake?.()
      })
      let id = 0
      await stream.writeSSE({ event: 'ready', data: JSON.stringify({ flowRunId: flowRunId ?? null }) })
      while (!dropped && !stream.aborted && !stream.closed && !ctx.shutdown.aborted) {
        if (queue.length === 0) {
          let timer: NodeJS.Timeout | undefined
          await new Promise<void>((resolve) => {
            wake = resolve
            timer = setTimeout(resolve, 15_000) // keep-alive through proxies
          })
          clearTimeout(timer)
          wake = undefined
          if (queue.length === 0) {
            if (!dropped) await stream.writeSSE({ event: 'ping', data: '{}' })
            continue
          }
        }
        const e = queue.shift() as RotaEvent
        queuedBytes -= eventBytes(e)
        const data = await eventData(ctx, e, flowRunId ? 'detail' : 'list')
        if (data !== undefined) await stream.writeSSE({ event: e.type, data: JSON.stringify(data), id: String(++id) })
      }
      off()
    })
  })
  return app
}

/** `view`: a run's own stream carries its parameters whole (its page shows them); the stream of all runs, summaries. */
async function eventData(ctx: ServerContext, e: RotaEvent, view: 'detail' | 'list'): Promise<EventData[keyof EventData] | undefined> {
  switch (e.type) {
    case 'flow-run': {
      const run = await getFlowRun(ctx.db, e.flowRunId)
      return run ? presentRun(run, view) : undefined
    }
    case 'task-run': {
      if (e.taskRun) return presentTaskRun(e.taskRun)
      // came from another replica without its body
      return { flowRunId: e.flowRunId, refresh: true, items: (await listTaskRuns(ctx.db, e.flowRunId)).map(presentTaskRun) }
    }
    case 'log':
      return e.log ? presentLog(e.log) : { flowRunId: e.flowRunId, refresh: true }
    case 'agent':
      return { agentId: e.agentId }
    case 'pool':
      return { pool: e.pool }
    case 'runs-removed':
      return { flowId: e.flowId, ids: e.ids }
    default:
      return undefined
  }
}
