/**
 * The lake on Google Cloud Storage, through the official client, against a local emulator
 * (gcp-storage-emulator from PyPI; the client is pointed at it with `apiEndpoint`).
 */
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { after, before, describe, test } from 'node:test'
import { Storage } from '@google-cloud/storage'
import { createBrtRoutes } from '../../pipelines/brt/api.ts'
import { openLake, type Lake } from '../../pipelines/brt/lake.ts'
import * as steps from '../../pipelines/brt/pipeline.ts'
import { resolveBrtSettings } from '../../pipelines/brt/settings.ts'
import { startSimulator, type Simulator } from '../../pipelines/brt/simulator.ts'
import { queryWarehouse } from '../../pipelines/brt/warehouse/duckdb.ts'
import { startGcsEmulator, type GcsEmulator } from './helpers/gcs-emulator.ts'
import { tempHome } from './helpers/fixtures.ts'
import { DB_FREE } from './helpers/once.ts'

describe('GCS lake (emulator)', { skip: DB_FREE, timeout: 300_000 }, () => {
  let emu: GcsEmulator
  let lake: Lake
  before(async () => {
    emu = await startGcsEmulator({ bucket: 'rota-lake' })
    lake = await openLake('gs://rota-lake/prod', { gcsApiEndpoint: emu.endpoint, gcpProject: 'rota-test' })
  })
  after(async () => {
    await emu?.stop()
  })

  test('put, get, list, copy and delete objects under the prefix', async () => {
    assert.equal(await lake.put('a/x.txt', 'olá'), true)
    assert.equal((await lake.get('a/x.txt'))?.toString('utf8'), 'olá')
    assert.equal(await lake.get('a/none.txt'), undefined)
    await lake.copy('a/x.txt', 'b/y.txt')
    assert.deepEqual(await lake.list('a'), ['a/x.txt'])
    assert.deepEqual(await lake.list(''), ['a/x.txt', 'b/y.txt'])
    assert.equal(lake.address('a/x.txt'), 'gs://rota-lake/prod/a/x.txt')
    await lake.delete('a/x.txt')
    await lake.delete('a/x.txt') // deleting twice is not an error (crash recovery repeats deletes)
    assert.deepEqual(await lake.list(''), ['b/y.txt'])
  })

  test('the emulator returns correct md5 and crc32c, and the client validates them', async () => {
    const body = Buffer.alloc(2_500_000, 'é')
    await lake.put('h/big.bin', body)
    const storage = new Storage({ apiEndpoint: emu.endpoint, projectId: 'rota-test' })
    const [meta] = await storage.bucket('rota-lake').file('prod/h/big.bin').getMetadata()
    assert.equal(meta.md5Hash, createHash('md5').update(body).digest('base64'))
    assert.ok(meta.crc32c, 'crc32c reported')
    assert.deepEqual(await lake.get('h/big.bin'), body) // download({ validation: true }) checks the hashes
    // A wrong md5 sent with an upload is refused (server-side validation).
    await assert.rejects(
      storage.bucket('rota-lake').file('prod/h/bad.bin').save(Buffer.from('abc'), { resumable: false, metadata: { md5Hash: createHash('md5').update('xyz').digest('base64') } }),
    )
  })

  test('the pipeline buffers on GCS and DuckDB reads bronze through a local mirror', async () => {
    const sim: Simulator = await startSimulator({ vehicles: 80, seed: 3, absentRate: 0 })
    const { home, cleanup } = await tempHome()
    try {
      const ctx = await steps.openBrtContext(resolveBrtSettings({ STORAGE_EMULATOR_HOST: emu.endpoint }, { home, brtApiUrl: sim.url, lakeUrl: 'gs://rota-lake/pipeline' }))
      const settings = { capturesPerFile: 3, maxBufferMinutes: 15 }
      for (let i = 0; i < 3; i++) await steps.bufferStep(ctx, await steps.captureStep(ctx), settings)
      assert.equal((await ctx.buffer.status()).captures, 3)
      const w = await steps.writeCsvStep(ctx, settings)
      assert.equal(w?.window?.rows, 240)
      const files = await steps.uploadStep(ctx)
      assert.match(ctx.lake.address(files[0]!), /^gs:\/\/rota-lake\/pipeline\/bronze\/brt_gps\/dt=\d{4}-\d{2}-\d{2}\/brt_gps_.+\.csv$/)
      assert.equal((await ctx.lake.list('raw/brt_gps')).length, 3, 'raw captures kept, gzip, for audit')
      assert.deepEqual((await ctx.lake.get('_manifests/brt_gps/bronze_files.csv'))?.toString('utf8').split('\n')[1]?.split(',').slice(0, 2),
        [files[0]!.slice('bronze/brt_gps/'.length), files[0]!.split('/')[2]!.slice(3)], 'the registry on GCS names the file')
      const loaded = await steps.loadStep(ctx)
      assert.equal(loaded.pendingFiles, 1)
      assert.equal((await queryWarehouse(home, 'select count(*)::int as n from bronze.brt_gps'))[0]!.n, 240, 'DuckDB reads the mirrored file')
      const r = await steps.dbtStep(ctx)
      assert.equal(r.dbt.success, true)
      const [silver] = await queryWarehouse(home, 'select count(*)::int as n from silver.brt_gps')
      assert.ok(Number(silver!.n) > 80)
      const app = createBrtRoutes(ctx.settings)
      const vehicles = (await (await app.request('/vehicles')).json()) as { items: unknown[] }
      assert.ok(vehicles.items.length > 0, 'the API reads gold Parquet back from GCS')
      assert.equal(((await (await app.request('/captures')).json()) as { items: unknown[] }).items.length, 3)
    } finally {
      await sim.close()
      await cleanup()
    }
  })
})
