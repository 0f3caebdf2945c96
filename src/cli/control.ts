/** `rota backfill` and `rota pool`: flow control from the command line. */
import type { Command } from 'commander'
import type { RotaClient } from '../client/index.ts'
import { clean, table } from './output.ts'

export class CliInputError extends Error {
  override name = 'UsageError'
}

/** A whole number, negative ones included (priorities). */
export function signedInt(name: string) {
  return (raw: string): number => {
    const n = Number(raw)
    if (raw.trim() === '' || !Number.isInteger(n) || Math.abs(n) > 2_147_483_647) throw new CliInputError(`${name} must be a whole number (negative allowed), got "${raw}"`)
    return n
  }
}

function positiveInt(name: string) {
  return (raw: string): number => {
    const n = Number(raw)
    if (!Number.isInteger(n) || n < 1) throw new CliInputError(`${name} must be a whole number of at least 1, got "${raw}"`)
    return n
  }
}

function time(name: string) {
  return (raw: string): string => {
    if (Number.isNaN(Date.parse(raw))) throw new CliInputError(`${name} must be an ISO time like 2026-11-25T12:00:00Z, got "${raw}"`)
    return new Date(raw).toISOString()
  }
}

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value]
}

export function addControlCommands(program: Command, client: () => RotaClient, parseParams: (pairs: string[]) => Record<string, string>): void {
  program
    .command('backfill <flow>')
    .description('one run per schedule time from --from to --to (inclusive), except times that already have one')
    .requiredOption('--from <time>', 'first schedule time (ISO 8601)', time('--from'))
    .requiredOption('--to <time>', 'last schedule time (ISO 8601)', time('--to'))
    .option('--missing-only', 'only times with no run at all (by default also times whose runs all failed, crashed, were cancelled or skipped)')
    .option('--max-active <n>', "at most n of the backfill's runs at once", positiveInt('--max-active'))
    .option('--priority <n>', 'priority of the runs (higher first; default 0)', signedInt('--priority'), 0)
    .option('--param <name=value>', 'parameter for every run (repeatable)', collect, [])
    .action(async (flowName: string, opts: { from: string; to: string; missingOnly?: boolean; maxActive?: number; priority: number; param: string[] }) => {
      const api = client()
      const flow = await api.getFlow(flowName)
      const { resolveParameters } = await import('../core/parameters.ts')
      const params = parseParams(opts.param)
      const coerced = resolveParameters(flow.parameters as never, params, { coerce: true })
      const b = await api.backfill(flowName, {
        from: opts.from,
        to: opts.to,
        missingOnly: opts.missingOnly === true,
        maxActive: opts.maxActive ?? null,
        priority: opts.priority,
        parameters: Object.fromEntries(Object.keys(params).map((k) => [k, coerced[k]])),
      })
      console.log(
        clean(
          `backfill ${b.id} of ${b.flowName}: created ${b.created} run${b.created === 1 ? '' : 's'} for ${b.times} schedule time${b.times === 1 ? '' : 's'}` +
            (b.existing ? ` (${b.existing} already had ${b.missingOnly ? 'a run' : 'a successful or unfinished run'})` : '') +
            (b.maxActive ? `, at most ${b.maxActive} at once` : ''),
        ),
      )
    })

  const pool = program.command('pool').description('slot pools shared by flows and tasks')
  pool
    .command('set <name>')
    .description('create a pool or change its number of slots')
    .requiredOption('--slots <n>', 'slots (0 closes the pool)', (raw: string) => {
      const n = Number(raw)
      if (!Number.isInteger(n) || n < 0) throw new CliInputError(`--slots must be a whole number of at least 0, got "${raw}"`)
      return n
    })
    .action(async (name: string, opts: { slots: number }) => {
      const p = await client().setPool(name, opts.slots)
      console.log(clean(`pool ${p.name}: ${p.slots} slot${p.slots === 1 ? '' : 's'}, ${p.held} held`))
    })
  pool
    .command('list')
    .description('pools with who holds their slots and who waits')
    .action(async () => {
      const { items } = await client().listPools()
      const who = (hs: { flowRunName: string; taskName: string | null }[]) =>
        hs.length ? hs.slice(0, 4).map((h) => (h.taskName ? `${h.flowRunName}/${h.taskName}` : h.flowRunName)).join(', ') + (hs.length > 4 ? ` +${hs.length - 4}` : '') : '-'
      console.log(table(items.map((p) => [clean(p.name), String(p.slots), String(p.held), String(p.waiting.length), clean(who(p.holders)), clean(who(p.waiting))]), ['POOL', 'SLOTS', 'HELD', 'WAITING', 'HOLDERS', 'WAITERS']))
    })
}
