/** The soak benchmark's flows (bench/soak.ts): 20 flows, odd ones every 2 s, even ones every 5 s (SOAK_FAST, SOAK_SLOW at registration), three tasks and a few log lines each. */
import fs from 'node:fs'
import path from 'node:path'
import { defineFlow, log, runContext, task } from 'rota'

const FAST = process.env.SOAK_FAST ?? '2s'
const SLOW = process.env.SOAK_SLOW ?? '5s'

const extract = task('extract', async (n: number) => {
  log.info(`extracting ${n} rows`)
  return Array.from({ length: n }, (_, i) => i)
})
const transform = task('transform', async (rows: number[]) => rows.map((r) => r * 2))
/** Records the execution: the benchmark counts runs executed twice from this file (SOAK_LEDGER). */
const load = task('load', async (rows: number[]) => {
  log.info(`loaded ${rows.length} rows`)
  const ledger = process.env.SOAK_LEDGER
  if (ledger) fs.appendFileSync(path.join(ledger, 'executions.log'), `${runContext().flowRunId}\n`)
  return rows.length
})

function soak(i: number) {
  return defineFlow({ name: `soak-${String(i).padStart(2, '0')}`, schedule: { interval: i % 2 ? FAST : SLOW }, tasks: [extract, transform, load] }, async () => {
    log.info('starting')
    await load(await transform(await extract(i)))
  })
}

export const soak01 = soak(1)
export const soak02 = soak(2)
export const soak03 = soak(3)
export const soak04 = soak(4)
export const soak05 = soak(5)
export const soak06 = soak(6)
export const soak07 = soak(7)
export const soak08 = soak(8)
export const soak09 = soak(9)
export const soak10 = soak(10)
export const soak11 = soak(11)
export const soak12 = soak(12)
export const soak13 = soak(13)
export const soak14 = soak(14)
export const soak15 = soak(15)
export const soak16 = soak(16)
export const soak17 = soak(17)
export const soak18 = soak(18)
export const soak19 = soak(19)
export const soak20 = soak(20)
