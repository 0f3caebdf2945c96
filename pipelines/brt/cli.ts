/**
 * `rota brt …` commands. The lead's CLI calls `registerBrtCommands(program)`; configuration is
 * resolved here, at the edge.
 */
import type { Command } from 'commander'
import { readRegistry } from './bronze-registry.ts'
import { recentCaptureStats } from './buffer.ts'
import { ensureDbtVenv } from './dbt.ts'
import { GOLD_EXPORT_INFO } from './lake-keys.ts'
import { dbtStep, loadStep, openBrtContext, retentionStep } from './pipeline.ts'
import { replayRawDay } from './replay.ts'
import { resolveBrtSettings } from './settings.ts'
import { startSimulator } from './simulator.ts'

function parseIntOption(name: string, min: number, max: number) {
  return (raw: string): number => {
    const n = Number(raw)
    if (!Number.isInteger(n) || n < min || n > max) throw new Error(`${name} must be an integer from ${min} to ${max}, got "${raw}"`)
    return n
  }
}

export function registerBrtCommands(program: Command): Command {
  const brt = program.command('brt').description('The Rio BRT GPS pipeline: simulator, set-up and status')

  brt
    .command('simulate')
    .description('Serve a simulated BRT GPS API (a moving fleet with the real API\'s anomalies) for offline runs')
    .option('--port <port>', 'port to listen on', parseIntOption('--port', 0, 65535), 8090)
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--vehicles <n>', 'fleet size', parseIntOption('--vehicles', 1, 100_000), 800)
    .option('--seed <n>', 'random seed (same seed, same fleet)', parseIntOption('--seed', 0, 2 ** 31), 42)
    .option('--adversarial', 'also send what a broken feed can: negative and absurd speeds, future and year-0 times, NaN-like strings, missing fields, a line with one vehicle')
    .action(async (opts: { port: number; host: string; vehicles: number; seed: number; adversarial?: boolean }) => {
      const sim = await startSimulator({ port: opts.port, host: opts.host, vehicles: opts.vehicles, seed: opts.seed, adversarial: opts.adversarial === true })
      const base = sim.url.replace(/\/gps\/brt$/, '')
      console.log(`BRT simulator: ${opts.vehicles} vehicles at ${sim.url}${opts.adversarial ? ' (adversarial)' : ''}`)
      console.log(`  point Rota at it: BRT_API_URL=${sim.url}`)
      console.log(`  faults: curl -X POST '${base}/_sim/fault?mode=http500|slow|malformed|empty|none&times=3'`)
      const stop = (): void => {
        void sim.close().then(() => process.exit(0))
      }
      process.once('SIGINT', stop)
      process.once('SIGTERM', stop)
    })

  brt
    .command('setup')
    .description("Create dbt's virtualenv now (otherwise the first dbt task does it)")
    .option('--bigquery', 'also install dbt-bigquery (for WAREHOUSE=bigquery)')
    .action(async (opts: { bigquery?: boolean }) => {
      const dbt = await ensureDbtVenv({ target: opts.bigquery ? 'bigquery' : 'duckdb', onLine: (l) => console.log(l) })
      console.log(`dbt ready: ${dbt}`)
    })

  brt
    .command('status')
    .description('Buffer, recent captures and the last gold export')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }) => {
      const ctx = await openBrtContext(resolveBrtSettings())
      const buffer = await ctx.buffer.status()
      const outbox = await ctx.buffer.outbox()
      const captures = await recentCaptureStats(ctx.lake, 5)
      const bronzeFiles = (await readRegistry(ctx.lake)).length
      const info = await ctx.lake.get(GOLD_EXPORT_INFO)
      const gold = info ? (JSON.parse(info.toString('utf8')) as unknown) : null
      if (opts.json) {
        console.log(JSON.stringify({ lake: ctx.lake.url, buffer, outbox, bronzeFiles, captures, gold }, null, 2))
        return
      }
      console.log(`lake      ${ctx.lake.url}`)
      console.log(`buffer    ${buffer.captures}/${buffer.capturesPerFile} captures${buffer.oldestCaptureAt ? `, oldest ${buffer.oldestCaptureAt}` : ''}`)
      console.log(`outbox    ${outbox.length} CSV(s) waiting for upload`)
      console.log(`bronze    ${bronzeFiles} CSV(s) registered`)
      for (const c of captures) console.log(`capture   ${c.capturedAt}  ${c.vehicles} vehicles, ${c.duplicates} repeated, ${c.stale} stale, ${c.invalidPositions} invalid positions`)
      console.log(`gold      ${gold ? JSON.stringify(gold) : 'not exported yet'}`)
    })

  brt
    .command('replay')
    .description('Rebuild bronze CSVs for a day from the raw captures in the lake (silver adds only what it lacks)')
    .requiredOption('--date <YYYY-MM-DD>', 'day of the captures (their dt partition: the America/Sao_Paulo date)')
    .option('--captures-per-file <n>', 'captures per CSV', parseIntOption('--captures-per-file', 1, 10_000), 10)
    .action(async (opts: { date: string; capturesPerFile: number }) => {
      const ctx = await openBrtContext(resolveBrtSettings())
      const r = await replayRawDay(ctx.lake, opts.date, opts.capturesPerFile)
      console.log(`replayed ${r.captures} captures (${r.rows} rows) into ${r.files.length} CSV(s); run \`rota brt build\` or wait for the next window to load them`)
    })

  brt
    .command('build')
    .description('Reconcile the bronze registry with the lake, stage the external tables and run `dbt build` now (outside a flow run)')
    .option('--full-refresh', 'rebuild silver and gold from every bronze file (after an upgrade, or to recompute everything)')
    .action(async (opts: { fullRefresh?: boolean }) => {
      const ctx = await openBrtContext(resolveBrtSettings())
      const onLine = (l: string): void => console.log(l)
      const loaded = await loadStep(ctx, { restage: true, reconcile: true, onLine })
      console.log(`${loaded.relation}: ${loaded.files} CSV(s), ${loaded.pendingFiles} not read yet`)
      const result = await dbtStep(ctx, { onLine, ...(opts.fullRefresh ? { fullRefresh: true } : {}) })
      for (const w of result.dataQuality) console.log(`data quality warning: ${w.test} (${w.failures ?? '?'} rows${w.storedIn ? `, in ${w.storedIn}` : ''})`)
      console.log(JSON.stringify({ counts: result.dbt.counts, exports: result.exports }))
    })

  brt
    .command('retention')
    .description('Delete raw captures, statistics and bronze CSVs older than N days from the lake (files no build has read are kept)')
    .requiredOption('--days <n>', 'keep this many days (America/Sao_Paulo dates)', parseIntOption('--days', 1, 100_000))
    .action(async (opts: { days: number }) => {
      const ctx = await openBrtContext(resolveBrtSettings())
      const r = await retentionStep(ctx, opts.days)
      console.log(`kept dt >= ${r.keptFrom}; deleted ${r.deleted} file(s)${r.keptUnprocessed ? `; kept ${r.keptUnprocessed} unread bronze file(s)` : ''}`)
    })

  return brt
}
