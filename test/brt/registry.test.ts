/**
 * Lake keys and the bronze registry (no warehouse): `dt` is the America/Sao_Paulo date; the
 * registry is a set of file names whatever the order and repetition of its updates (property);
 * reconciling it with the lake repairs a crash between a publication and its entry.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import fc from 'fast-check'
import { ensureRegistry, readRegistry, reconcileRegistry, registerBronzeFiles, unregisterBronzeFiles } from '../../pipelines/brt/bronze-registry.ts'
import { BRONZE_REGISTRY, bronzeFileId, outboxCsvKey, partitionDate, rawKey, statsKey } from '../../pipelines/brt/lake-keys.ts'
import { localLake, tempHome } from './helpers/fixtures.ts'
import { DB_FREE } from './helpers/once.ts'

describe('lake keys', { skip: DB_FREE }, () => {
  test('dt is the America/Sao_Paulo date of the capture, so a Rio evening stays in its day', () => {
    // 23:30 in Rio on 1 May 2024 is 02:30 UTC on 2 May.
    assert.equal(partitionDate('2024-05-02T02:30:00.000Z'), '2024-05-01')
    assert.equal(partitionDate('2024-05-02T03:00:00.000Z'), '2024-05-02')
    assert.equal(rawKey('20240502T023000000Z-abc', '2024-05-02T02:30:00.000Z'), 'raw/brt_gps/dt=2024-05-01/20240502T023000000Z-abc.json.gz')
    assert.equal(statsKey({ captureId: 'x', capturedAt: '2024-05-02T02:30:00.000Z' }), 'stats/brt_gps/dt=2024-05-01/x.json')
    assert.equal(outboxCsvKey('w1', '2024-05-02T02:30:00.000Z'), '_buffer/brt_gps/outbox/dt=2024-05-01/brt_gps_w1.csv')
    assert.deepEqual(bronzeFileId('bronze/brt_gps/dt=2024-05-01/brt_gps_w1.csv'), { file: 'dt=2024-05-01/brt_gps_w1.csv', dt: '2024-05-01' })
    assert.throws(() => bronzeFileId('bronze/brt_gps/x.csv'), /not a bronze CSV key/)
    assert.throws(() => partitionDate('yesterday'), /not a time/)
  })
})

describe('bronze registry', { skip: DB_FREE, timeout: 60_000 }, () => {
  const fileArb = fc.tuple(fc.integer({ min: 1, max: 28 }), fc.stringMatching(/^[a-z0-9]{1,6}$/)).map(([d, n]) => `bronze/brt_gps/dt=2024-05-${String(d).padStart(2, '0')}/brt_gps_${n}.csv`)

  test('holds the set of registered files whatever the order and repetition of updates (property)', async () => {
    const { home, cleanup } = await tempHome()
    try {
      let run = 0
      await fc.assert(
        fc.asyncProperty(fc.array(fc.tuple(fc.boolean(), fc.array(fileArb, { maxLength: 4 })), { maxLength: 8 }), async (ops) => {
          const lake = localLake(`${home}/${run++}`)
          const model = new Set<string>()
          for (const [add, keys] of ops) {
            if (add) {
              const fresh = new Set(keys.filter((k) => !model.has(k))).size
              assert.equal(await registerBronzeFiles(lake, keys), fresh)
              keys.forEach((k) => model.add(k))
            } else {
              await unregisterBronzeFiles(lake, keys.map((k) => bronzeFileId(k).file))
              keys.forEach((k) => model.delete(k))
            }
          }
          const entries = await readRegistry(lake)
          assert.deepEqual(entries.map((e) => `bronze/brt_gps/${e.file}`), [...model].sort())
          assert.ok(entries.every((e) => e.file.startsWith(`dt=${e.dt}/`)))
        }),
        { numRuns: 40 },
      )
    } finally {
      await cleanup()
    }
  })

  test('starts empty with its header, is repaired from the lake, and a damaged one says what to do', async () => {
    const { home, cleanup } = await tempHome()
    try {
      const lake = localLake(home)
      await ensureRegistry(lake)
      assert.equal((await lake.get(BRONZE_REGISTRY))?.toString(), 'file,dt,published_at\n')
      // A CSV published but never registered (a crash in between), and an entry whose file is gone.
      await lake.put('bronze/brt_gps/dt=2024-05-01/brt_gps_a.csv', 'x')
      await registerBronzeFiles(lake, ['bronze/brt_gps/dt=2024-05-01/brt_gps_gone.csv'])
      assert.deepEqual(await reconcileRegistry(lake), { added: 1, removed: 1 })
      assert.deepEqual((await readRegistry(lake)).map((e) => e.file), ['dt=2024-05-01/brt_gps_a.csv'])
      await lake.put(BRONZE_REGISTRY, 'file,dt,published_at\nnot,a,line\n')
      await assert.rejects(readRegistry(lake), /line 2 is damaged .*run `rota brt build`/)
    } finally {
      await cleanup()
    }
  })
})
