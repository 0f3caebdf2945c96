/** Agents: register, long-poll for work (src/server/dispatch.ts), say goodbye; the list with their health. */
import { createRoute, OpenAPIHono } from '@hono/zod-openapi'
import type { ServerContext } from './context.ts'
import { body, errors, json } from './openapi.ts'
import { presentAgent, presentClaimedRun } from './presenter.ts'
import { AgentListSchema, AgentParam, AgentRegistrationSchema, AgentSchema, OkSchema, PollResultSchema, PollSchema } from '../../core/contract.ts'
import { listAgents } from '../store/agents.ts'
import { agentStopped, poll, registerAgent } from '../dispatch.ts'

export function agentRoutes(ctx: ServerContext, hook: ConstructorParameters<typeof OpenAPIHono>[0]) {
  const app = new OpenAPIHono(hook)

  app.openapi(
    createRoute({ method: 'get', path: '/agents', tags: ['agents'], responses: { 200: json(AgentListSchema, 'Agents with their health') } }),
    async (c) => c.json({ items: (await listAgents(ctx.db)).map(presentAgent) }, 200),
  )

  app.openapi(
    createRoute({
      method: 'post',
      path: '/agents',
      tags: ['agents'],
      summary: 'An agent announces itself (by name: a restarted agent keeps its id)',
      request: { body: body(AgentRegistrationSchema) },
      responses: { 200: json(AgentSchema, 'The agent'), ...errors },
    }),
    async (c) => c.json(presentAgent(await registerAgent(ctx, c.req.valid('json'))), 200),
  )

  app.openapi(
    createRoute({
      method: 'post',
      path: '/agents/{id}/poll',
      tags: ['agents'],
      summary: 'Heartbeat + claim due runs + learn which held runs to stop; long-polls up to waitMs',
      request: { params: AgentParam, body: body(PollSchema) },
      responses: { 200: json(PollResultSchema, 'Work for the agent'), ...errors },
    }),
    async (c) => {
      // The agent may give up on this poll (it stops, or a slot freed up): then nothing more is claimed for it.
      const work = await poll(ctx, c.req.valid('param').id, c.req.valid('json'), c.req.raw.signal)
      return c.json({ runs: work.runs.map(presentClaimedRun), cancel: work.cancel, lost: work.lost }, 200)
    },
  )

  app.openapi(
    createRoute({
      method: 'post',
      path: '/agents/{id}/stop',
      tags: ['agents'],
      summary: 'An agent says goodbye (shown offline at once)',
      request: { params: AgentParam },
      responses: { 200: json(OkSchema, 'Stopped'), ...errors },
    }),
    async (c) => {
      await agentStopped(ctx, c.req.valid('param').id)
      return c.json({ ok: true }, 200)
    },
  )

  return app
}
