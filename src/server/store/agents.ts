/** SQL for agents. Health is derived from the last heartbeat, never stored. */
import type { Queryable } from '../db/index.ts'

export interface AgentRow {
  id: string
  name: string
  type: 'local' | 'docker'
  labels: string[]
  concurrency: number
  startedAt: Date
  lastHeartbeat: Date
  status: 'active' | 'unhealthy' | 'offline'
}

/** An agent heartbeats every few seconds; silent this long, its runs are declared crashed. */
export const AGENT_SILENCE_MS = 20_000
/** Unhealthy agents become offline after this. */
export const AGENT_OFFLINE_MS = 10 * 60_000

const COLUMNS = `id, name, type, labels, concurrency, started_at as "startedAt", last_heartbeat as "lastHeartbeat",
  case when stopped_at is not null then 'offline'
       when last_heartbeat > now() - make_interval(secs => ${AGENT_SILENCE_MS / 1000}) then 'active'
       when last_heartbeat > now() - make_interval(secs => ${AGENT_OFFLINE_MS / 1000}) then 'unhealthy'
       else 'offline' end as status`

export async function upsertAgent(db: Queryable, a: { name: string; type: 'local' | 'docker'; labels: string[]; concurrency: number }): Promise<AgentRow> {
  const rows = await db.query<AgentRow>(
    `insert into rota_agents (name, type, labels, concurrency) values ($1, $2, $3::jsonb, $4)
     on conflict (name) do update set type = excluded.type, labels = excluded.labels, concurrency = excluded.concurrency,
       started_at = now(), last_heartbeat = now(), stopped_at = null
     returning ${COLUMNS}`,
    [a.name, a.type, JSON.stringify(a.labels), a.concurrency],
  )
  return rows[0] as AgentRow
}

export async function getAgent(db: Queryable, id: string): Promise<AgentRow | undefined> {
  return (await db.query<AgentRow>(`select ${COLUMNS} from rota_agents where id = $1`, [id]))[0]
}

export async function listAgents(db: Queryable): Promise<AgentRow[]> {
  return db.query<AgentRow>(`select ${COLUMNS} from rota_agents order by last_heartbeat desc`)
}

/** Records an agent's heartbeat and the heartbeat of the runs it still holds. */
export async function heartbeat(db: Queryable, agentId: string, runIds: readonly string[]): Promise<boolean> {
  const rows = await db.query(`update rota_agents set last_heartbeat = now(), stopped_at = null where id = $1 returning id`, [agentId])
  if (rows.length === 0) return false
  if (runIds.length > 0) {
    await db.query(`update rota_flow_runs set heartbeat_at = now() where id = any($1::uuid[]) and agent_id = $2 and state in ('pending','running','cancelling')`, [
      runIds,
      agentId,
    ])
  }
  return true
}

/** False when no such agent is registered. */
export async function markAgentStopped(db: Queryable, agentId: string): Promise<boolean> {
  return (await db.query(`update rota_agents set stopped_at = now() where id = $1 returning id`, [agentId])).length > 0
}

/** An active agent and how many of its slots hold runs (why a due run waits). */
export interface AgentCapacity {
  name: string
  labels: string[]
  concurrency: number
  activeRuns: number
}

export async function activeAgentCapacity(db: Queryable): Promise<AgentCapacity[]> {
  return db.query<AgentCapacity>(
    `select a.name, a.labels, a.concurrency,
       (select count(*)::int from rota_flow_runs r where r.agent_id = a.id and r.state in ('pending', 'running', 'cancelling')) as "activeRuns"
     from rota_agents a
     where a.stopped_at is null and a.last_heartbeat > now() - make_interval(secs => ${AGENT_SILENCE_MS / 1000})
     order by a.name`,
  )
}
