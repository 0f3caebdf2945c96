/**
 * Creating, changing and deleting automations: the references an automation makes (flows, a run's
 * parameters) are checked when it is saved, so a typo is a 400 now rather than silence at 3 a.m.
 * Header values sent back as "********" (as answers show them) keep the stored ones.
 */
import type { Db } from '../db/index.ts'
import type { AutomationAction, AutomationPatch, AutomationTrigger } from '../../core/contract.ts'
import { REDACTED, resolveParameters } from '../../core/parameters.ts'
import { getFlow } from '../store/flows.ts'
import { getAutomation, insertAutomation, updateAutomation, type AutomationFields, type AutomationRow } from '../store/automations.ts'
import { redactUrl } from '../api/presenter.ts'

export class AutomationInputError extends Error {
  override name = 'AutomationInputError'
}

async function mustBeFlow(db: Db, name: string, where: string): Promise<NonNullable<Awaited<ReturnType<typeof getFlow>>>> {
  const flow = await getFlow(db, name)
  if (!flow) throw new AutomationInputError(`${where}: flow "${name}" is not registered; \`rota flows\` lists the flows`)
  return flow
}

async function checkReferences(db: Db, trigger: AutomationTrigger, action: AutomationAction): Promise<void> {
  if (trigger.flow) await mustBeFlow(db, trigger.flow, 'trigger.flow')
  if (action.type === 'run-flow') {
    const flow = await mustBeFlow(db, action.flow, 'action.flow')
    try {
      resolveParameters(flow.parameters, action.parameters ?? {})
    } catch (err) {
      throw new AutomationInputError(`action.parameters: ${(err as Error).message}`)
    }
  }
  if (action.type === 'pause-schedule') {
    const name = action.flow ?? trigger.flow
    if (name) {
      const flow = await mustBeFlow(db, name, action.flow ? 'action.flow' : 'trigger.flow')
      if (!flow.schedule) throw new AutomationInputError(`action: flow "${name}" has no schedule to pause`)
    }
  }
}

export async function createAutomation(db: Db, input: AutomationFields): Promise<AutomationRow> {
  await checkReferences(db, input.trigger, input.action)
  return insertAutomation(db, input)
}

/** A changed action keeps stored secrets where the client sent back what answers show. */
function keepSecrets(stored: AutomationAction, next: AutomationAction): AutomationAction {
  if (next.type !== 'webhook' || stored.type !== 'webhook') return next
  const url = next.url === redactUrl(stored.url) ? stored.url : next.url
  const headers = next.headers
    ? Object.fromEntries(Object.entries(next.headers).map(([k, v]) => [k, v === REDACTED ? (stored.headers?.[k] ?? v) : v]))
    : undefined
  if (headers && Object.values(headers).includes(REDACTED)) {
    throw new AutomationInputError(`action.headers: "${REDACTED}" stands for a stored value, and this header has none; send its value`)
  }
  return { type: 'webhook', url, ...(headers ? { headers } : {}) }
}

export async function changeAutomation(db: Db, current: AutomationRow, patch: AutomationPatch): Promise<AutomationRow> {
  const next: AutomationFields = {
    name: patch.name ?? current.name,
    trigger: patch.trigger ?? current.trigger,
    action: patch.action ? keepSecrets(current.action, patch.action) : current.action,
    enabled: patch.enabled ?? current.enabled,
    minGapSeconds: patch.minGapSeconds ?? current.minGapSeconds,
  }
  if (patch.trigger || patch.action) await checkReferences(db, next.trigger, next.action)
  return (await updateAutomation(db, current.id, next)) ?? current
}

export { getAutomation }
