/**
 * Gold line-speed windows say how complete they are: a window is complete once 9 or more captures
 * were taken during it and a capture taken 10 minutes after its end (the stale limit) is loaded.
 * Windows a later build completes are recomputed by it, even for lines it brings no signal for.
 * And `dbt source freshness` passes on the bronze registry when files were just published.
 */
import assert from 'node:assert/strict'
import fs from 'node:fs/promises'
import path from 'node:path'
import { describe, test } from 'node:test'
import { runDbt } from '../../pipelines/brt/dbt.ts'
import * as steps from '../../pipelines/brt/pipeline.ts'
import { SimulatedFleet } from '../../pipelines/brt/simulator.ts'
import { queryWarehouse } from '../../pipelines/brt/warehouse/duckdb.ts'
import { tempHome } from './helpers/fixtures.ts'
import { writeSyntheticWindow } from './helpers/synthetic-lake.ts'
import { DB_FREE } from './helpers/once.ts'
import { resolveBrtSettings } from '../../pipelines/brt/settings.ts'

describe('gold completeness', { skip: DB_FREE, timeout: 600_000 }, () => {
  test('windows become complete as later captures arrive, and partly covered ones say so', async () => {
    const { home, cleanup } = await tempHome()
    try {
      const ctx = await steps.openBrtContext(resolveBrtSettings({}, { home, brtApiUrl: 'http://127.0.0.1:9/unused' }))
      const fleet = new SimulatedFleet({ vehicles: 30, seed: 4, absentRate: 0 })
      const t = Math.floor((Date.now() - 3 * 3_600_000) / 600_000) * 600_000 // a 10-minute boundary
      const windows = async (): Promise<Map<number, { complete: boolean[]; taken: number }>> => {
        const rows = await queryWarehouse(home, 'select epoch_ms(window_start) as w, is_complete, captures_taken from gold.brt_line_speed_10min')
        const byWindow = new Map<number, { complete: boolean[]; taken: number }>()
        for (const r of rows) {
          const k = (Number(r.w) - t) / 600_000
          const e = byWindow.get(k) ?? { complete: [], taken: Number(r.captures_taken) }
          e.complete.push(r.is_complete as boolean)
          byWindow.set(k, e)
        }
        return byWindow
      }
      const state = (w: { complete: boolean[] } | undefined): string => (w === undefined ? 'none' : w.complete.every(Boolean) ? 'complete' : w.complete.some(Boolean) ? 'mixed' : 'incomplete')

      // 30 captures a minute apart: windows 0, 1, 2 hold 10 captures each; only window 0 is 10 minutes past its end.
      await writeSyntheticWindow(ctx.lake, fleet, t, 30)
      await steps.loadStep(ctx)
      await steps.dbtStep(ctx)
      let w = await windows()
      assert.deepEqual([0, 1, 2].map((k) => state(w.get(k))), ['complete', 'incomplete', 'incomplete'])
      assert.deepEqual([0, 1, 2].map((k) => w.get(k)?.taken), [10, 10, 10])

      // 15 more: windows 1 and 2 complete; 3 is not yet past its end + 10 minutes, 4 holds 5 captures.
      await writeSyntheticWindow(ctx.lake, fleet, t + 30 * 60_000, 15)
      await steps.loadStep(ctx)
      await steps.dbtStep(ctx)
      w = await windows()
      assert.deepEqual([0, 1, 2, 3, 4].map((k) => state(w.get(k))), ['complete', 'complete', 'complete', 'incomplete', 'incomplete'])
      assert.equal(w.get(4)?.taken, 5, 'a partly covered window counts its captures')

      // The registry is also a source with a freshness rule: files were published just now.
      await runDbt(['source', 'freshness'], { home, target: 'duckdb', env: ctx.warehouse.dbtEnv(await ctx.warehouse.syncBronze()) })
      const sources = JSON.parse(await fs.readFile(path.join(home, 'dbt', 'target', 'sources.json'), 'utf8')) as { results: Array<{ unique_id: string; status: string }> }
      assert.deepEqual(sources.results.map((r) => [r.unique_id, r.status]), [['source.rota_brt.bronze.brt_gps_files', 'pass']])
    } finally {
      await cleanup()
    }
  })
})
