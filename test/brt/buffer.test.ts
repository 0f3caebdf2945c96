import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { CaptureBuffer, type ClosePoint } from '../../pipelines/brt/buffer.ts'
import { readRegistry } from '../../pipelines/brt/bronze-registry.ts'
import { readRawCapture } from '../../pipelines/brt/capture.ts'
import { partitionDate } from '../../pipelines/brt/lake-keys.ts'
import { CSV_COLUMNS } from '../../pipelines/brt/types.ts'
import { localLake, storeFleetCaptures, tempHome } from './helpers/fixtures.ts'
import { DB_FREE } from './helpers/once.ts'

const settings = { capturesPerFile: 4, maxBufferMinutes: 15 }

/** Every capture id written to any CSV (outbox or bronze), with how many times it appears as a whole capture. */
async function captureIdsInCsvs(lake: ReturnType<typeof localLake>): Promise<Map<string, number>> {
  const ids = new Map<string, number>()
  for (const key of [...(await lake.list('_buffer/brt_gps/outbox')), ...(await lake.list('bronze/brt_gps'))]) {
    const text = (await lake.get(key))!.toString('utf8')
    const lines = text.trimEnd().split('\n')
    assert.equal(lines[0], CSV_COLUMNS.join(','), 'header in the fixed column order')
    const seen = new Set<string>()
    for (const line of lines.slice(1)) seen.add(line.slice(0, line.indexOf(',')))
    for (const id of seen) ids.set(id, (ids.get(id) ?? 0) + 1)
  }
  return ids
}

describe('durable capture buffer', { skip: DB_FREE, timeout: 60_000 }, () => {
  test('adding is idempotent and closes a window at capturesPerFile with every row', async () => {
    const { home, cleanup } = await tempHome()
    try {
      const lake = localLake(home)
      const buffer = new CaptureBuffer(lake)
      const captures = await storeFleetCaptures(lake, { count: 5 })
      for (const c of captures.slice(0, 3)) assert.equal((await buffer.add(c, settings)).added, true)
      assert.equal((await buffer.add(captures[0]!, settings)).added, false, 'same capture twice')
      assert.equal((await buffer.status()).captures, 3)
      assert.equal(await buffer.closeWindow(settings), undefined, 'not full, not old')
      await buffer.add(captures[3]!, settings)
      await buffer.add(captures[4]!, settings)
      const w = await buffer.closeWindow(settings)
      assert.ok(w)
      assert.equal(w.captures, 4)
      assert.equal(w.rows, 4 * 200)
      assert.equal((await buffer.status()).captures, 1, 'the fifth stays buffered')
      assert.equal((await buffer.add(captures[0]!, settings)).added, false, 'a capture already written is not re-added')
      const csv = (await lake.get(w.csvKey))!.toString('utf8')
      const rows = csv.trimEnd().split('\n').slice(1)
      assert.equal(rows.length, 800)
      // Row content: direcao " " stays a quoted blank, accents survive, captured_at is ISO UTC.
      const raw = await readRawCapture(lake, captures[0]!.rawKey)
      const blank = raw.find((r) => r.direcao === ' ')
      if (blank) assert.ok(csv.includes(`,"${' '}",`), 'direcao " " is quoted')
      assert.ok(/ã|í|ó|’/.test(csv), 'UTF-8 accents kept')
      assert.match(rows[0]!, new RegExp(`^${captures[0]!.captureId},${captures[0]!.capturedAt.replace(/\./g, '\\.')},`))
      const published = await buffer.publishOutbox()
      assert.deepEqual(published, [`bronze/brt_gps/dt=${partitionDate(captures[0]!.capturedAt)}/brt_gps_${w.windowId}.csv`])
      assert.deepEqual((await readRegistry(lake)).map((e) => e.file), [published[0]!.slice('bronze/brt_gps/'.length)], 'published files are registered')
      assert.deepEqual(await buffer.outbox(), [])
    } finally {
      await cleanup()
    }
  })

  test('closes a partial window once its oldest capture is older than maxBufferMinutes', async () => {
    const { home, cleanup } = await tempHome()
    try {
      const lake = localLake(home)
      const buffer = new CaptureBuffer(lake)
      const [c] = await storeFleetCaptures(lake, { count: 1, start: Date.now() - 20 * 60_000 })
      await buffer.add(c!, settings)
      const w = await buffer.closeWindow(settings)
      assert.equal(w?.reason, 'age')
      assert.equal(w?.captures, 1)
    } finally {
      await cleanup()
    }
  })

  for (const point of ['manifest-written', 'csv-written', 'buffer-cleared'] satisfies ClosePoint[]) {
    test(`a crash at "${point}" neither loses nor duplicates a capture`, async () => {
      const { home, cleanup } = await tempHome()
      try {
        const lake = localLake(home)
        const buffer = new CaptureBuffer(lake)
        const captures = await storeFleetCaptures(lake, { count: 9 })
        for (const c of captures) await buffer.add(c, settings)
        await assert.rejects(
          buffer.closeWindow(settings, {
            stopAt: (p) => {
              if (p === point) throw new Error('simulated crash')
            },
          }),
          /simulated crash/,
        )
        const first = await buffer.closeWindow(settings)
        assert.equal(first?.recovered, true, 'the next run finishes the crashed window')
        await buffer.closeWindow(settings)
        assert.equal((await buffer.status()).captures, 1)
        await buffer.publishOutbox()
        const ids = await captureIdsInCsvs(lake)
        assert.equal(ids.size, 8, 'eight captures written')
        for (const [id, n] of ids) assert.equal(n, 1, `capture ${id} written once`)
        const pending = await buffer.pending()
        assert.equal(ids.has(pending[0]!.captureId), false, 'the buffered one is not in a CSV')
      } finally {
        await cleanup()
      }
    })
  }

  test('a process killed (SIGKILL) between writing the CSV and clearing the buffer is recovered', async () => {
    const { home, cleanup } = await tempHome()
    try {
      const lake = localLake(home)
      const buffer = new CaptureBuffer(lake, { staleMs: 2000 })
      const captures = await storeFleetCaptures(lake, { count: 4 })
      for (const c of captures) await buffer.add(c, settings)
      const script = fileURLToPath(new URL('./helpers/close-and-die.ts', import.meta.url))
      const exit = await new Promise<string | null>((resolve) => {
        const child = spawn(process.execPath, ['--import', 'tsx', script, lake.root, 'csv-written'], { stdio: 'inherit' })
        child.once('exit', (_code, signal) => resolve(signal))
      })
      assert.equal(exit, 'SIGKILL')
      assert.equal((await buffer.status()).captures, 4, 'killed before clearing')
      assert.equal((await buffer.outbox()).length, 1, 'CSV written')
      const w = await buffer.closeWindow(settings) // waits for the dead holder's lock to go stale
      assert.equal(w?.recovered, true)
      assert.equal((await buffer.status()).captures, 0)
      const ids = await captureIdsInCsvs(lake)
      assert.equal(ids.size, 4)
      assert.ok([...ids.values()].every((n) => n === 1))
    } finally {
      await cleanup()
    }
  })

  test('two processes closing windows at once write each capture exactly once', async () => {
    const { home, cleanup } = await tempHome()
    try {
      const lake = localLake(home)
      const captures = await storeFleetCaptures(lake, { count: 12, vehicles: 50 })
      const buffers = [new CaptureBuffer(lake), new CaptureBuffer(lake)]
      await Promise.all(captures.map((c, i) => buffers[i % 2]!.add(c, settings)))
      await Promise.all([0, 1, 2, 3].map((i) => buffers[i % 2]!.closeWindow(settings)))
      await Promise.all([buffers[0]!.publishOutbox(), buffers[1]!.publishOutbox()])
      const ids = await captureIdsInCsvs(lake)
      assert.equal(ids.size, 12)
      assert.ok([...ids.values()].every((n) => n === 1))
      assert.equal((await lake.list('bronze/brt_gps')).length, 3)
    } finally {
      await cleanup()
    }
  })
})
