/**
 * The run token check (src/server/run-access.ts) for the routes that act for a run: its execution
 * details (parameters, secrets) and its reports (task states, logs, artifacts, state proposals).
 * Answers with the run's redactor, so the handler hides the run's secrets in what it stores.
 */
import type { Db } from '../../db/index.ts'
import { HttpError } from '../errors.ts'
import { runCredentials } from '../../store/run-tokens.ts'
import { runRedactor, tokenMatches } from '../../run-access.ts'
import { RUN_TOKEN_ENV, RUN_TOKEN_HEADER } from '../../../core/auth.ts'
import type { Redactor } from '../../../core/redact.ts'

export async function requireRunToken(db: Db, flowRunId: string, given: string | undefined): Promise<Redactor> {
  const credentials = await runCredentials(db, flowRunId)
  if (!credentials) throw new HttpError(404, `flow run ${flowRunId} does not exist`)
  if (given === undefined || given === '') {
    throw new HttpError(
      401,
      `this route is for the process running flow run ${flowRunId} and its agent: send the run's token as the ${RUN_TOKEN_HEADER} header (the agent that claimed the run gives it to the run's process as ${RUN_TOKEN_ENV})`,
    )
  }
  if (!tokenMatches(given, credentials.tokenHash)) {
    throw new HttpError(403, `the run token does not match flow run ${flowRunId}: only the agent that claimed the run, and the process it started, may act for it`)
  }
  return runRedactor(flowRunId, credentials)
}
