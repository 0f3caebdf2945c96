/** Server-Sent Events for the dashboard and `rota logs --follow`. */
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

export function eventRoutes(ctx: ServerContext) {
  const app = new Hono()
  app.get('/events', (c) => {
    const flowRunId = c.req.query('flowRunId')
    if (flowRunId !== undefined && !isUuid(flowRunId)) throw new HttpError(400, 'flowRunId must be a run id (a UUID)')
    return streamSSE(c, async (stream) => {
      const queue: RotaEvent[] = []
      let wake: (() => void) | undefined
      const off = ctx.bus.subscribe((e) => {
        const relevant = flowRunId
          ? 'flowRunId' in e && e.flowRunId === flowRunId
          : e.type === 'flow-run' || e.type === 'agent' || e.type === 'pool'
        if (!relevant) return
        queue.push(e)
        wake?.()
      })
      stream.onAbort(() => {
        off()
        wake?.()
      })
      let id = 0
      await stream.writeSSE({ event: 'ready', data: JSON.stringify({ flowRunId: flowRunId ?? null }) })
      while (!stream.aborted && !stream.closed && !ctx.shutdown.aborted) {
        if (queue.length === 0) {
          await new Promise<void>((resolve) => {
            wake = resolve
            setTimeout(resolve, 15_000) // keep-alive through proxies
          })
          wake = undefined
          if (queue.length === 0) {
            await stream.writeSSE({ event: 'ping', data: '{}' })
            continue
          }
        }
        const e = queue.shift() as RotaEvent
        const data = await eventData(ctx, e)
        if (data !== undefined) await stream.writeSSE({ event: e.type, data: JSON.stringify(data), id: String(++id) })
      }
      off()
    })
  })
  return app
}

async function eventData(ctx: ServerContext, e: RotaEvent): Promise<EventData[keyof EventData] | undefined> {
  switch (e.type) {
    case 'flow-run': {
      const run = await getFlowRun(ctx.db, e.flowRunId)
      return run ? presentRun(run) : undefined
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
    default:
      return undefined
  }
}
