/**
 * Who may act for a run, and what of it stays hidden.
 *
 * - **Run token**: a random secret issued each time a claimed run is handed to the agent that claimed
 *   it (dispatch.ts), kept only as its SHA-256, given by the agent to the run's process
 *   (ROTA_RUN_TOKEN). The routes that hand out a run's parameters and secrets (`/execution`) and
 *   take its reports (task states, logs, artifacts, state proposals) answer only to it: no other
 *   process, page or run can read a run's secrets or write into its history. A run handed over again
 *   (the answer that carried it was lost) gets a new token; a run back in the queue has none.
 * - **Secrets**: the values of the run's secret parameters. What the run reports is redacted with
 *   them on the way in (src/core/redact.ts), whatever printed it.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import type { Queryable } from './db/index.ts'
import { storeChildRunToken, storeRunTokens, type RunCredentials } from './store/run-tokens.ts'
import { redactor, type Redactor } from '../core/redact.ts'
import { resolveParameters, secretValues } from '../core/parameters.ts'

export function hashRunToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex')
}

/** Whether `given` is the token whose hash is `hash`; constant time, never throws. */
export function tokenMatches(given: string | undefined, hash: string | null): boolean {
  if (given === undefined || hash === null || !/^[0-9a-f]{64}$/.test(hash)) return false
  return timingSafeEqual(Buffer.from(hashRunToken(given), 'hex'), Buffer.from(hash, 'hex'))
}

/** Gives each run handed to `agentId` a fresh token (only its hash is stored); runs no longer pending for it are left out. */
export async function issueRunTokens<R extends { id: string }>(db: Queryable, agentId: string, runs: readonly R[]): Promise<(R & { token: string })[]> {
  const issued = runs.map((run) => ({ run, token: randomBytes(32).toString('base64url') }))
  const stored = await storeRunTokens(db, agentId, issued.map(({ run, token }) => ({ id: run.id, hash: hashRunToken(token) })))
  return issued.filter(({ run }) => stored.has(run.id)).map(({ run, token }) => ({ ...run, token }))
}

/**
 * A child run's token, for its parent's process (the child runs there, and reports with it). The
 * parent's process asked with the parent's token; a child that has ended takes none (undefined).
 */
export async function issueChildRunToken(db: Queryable, parentRunId: string, childRunId: string): Promise<string | undefined> {
  const token = randomBytes(32).toString('base64url')
  return (await storeChildRunToken(db, parentRunId, childRunId, hashRunToken(token))) ? token : undefined
}

/** The run's effective parameters, as the presenter computes them (a flow changed since keeps what it can). */
function effective(credentials: RunCredentials): Record<string, unknown> {
  try {
    return resolveParameters(credentials.specs, credentials.overrides)
  } catch {
    return { ...Object.fromEntries(credentials.specs.map((s) => [s.name, s.default])), ...credentials.overrides }
  }
}

const REDACTORS_KEPT = 500
const redactors = new Map<string, { secrets: string; redactor: Redactor }>()

/** The redactor of a run's secrets; compiled once per run and kept for the next batch (logs come every 50 ms). */
export function runRedactor(flowRunId: string, credentials: RunCredentials): Redactor {
  const values = secretValues(credentials.specs, effective(credentials))
  const key = values.join('\u0000')
  const cached = redactors.get(flowRunId)
  if (cached && cached.secrets === key) return cached.redactor
  const compiled = redactor(values)
  redactors.delete(flowRunId)
  redactors.set(flowRunId, { secrets: key, redactor: compiled })
  if (redactors.size > REDACTORS_KEPT) redactors.delete(redactors.keys().next().value as string)
  return compiled
}
