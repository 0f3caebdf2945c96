/** Automations described in words, the same way by the CLI and the dashboard. Pure. */
import type { AutomationAction, AutomationTrigger } from './contract.ts'
import { formatDurationSeconds } from './duration.ts'

export function describeTrigger(t: AutomationTrigger): string {
  const flow = t.flow ? `${t.flow}` : 'any flow'
  switch (t.type) {
    case 'flow-run-state':
      return `a run of ${flow} is ${t.states.join(' or ')}`
    case 'late':
      return `a run of ${flow} is ${formatDurationSeconds(t.forSeconds)} late`
    case 'no-success':
      return `${flow} has no success for ${formatDurationSeconds(t.withinSeconds)} (and when it recovers)`
    case 'consecutive-failures':
      return `${flow} fails ${t.count} times in a row`
  }
}

export function describeAction(a: AutomationAction): string {
  switch (a.type) {
    case 'webhook':
      return `POST ${a.url}`
    case 'pause-schedule':
      return `pause the schedule of ${a.flow ?? "the run's flow"}`
    case 'run-flow':
      return `run ${a.flow}${a.parameters && Object.keys(a.parameters).length ? ` with ${JSON.stringify(a.parameters)}` : ''}`
  }
}
