import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi'
import type { ServerContext } from './context.ts'
import { AgentParam, AgentSchema, ClaimedRunSchema, errors, json, toBody } from './schemas.ts'
import { HttpError } from './errors.ts'
import { getAgent, heartbeat, listAgents, markAgentStopped, upsertAgent } from '../store/agents.ts'
import { claimDueRuns, setFlowRunState, type ClaimedRunRow } from '../orchestration/transition.ts'

const PollSchema = z.object({
  slots: z.number().int().min(0).max(1000),
  runIds: z.array(z.uuid()).max(1000).default([]),
  waitMs: z.number().int().min(0).max(30_000).default(5_000),
  prefetchMs: z.number().int().min(0).max(60_000).default(5_000),
})

export function agentRoutes(ctx: ServerContext, hook: ConstructorParameters<typeof OpenAPIHono>[0]) {
  const app = new OpenAPIHono(hook)
  const { db, bus } = ctx

  async function releaseRuns(ids: string[], why: string): Promise<void> {
    for (const id of ids) await setFlowRunState(db, bus, id, { state: 'scheduled', message: `back in the queue: ${why}`, by: { kind: 'server' } })
  }

  app.openapi(
    createRoute({ method: 'get', path: '/agents', tags: ['agents'], responses: { 200: json(z.object({ items: z.array(AgentSchema) }), 'Agents with their health') } }),
    async (c) => c.json({ items: (await listAgents(db)).map((a) => toBody(AgentSchema, a)) }, 200),
  )

  app.openapi(
    createRoute({
      method: 'post',
      path: '/agents',
      tags: ['agents'],
      summary: 'An agent announces itself (by name: a restarted agent keeps its id)',
      request: {
        body: {
          required: true,
          content: {
            'application/json': {
              schema: z.object({
                name: z.string().min(1).max(200),
                type: z.enum(['local', 'docker']),
                labels: z.array(z.string().min(1).max(100)).max(50).default([]),
                concurrency: z.number().int().min(1).max(1000).default(4),
              }),
            },
          },
        },
      },
      responses: { 200: json(AgentSchema, 'The agent'), ...errors },
    }),
    async (c) => {
      const agent = await upsertAgent(db, c.req.valid('json'))
      bus.publish({ type: 'agent', agentId: agent.id })
      return c.json(toBody(AgentSchema, agent), 200)
    },
  )

  app.openapi(
    createRoute({
      method: 'post',
      path: '/agents/{id}/poll',
      tags: ['agents'],
      summary: 'Heartbeat + claim due runs + learn which held runs to stop; long-polls up to waitMs',
      request: { params: AgentParam, body: { required: true, content: { 'application/json': { schema: PollSchema } } } },
      responses: {
        200: json(
          z.object({
            runs: z.array(ClaimedRunSchema),
            cancel: z.array(z.uuid()).openapi({ description: 'held runs being cancelled: stop them' }),
            lost: z.array(z.uuid()).openapi({ description: 'held runs that already ended on the server (for example crashed while this agent was unreachable): stop them' }),
          }),
          'Work for the agent',
        ),
        ...errors,
      },
    }),
    async (c) => {
      const agentId = c.req.valid('param').id
      const body = c.req.valid('json')
      const agent = await getAgent(db, agentId)
      if (!agent) throw new HttpError(404, `agent ${agentId} is not registered; register again with POST /api/agents`)
      const deadline = Date.now() + body.waitMs
      // The agent may give up on this poll (it stops, or a slot freed up): then claim nothing more.
      const gone = AbortSignal.any([ctx.shutdown, c.req.raw.signal])
      for (;;) {
        if (gone.aborted) return c.json({ runs: [], cancel: [], lost: [] }, 200)
        await heartbeat(db, agentId, body.runIds)
        const held =
          body.runIds.length === 0
            ? []
            : await db.query<{ id: string; state: string }>(`select id, state from rota_flow_runs where id = any($1::uuid[])`, [body.runIds])
        const cancel = held.filter((r) => r.state === 'cancelling').map((r) => r.id)
        const known = new Set(held.map((r) => r.id))
        const lost = [
          ...held.filter((r) => ['cancelled', 'crashed'].includes(r.state)).map((r) => r.id),
          ...body.runIds.filter((id) => !known.has(id)),
        ]
        // Runs this agent claimed but does not hold: the response that carried them was lost
        // (the agent aborted the poll, or the network dropped it). Deliver them again.
        const undelivered = await db.query<ClaimedRunRow>(
          `select r.id, r.name, f.name as "flowName", f.entrypoint, r.scheduled_start_time as "scheduledStartTime"
           from rota_flow_runs r join rota_flows f on f.id = r.flow_id
           where r.agent_id = $1 and r.state = 'pending' and not (r.id = any($2::uuid[]))`,
          [agentId, body.runIds],
        )
        const claimed = await claimDueRuns(db, bus, { id: agentId, labels: agent.labels }, body.slots - undelivered.length, body.prefetchMs)
        if (claimed.length > 0 && gone.aborted) {
          await releaseRuns(claimed.map((r) => r.id), 'the agent left before receiving the run')
          return c.json({ runs: [], cancel: [], lost: [] }, 200)
        }
        const runs = [...undelivered, ...claimed]
        const remaining = deadline - Date.now()
        if (runs.length > 0 || cancel.length > 0 || lost.length > 0 || remaining <= 0 || ctx.shutdown.aborted) {
          return c.json({ runs: runs.map((r) => toBody(ClaimedRunSchema, r)), cancel, lost }, 200)
        }
        // Sleep until something may have changed: a new or cancelled run, or the next run entering the prefetch window.
        const next = await db.query<{ t: Date | null }>(`select min(scheduled_start_time) as t from rota_flow_runs where state = 'scheduled'`)
        const nextAt = next[0]?.t ? new Date(next[0].t).getTime() - body.prefetchMs : Infinity
        const sleep = Math.max(1, Math.min(remaining, nextAt - Date.now()))
        const held_ = new Set(body.runIds)
        await bus.waitFor(
          (e) => e.type === 'runs-available' || (e.type === 'flow-run' && held_.has(e.flowRunId) && e.state !== 'running'),
          body.slots > 0 ? sleep : remaining,
          gone,
        )
      }
    },
  )

  app.openapi(
    createRoute({
      method: 'post',
      path: '/agents/{id}/stop',
      tags: ['agents'],
      summary: 'An agent says goodbye (shown offline at once)',
      request: { params: AgentParam },
      responses: { 200: json(z.object({ ok: z.boolean() }), 'Stopped'), ...errors },
    }),
    async (c) => {
      const agentId = c.req.valid('param').id
      if (!(await markAgentStopped(db, agentId))) throw new HttpError(404, `agent ${agentId} is not registered`)
      // Runs claimed for this agent that it never started (a poll answered as it stopped) go back to the queue.
      const stranded = await db.query<{ id: string }>(`select id from rota_flow_runs where agent_id = $1 and state = 'pending'`, [agentId])
      await releaseRuns(stranded.map((r) => r.id), 'its agent stopped before starting it')
      bus.publish({ type: 'agent', agentId: c.req.valid('param').id })
      return c.json({ ok: true }, 200)
    },
  )

  return app
}
