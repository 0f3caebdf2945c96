/**
 * `rota automations list|create|enable|disable|delete|firings`. `create` takes flags for the
 * common cases, or the API's JSON body from a file (`--file automation.json`, `-` for stdin).
 */
import fs from 'node:fs'
import type { Command } from 'commander'
import type { RotaClient } from '../client/index.ts'
import type { AutomationAction, AutomationInput, AutomationTrigger, State } from '../core/contract.ts'
import { STATES } from '../core/states.ts'
import { DurationError, parseDurationSeconds } from '../core/duration.ts'
import { describeAction, describeTrigger } from '../core/automations.ts'
import { ago, clean, paint, table } from './output.ts'

export class AutomationUsageError extends Error {
  override name = 'UsageError'
}

interface CreateOptions {
  name?: string
  file?: string
  flow?: string
  onState?: string
  late?: string
  withoutSuccess?: string
  failures?: string
  webhook?: string
  header: string[]
  pauseSchedule?: string | true
  runFlow?: string
  param: string[]
  minGap?: string
  disabled?: boolean
}

const collect = (value: string, previous: string[] = []) => [...previous, value]

function seconds(raw: string, flag: string): number {
  try {
    return parseDurationSeconds(raw, flag)
  } catch (err) {
    if (err instanceof DurationError) throw new AutomationUsageError(err.message)
    throw err
  }
}

function triggerFrom(o: CreateOptions): AutomationTrigger {
  const given = [o.onState && '--on-state', o.late && '--late', o.withoutSuccess && '--without-success', o.failures && '--failures'].filter(Boolean)
  if (given.length !== 1) throw new AutomationUsageError(`give one trigger: --on-state <states>, --late <duration>, --without-success <duration> or --failures <n>${given.length ? ` (got ${given.join(', ')})` : ''}`)
  const flow = o.flow ? { flow: o.flow } : {}
  if (o.onState) {
    const states = o.onState.split(',').map((s) => s.trim())
    const bad = states.find((s) => !(STATES as readonly string[]).includes(s))
    if (bad !== undefined) throw new AutomationUsageError(`--on-state: unknown state "${bad}"; states are ${STATES.join(', ')}`)
    return { type: 'flow-run-state', ...flow, states: states as State[] }
  }
  if (o.late) return { type: 'late', ...flow, forSeconds: seconds(o.late, '--late') }
  if (o.withoutSuccess) {
    if (!o.flow) throw new AutomationUsageError('--without-success needs --flow <flow>: the flow whose successes are expected')
    return { type: 'no-success', flow: o.flow, withinSeconds: seconds(o.withoutSuccess, '--without-success') }
  }
  const count = Number(o.failures)
  if (!Number.isInteger(count) || count < 1) throw new AutomationUsageError(`--failures takes a whole number of runs (1 or more), got "${o.failures}"`)
  return { type: 'consecutive-failures', ...flow, count }
}

function actionFrom(o: CreateOptions): AutomationAction {
  const given = [o.webhook && '--webhook', o.pauseSchedule && '--pause-schedule', o.runFlow && '--run-flow'].filter(Boolean)
  if (given.length !== 1) throw new AutomationUsageError(`give one action: --webhook <url>, --pause-schedule [flow] or --run-flow <flow>${given.length ? ` (got ${given.join(', ')})` : ''}`)
  if (o.webhook) {
    const headers: Record<string, string> = {}
    for (const h of o.header) {
      const i = h.indexOf(':')
      if (i <= 0) throw new AutomationUsageError(`--header takes "Name: value", got "${h}"`)
      headers[h.slice(0, i).trim()] = h.slice(i + 1).trim()
    }
    return { type: 'webhook', url: o.webhook, ...(o.header.length ? { headers } : {}) }
  }
  if (o.pauseSchedule) return { type: 'pause-schedule', ...(typeof o.pauseSchedule === 'string' ? { flow: o.pauseSchedule } : {}) }
  const parameters: Record<string, unknown> = {}
  for (const p of o.param) {
    const i = p.indexOf('=')
    if (i <= 0) throw new AutomationUsageError(`--param takes name=value, got "${p}"`)
    const raw = p.slice(i + 1)
    // JSON when it parses (numbers, booleans, objects), the text otherwise
    try {
      parameters[p.slice(0, i)] = JSON.parse(raw)
    } catch {
      parameters[p.slice(0, i)] = raw
    }
  }
  return { type: 'run-flow', flow: o.runFlow as string, ...(o.param.length ? { parameters } : {}) }
}

function readJson(file: string): AutomationInput {
  let text: string
  try {
    text = fs.readFileSync(file === '-' ? 0 : file, 'utf8')
  } catch (err) {
    throw new AutomationUsageError(`cannot read ${file}: ${(err as Error).message}`)
  }
  try {
    return JSON.parse(text) as AutomationInput
  } catch (err) {
    throw new AutomationUsageError(`${file} is not JSON: ${(err as Error).message}`)
  }
}

export function addAutomationCommands(program: Command, client: () => RotaClient): void {
  const cmd = program.command('automations').description('react to runs: webhooks (Slack-compatible), pausing a schedule, starting a flow')

  cmd
    .command('list')
    .description('list automations with their last firing')
    .action(async () => {
      const { items } = await client().listAutomations()
      if (items.length === 0) return console.log('no automations; `rota automations create --help` says how to make one')
      console.log(
        table(
          items.map((a) => [
            clean(a.name),
            a.enabled ? 'on' : paint('off', 33),
            clean(describeTrigger(a.trigger)),
            clean(describeAction(a.action)),
            a.lastFiring ? `${a.lastFiring.status} ${ago(a.lastFiring.createdAt)}` : '-',
          ]),
          ['NAME', 'ENABLED', 'WHEN', 'THEN', 'LAST FIRING'],
        ),
      )
    })

  cmd
    .command('create')
    .description('create an automation, from flags or from a JSON file (the body of POST /api/automations)')
    .option('--name <name>', 'its name (unique)')
    .option('--file <file>', 'the automation as JSON ({ name, trigger, action, enabled?, minGapSeconds? }); - reads stdin')
    .option('--flow <flow>', 'trigger: only runs of this flow (needed by --without-success)')
    .option('--on-state <states>', 'trigger: a run takes one of these states (comma separated, e.g. failed,crashed)')
    .option('--late <duration>', 'trigger: a run is not started this long after its time (e.g. 60s)')
    .option('--without-success <duration>', 'trigger: the flow has had no successful run for this long (e.g. 15m); fires again when it recovers')
    .option('--failures <n>', 'trigger: the flow fails n times in a row')
    .option('--webhook <url>', 'action: POST the firing as JSON (Slack-compatible "text") to this http(s) URL')
    .option('--header <"Name: value">', 'action: a header for the webhook, e.g. "Authorization: Bearer ..." (repeatable; never shown again)', collect, [])
    .option('--pause-schedule [flow]', "action: pause the schedule of this flow (default: the run's flow)")
    .option('--run-flow <flow>', 'action: start a run of this flow')
    .option('--param <name=value>', 'action: a parameter of the run --run-flow starts (repeatable)', collect, [])
    .option('--min-gap <duration>', 'at most one delivery per this long; firings in between are recorded as throttled (default 60s; 0 for none)')
    .option('--disabled', 'create it disabled')
    .action(async (o: CreateOptions) => {
      let input: AutomationInput
      if (o.file) {
        input = readJson(o.file)
        if (o.name) input = { ...input, name: o.name }
      } else {
        if (!o.name) throw new AutomationUsageError('name the automation: --name <name> (or give --file)')
        input = { name: o.name, trigger: triggerFrom(o), action: actionFrom(o) }
      }
      if (o.minGap !== undefined) input = { ...input, minGapSeconds: o.minGap.trim() === '0' ? 0 : seconds(o.minGap, '--min-gap') }
      if (o.disabled) input = { ...input, enabled: false }
      const a = await client().createAutomation(input)
      console.log(clean(`created automation ${a.name} (${a.id}): when ${describeTrigger(a.trigger)}, ${describeAction(a.action)}${a.enabled ? '' : ' (disabled)'}`))
    })

  for (const [name, enabled] of [['enable', true], ['disable', false]] as const) {
    cmd
      .command(`${name} <automation>`)
      .description(`${name} an automation (by name or id)`)
      .action(async (idOrName: string) => {
        const a = await client().updateAutomation(idOrName, { enabled })
        console.log(clean(`${a.name}: ${a.enabled ? 'enabled' : 'disabled'}`))
      })
  }

  cmd
    .command('delete <automation>')
    .description('delete an automation and its firing history (by name or id)')
    .action(async (idOrName: string) => {
      const a = await client().getAutomation(idOrName)
      await client().deleteAutomation(a.id)
      console.log(clean(`deleted automation ${a.name}`))
    })

  cmd
    .command('firings <automation>')
    .description("an automation's firings, newest first: what fired and how its delivery went")
    .option('--limit <n>', 'how many', (v: string) => Number(v), 20)
    .action(async (idOrName: string, o: { limit: number }) => {
      if (!Number.isInteger(o.limit) || o.limit < 1 || o.limit > 500) throw new AutomationUsageError('--limit takes a whole number from 1 to 500')
      const { items } = await client().firings(idOrName, o.limit)
      console.log(
        table(
          items.map((f) => [
            ago(f.createdAt),
            f.kind,
            f.status,
            f.statusCode === null ? '-' : String(f.statusCode),
            String(f.attempts),
            clean(f.message),
            f.error ? clean(f.error) : '',
          ]),
          ['WHEN', 'KIND', 'STATUS', 'HTTP', 'TRIES', 'MESSAGE', 'ERROR'],
        ),
      )
    })
}
