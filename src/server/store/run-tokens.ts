/** SQL for run tokens (src/server/run-access.ts): issuing them to the claiming agent, and what a request for a run needs to be judged. */
import type { Queryable } from '../db/index.ts'
import type { ParameterSpec } from '../../core/parameters.ts'

/**
 * Stores the token hashes of runs handed to `agentId`, guarded: only runs still pending for that
 * agent take one. Returns the ids that took theirs (a run cancelled meanwhile is not handed over).
 */
export async function storeRunTokens(db: Queryable, agentId: string, tokens: readonly { id: string; hash: string }[]): Promise<Set<string>> {
  if (tokens.length === 0) return new Set()
  const rows = await db.query<{ id: string }>(
    `update rota_flow_runs r set token_hash = t.hash
     from unnest($1::uuid[], $2::text[]) as t(id, hash)
     where r.id = t.id and r.agent_id = $3 and r.state = 'pending'
     returning r.id`,
    [tokens.map((t) => t.id), tokens.map((t) => t.hash), agentId],
  )
  return new Set(rows.map((r) => r.id))
}

/**
 * Stores the token hash of a child run for its parent's process, guarded: only a child run of
 * `parentRunId` that has not ended takes one. True when it did.
 */
export async function storeChildRunToken(db: Queryable, parentRunId: string, childRunId: string, hash: string): Promise<boolean> {
  const rows = await db.query<{ id: string }>(
    `update rota_flow_runs set token_hash = $3
     where id = $2 and parent_run_id = $1 and state not in ('success', 'failed', 'skipped', 'cancelled', 'crashed')
     returning id`,
    [parentRunId, childRunId, hash],
  )
  return rows.length > 0
}

/** What a request made for a run is judged by: its token's hash, and its parameters (their secrets are hidden in what it reports). */
export interface RunCredentials {
  tokenHash: string | null
  overrides: Record<string, unknown>
  specs: ParameterSpec[]
}

export async function runCredentials(db: Queryable, flowRunId: string): Promise<RunCredentials | undefined> {
  const rows = await db.query<RunCredentials>(
    `select r.token_hash as "tokenHash", r.parameters as overrides, f.parameters as specs
     from rota_flow_runs r join rota_flows f on f.id = r.flow_id where r.id = $1`,
    [flowRunId],
  )
  return rows[0]
}
