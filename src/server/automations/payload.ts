/**
 * What a firing says: its one-line message, and the JSON a webhook receives (with a Slack-compatible
 * `text`, so a Slack or Mattermost incoming-webhook URL works as it is). Pure.
 */
import type { FiringKind, NewFiring } from '../store/automations.ts'
import { formatDurationSeconds } from '../../core/duration.ts'
import { cutText } from '../../core/text.ts'

/** A run's own message is cut to this in a firing. */
const MAX_RUN_MESSAGE = 1000

export interface FiringRun {
  id: string
  name: string
  state: string
  message: string | null
  scheduledStartTime?: Date | string | undefined
}

export interface FiringFacts {
  kind: FiringKind
  automation: { id: string; name: string }
  flowName: string | null
  run: FiringRun | null
  dedupeKey: string
  /** The dashboard's address (ROTA_PUBLIC_URL, or where the server listens). */
  baseUrl: string
  /** late: its threshold; no-success: its window; consecutive-failures: the count. */
  threshold?: number | undefined
  /** no-success: the last successful run before the breach. */
  lastSuccess?: FiringRun | null | undefined
}

/** Slack's mrkdwn takes &, < and > as markup: escaped in text that is not ours. */
function slackEscape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
}

function runMessage(run: FiringRun): string {
  return run.message ? `: ${cutText(run.message.replace(/\s+/g, ' ').trim(), MAX_RUN_MESSAGE)}` : ''
}

export function firingMessage(f: FiringFacts): string {
  const flow = f.flowName ?? 'a flow'
  const run = f.run
  switch (f.kind) {
    case 'flow-run-state':
      return `${flow}: run ${run?.name} is ${run?.state}${run ? runMessage(run) : ''}`
    case 'late':
      return `${flow}: run ${run?.name} is late, not started ${formatDurationSeconds(f.threshold ?? 0)} after its scheduled time${run?.scheduledStartTime ? ` (${new Date(run.scheduledStartTime).toISOString()})` : ''}`
    case 'no-success':
      return `${flow}: no successful run for ${formatDurationSeconds(f.threshold ?? 0)}${f.lastSuccess ? ` (the last was run ${f.lastSuccess.name})` : ' (none so far)'}`
    case 'recovery':
      return `${flow} recovered: run ${run?.name} succeeded`
    case 'consecutive-failures':
      return `${flow}: ${f.threshold ?? 0} runs failed in a row (the latest, run ${run?.name}, ${run?.state}${run ? runMessage(run) : ''})`
  }
}

/** The firing to claim: its message, and the body a webhook gets. */
export function buildFiring(f: FiringFacts): NewFiring {
  const message = firingMessage(f)
  const runUrl = f.run ? `${f.baseUrl}/#/runs/${encodeURIComponent(f.run.id)}` : null
  const flowUrl = f.flowName ? `${f.baseUrl}/#/flows/${encodeURIComponent(f.flowName)}` : null
  const link = runUrl ?? flowUrl
  const state = f.kind === 'late' ? 'late' : (f.run?.state ?? null)
  const text = `[Rota] ${slackEscape(f.automation.name)}: ${slackEscape(message)}${link ? ` <${link}|${runUrl ? 'open the run' : 'open the flow'}>` : ''}`
  return {
    dedupeKey: f.dedupeKey,
    kind: f.kind,
    flowRunId: f.run?.id ?? null,
    flowRunName: f.run?.name ?? null,
    flowName: f.flowName,
    state,
    message,
    exemptFromGap: f.kind === 'recovery',
    payload: {
      automation: f.automation.name,
      automationId: f.automation.id,
      kind: f.kind,
      flowName: f.flowName,
      flowRunId: f.run?.id ?? null,
      flowRunName: f.run?.name ?? null,
      state,
      message,
      runUrl,
      flowUrl,
      text,
      time: new Date().toISOString(),
    },
  }
}
