/**
 * Incremental builds read only the bronze files they have not read yet, whatever the size of the
 * lake: after one new window, a build opens that window's file and no other, at 1 day and at 30
 * days of lake. Two proofs: DuckDB's profiler counts the files the build's batch query opens, and
 * every older file is made unreadable before the build, which would fail if it opened one.
 * (A small fleet: what matters is the number of files.)
 */
import assert from 'node:assert/strict'
import fs from 'node:fs/promises'
import { describe, test } from 'node:test'
import * as steps from '../../pipelines/brt/pipeline.ts'
import { SimulatedFleet } from '../../pipelines/brt/simulator.ts'
import { lastBatchBronzeRead, queryWarehouse } from '../../pipelines/brt/warehouse/duckdb.ts'
import { tempHome } from './helpers/fixtures.ts'
import { writeSyntheticLake, writeSyntheticWindow } from './helpers/synthetic-lake.ts'
import { DB_FREE } from './helpers/once.ts'
import { resolveBrtSettings } from '../../pipelines/brt/settings.ts'

const FILES_PER_DAY = 12

describe('incremental builds read only new bronze files', { skip: DB_FREE, timeout: 600_000 }, () => {
  for (const days of [1, 30]) {
    test(`with ${days} day(s) of lake, a build after one new window reads that window's file and nothing else`, async () => {
      const { home, cleanup } = await tempHome()
      try {
        const ctx = await steps.openBrtContext(resolveBrtSettings({}, { home, brtApiUrl: 'http://127.0.0.1:9/unused' }))
        const fleet = new SimulatedFleet({ vehicles: 4, seed: 8, absentRate: 0 })
        const start = Date.now() - days * 86_400_000 - 3_600_000
        const windows = await writeSyntheticLake(ctx.lake, { start, days, filesPerDay: FILES_PER_DAY, capturesPerFile: 2, vehicles: 4 }, fleet)
        assert.equal(windows.length, days * FILES_PER_DAY)

        await steps.loadStep(ctx)
        await steps.dbtStep(ctx)
        assert.equal((await lastBatchBronzeRead(home)).filesRead, windows.length, 'the first build reads the whole lake')

        assert.equal((await steps.loadStep(ctx)).pendingFiles, 0)
        await steps.dbtStep(ctx)
        assert.deepEqual(await lastBatchBronzeRead(home), { filesRead: 0, bytesRead: 0, filesNamed: 0 }, 'a build with nothing new reads nothing')

        // Every file already read becomes unreadable (an unterminated quote): a build opening one fails.
        for (const w of windows) await ctx.lake.put(w.key, 'capture_id,captured_at\n"unterminated')
        const before = Number((await queryWarehouse(home, 'select count(*) as n from silver.brt_gps'))[0]!.n)
        const next = await writeSyntheticWindow(ctx.lake, fleet, windows.at(-1)!.lastCapturedAt + 60_000, 2)
        assert.equal((await steps.loadStep(ctx)).pendingFiles, 1)
        const built = await steps.dbtStep(ctx)
        assert.equal(built.dbt.success, true)
        const read = await lastBatchBronzeRead(home)
        assert.deepEqual({ filesRead: read.filesRead, filesNamed: read.filesNamed }, { filesRead: 1, filesNamed: 1 })
        assert.equal(read.bytesRead, (await fs.stat(ctx.lake.localPath(next.key)!)).size)
        const after = Number((await queryWarehouse(home, 'select count(*) as n from silver.brt_gps'))[0]!.n)
        assert.ok(after > before, `the new window's signals are in silver (${before} -> ${after})`)
      } finally {
        await cleanup()
      }
    })
  }
})
