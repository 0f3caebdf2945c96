/**
 * Issue 9, item 3: a run's process can never take its agent down. A real run prints a single line
 * of 600 MiB on stdout (past the SDK, as a native tool would); the agent — a real `rota agent start`
 * process — reads it as one line with bounded memory, keeps 32 KiB of it with a count of what was
 * cut, and the run ends `success`; the same agent then runs the next run. Costly (600 MiB through
 * a pipe): it runs once, in the PGlite pass.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import { spawnCli, startHarness, waitFor, waitForRunState, type Harness } from '../helpers/rota.ts'
import { once } from '../helpers/once.ts'
import { MAX_LINE_BYTES } from '../../src/agent/output.ts'

const MIB = 600
let h: Harness
let agent: Awaited<ReturnType<typeof spawnCli>> | undefined

describe('a 600 MiB line', { skip: once, timeout: 300_000 }, () => {
  before(async () => {
    h = await startHarness()
    await h.register('test/fixtures/huge-line.ts')
    await h.register('test/fixtures/hello.ts')
    agent = await spawnCli(['agent', 'start', '--name', `huge-line-${crypto.randomUUID().slice(0, 6)}`, '--concurrency', '1'], { ROTA_API_URL: h.server.url, ROTA_API_KEY: undefined }, /started \(id/)
  })
  after(async () => {
    await agent?.kill('SIGTERM')
    await h?.close()
  })

  it('the agent survives with bounded memory, the run succeeds, the kept line is capped and the cut counted', async () => {
    const pid = agent?.child.pid as number
    const started = Date.now()
    const run = await waitForRunState(h.client, (await h.client.createRun('huge-line', { mib: MIB })).id, undefined, 240_000)
    const seconds = (Date.now() - started) / 1000
    assert.equal(run.state, 'success', `${run.stateMessage}\n${agent?.output().slice(-2000)}`)
    assert.equal(agent?.child.exitCode, null, 'the agent is alive')
    const peakMb = Number(/VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]) / 1024
    console.log(`600 MiB line: run ended in ${seconds.toFixed(1)} s; agent peak RSS ${peakMb.toFixed(0)} MB`)
    assert.ok(peakMb < 400, `the agent's memory stayed bounded: peak RSS ${peakMb.toFixed(0)} MB for a 600 MiB line`)

    // The run process reported its end; the agent forwards the line it read, and settles the run after.
    const long = await waitFor('the line in the run\'s logs', async () => {
      const lines = (await h.client.logs(run.id)).items.filter((l) => l.message.startsWith('xxxx'))
      return lines.length > 0 ? lines : undefined
    }, 30_000)
    assert.equal(long.length, 1, 'one line')
    const cut = MIB * 1024 * 1024 - MAX_LINE_BYTES
    assert.equal(long[0]?.message, `${'x'.repeat(MAX_LINE_BYTES)}… [${cut.toLocaleString('en-US')} more bytes cut]`)
    assert.equal(long[0]?.level, 'info', 'stdout')

    const next = await waitForRunState(h.client, (await h.client.createRun('hello', {})).id, undefined, 60_000)
    assert.equal(next.state, 'success', 'the same agent runs the next run')
  })
})
