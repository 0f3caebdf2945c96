/**
 * The pipeline's steps end to end on real parts: the simulator over HTTP, the local lake, DuckDB,
 * dbt (its own virtualenv, created on first use) and the /api/brt routes. Silver and gold are
 * checked against what the raw captures say, computed here independently.
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { createBrtRoutes } from '../../pipelines/brt/api.ts'
import { readRegistry, reconcileRegistry } from '../../pipelines/brt/bronze-registry.ts'
import { readRawCapture } from '../../pipelines/brt/capture.ts'
import { DbtBuildError } from '../../pipelines/brt/dbt.ts'
import { partitionDate } from '../../pipelines/brt/lake-keys.ts'
import * as steps from '../../pipelines/brt/pipeline.ts'
import { replayRawDay } from '../../pipelines/brt/replay.ts'
import { resolveBrtSettings } from '../../pipelines/brt/settings.ts'
import { startSimulator, type Simulator } from '../../pipelines/brt/simulator.ts'
import type { CaptureDescriptor, RawVehicle } from '../../pipelines/brt/types.ts'
import { queryWarehouse } from '../../pipelines/brt/warehouse/duckdb.ts'
import { tempHome } from './helpers/fixtures.ts'
import { DB_FREE } from './helpers/once.ts'

interface Expected {
  keys: Map<string, { row: RawVehicle; capturedAt: number }>
}

function isValid(r: RawVehicle): boolean {
  const lat = Number(r.latitude)
  const lon = Number(r.longitude)
  return lat >= -23.1 && lat <= -22.7 && lon >= -43.8 && lon <= -43.1 && !(lat === 0 && lon === 0)
}

/** silver.is_usable, computed from the raw row: valid position and time, not a test vehicle. */
function isUsable(r: RawVehicle, capturedAt: number): boolean {
  const gps = Number(r.dataHora)
  return isValid(r) && capturedAt - gps <= 600_000 && gps - capturedAt <= 300_000 && gps >= Date.UTC(2012, 0, 1) && !/TEST|\s/i.test(String(r.codigo))
}

async function expectedFrom(ctx: steps.BrtContext, captures: CaptureDescriptor[]): Promise<Expected> {
  const keys = new Map<string, { row: RawVehicle; capturedAt: number }>()
  for (const c of captures) {
    for (const row of await readRawCapture(ctx.lake, c.rawKey)) {
      const key = `${String(row.codigo)}|${String(row.dataHora)}`
      if (!keys.has(key)) keys.set(key, { row, capturedAt: Date.parse(c.capturedAt) })
    }
  }
  return { keys }
}

describe('BRT pipeline on DuckDB + dbt', { skip: DB_FREE, timeout: 600_000 }, () => {
  let sim: Simulator
  let home: string
  let cleanup: () => Promise<void>
  let ctx: steps.BrtContext
  const settings = { capturesPerFile: 10, maxBufferMinutes: 15 }
  const captures: CaptureDescriptor[] = []

  before(async () => {
    sim = await startSimulator({ vehicles: 300, seed: 5, absentRate: 0 })
    ;({ home, cleanup } = await tempHome())
    ctx = await steps.openBrtContext(resolveBrtSettings({}, { home, brtApiUrl: sim.url }))
  })
  after(async () => {
    await sim.close()
    await cleanup()
  })

  test('the API answers empty lists before any data exists', async () => {
    const app = createBrtRoutes(ctx.settings)
    assert.deepEqual(await (await app.request('/vehicles')).json(), { items: [], generatedAt: null })
    assert.deepEqual(await (await app.request('/line-speeds')).json(), { items: [] })
    assert.deepEqual(await (await app.request('/captures')).json(), { items: [] })
    assert.deepEqual(await (await app.request('/buffer')).json(), { captures: 0, capturesPerFile: 10, oldestCaptureAt: null })
  })

  test('10 captures give one CSV with every row, and silver and gold as the raw data says', async () => {
    for (let i = 0; i < 10; i++) {
      const c = await steps.captureStep(ctx)
      captures.push(c)
      const r = await steps.bufferStep(ctx, c, settings)
      assert.equal(r.status.captures, i + 1)
      const w = await steps.writeCsvStep(ctx, settings)
      if (i < 9) assert.equal(w, undefined, `no window before 10 captures (capture ${i + 1})`)
      else {
        assert.equal(w?.window?.captures, 10)
        assert.equal(w?.window?.rows, 3000)
      }
    }
    const files = await steps.uploadStep(ctx)
    assert.equal(files.length, 1)
    assert.match(files[0]!, /^bronze\/brt_gps\/dt=\d{4}-\d{2}-\d{2}\/brt_gps_.+\.csv$/)
    const loaded = await steps.loadStep(ctx)
    assert.deepEqual({ files: loaded.files, pendingFiles: loaded.pendingFiles, staged: loaded.staged }, { files: 1, pendingFiles: 1, staged: true })
    const [bronze] = await queryWarehouse(home, `select count(*)::int as n, min(dt) as dt from bronze.brt_gps`)
    assert.deepEqual(bronze, { n: 3000, dt: partitionDate(captures[0]!.capturedAt) }, 'bronze sees every row, dt is the Sao Paulo date')
    const result = await steps.dbtStep(ctx)
    assert.equal(result.dbt.success, true)
    assert.ok(result.dbt.results.some((r) => r.resourceType === 'test' && r.status === 'pass'))
    assert.ok(result.dbt.results.some((r) => r.name === 'brt_gps' && r.resourceType === 'model' && r.status === 'success'))
    assert.deepEqual(result.dataQuality, [], 'a normal feed raises no data-quality warning')

    const exp = await expectedFrom(ctx, captures)
    const [silver] = await queryWarehouse(home, `select count(*)::int as n,
      sum(is_valid_position::int)::int as valid, sum(is_stale::int)::int as stale, sum(is_out_of_service::int)::int as oos
      from silver.brt_gps`)
    const rows = [...exp.keys.values()]
    assert.equal(silver!.n, exp.keys.size, 'one silver row per (vehicle, GPS time)')
    assert.equal(silver!.valid, rows.filter((x) => isValid(x.row)).length)
    assert.equal(silver!.stale, rows.filter((x) => x.capturedAt - Number(x.row.dataHora) > 600_000).length)
    assert.equal(silver!.oos, rows.filter((x) => x.row.linha === '0' || x.row.linha === '').length)

    // Types and conversions on one known row.
    const sample = rows.find((x) => typeof x.row.direcao === 'number' && Number(x.row.direcao) < 360 && x.row.linha !== '0')!.row
    const [s] = await queryWarehouse(home, `select gps_time_utc, strftime(gps_time_local, '%H:%M') as local_hm, heading_deg, ignition, speed_kmh, line
      from silver.brt_gps where vehicle_id = '${String(sample.codigo)}' and gps_time_utc = make_timestamp(${Number(sample.dataHora)} * 1000)`)
    assert.ok(s, 'the sample row is in silver')
    const gps = new Date(Number(sample.dataHora))
    const spHour = (gps.getUTCHours() + 24 - 3) % 24 // America/Sao_Paulo is UTC-3 (no DST since 2019)
    assert.equal(s.local_hm, `${String(spHour).padStart(2, '0')}:${String(gps.getUTCMinutes()).padStart(2, '0')}`)
    assert.equal(Number(s.heading_deg), Number(sample.direcao))
    assert.equal(s.ignition, sample.ignicao === 1)
    assert.equal(s.speed_kmh, Number(sample.velocidade))
    const [bad] = await queryWarehouse(home, `select count(*)::int as n from silver.brt_gps where heading_deg is not null and (heading_deg < 0 or heading_deg > 359)`)
    assert.equal(bad!.n, 0)

    // gold.brt_vehicle_latest: the latest usable signal of each vehicle.
    const latest = new Map<string, RawVehicle>()
    for (const x of rows) {
      if (!isUsable(x.row, x.capturedAt)) continue
      const prev = latest.get(String(x.row.codigo))
      if (!prev || Number(prev.dataHora) < Number(x.row.dataHora)) latest.set(String(x.row.codigo), x.row)
    }
    const gold = await queryWarehouse(home, 'select vehicle_id, latitude, longitude, epoch_ms(gps_time_utc) as ms from gold.brt_vehicle_latest')
    assert.equal(gold.length, latest.size)
    for (const g of gold) {
      const r = latest.get(String(g.vehicle_id))!
      assert.equal(Number(g.ms), Number(r.dataHora))
      assert.equal(g.latitude, Number(r.latitude))
    }
    const inLine = rows.filter((x) => isUsable(x.row, x.capturedAt) && x.row.linha !== '0' && x.row.linha !== '')
    assert.ok(rows.some((x) => /TEST|\s/i.test(String(x.row.codigo)) && x.row.linha !== '0'), 'the fleet has test vehicles on a line, which gold must skip')
    const [speeds] = await queryWarehouse(home, `select sum(observations)::int as n, count(*)::int as windows, sum(captures)::int as captures,
      count(*) filter (where is_complete)::int as complete from gold.brt_line_speed_10min`)
    assert.equal(speeds!.n, inLine.length)
    assert.ok(Number(speeds!.windows) > 0)
    assert.ok(Number(speeds!.captures) >= Number(speeds!.windows))
    assert.equal(speeds!.complete, 0, 'no window is complete before captures 10 minutes past its end are loaded')
  })

  test('the same window loaded twice and duplicate captures never duplicate silver rows; files of duplicates are marked read', async () => {
    const before = (await queryWarehouse(home, 'select count(*)::int as n from silver.brt_gps'))[0]!.n
    // The same CSV under a second name (a window processed twice), then dbt twice.
    const [file] = (await ctx.lake.list('bronze/brt_gps')).filter((k) => k.endsWith('.csv'))
    await ctx.lake.copy(file!, file!.replace(/\.csv$/, '_again.csv'))
    assert.deepEqual(await reconcileRegistry(ctx.lake), { added: 1, removed: 0 })
    assert.equal((await steps.loadStep(ctx)).pendingFiles, 1)
    await steps.dbtStep(ctx)
    assert.equal((await steps.loadStep(ctx)).pendingFiles, 0, 'a file holding only duplicates is marked read')
    await steps.dbtStep(ctx)
    assert.equal((await queryWarehouse(home, 'select count(*)::int as n from silver.brt_gps'))[0]!.n, before)
    assert.equal((await queryWarehouse(home, 'select count(*)::int as n from silver.brt_gps_batch'))[0]!.n, 0, 'a build with nothing new reads nothing')

    // A second window whose captures repeat many (vehicle, GPS time) pairs of the first.
    const more: CaptureDescriptor[] = []
    for (let i = 0; i < 10; i++) {
      const c = await steps.captureStep(ctx)
      more.push(c)
      await steps.bufferStep(ctx, c, settings)
      assert.equal((await steps.bufferStep(ctx, c, settings)).added, false, 'a retried buffer task adds nothing')
    }
    await steps.writeCsvStep(ctx, settings)
    await steps.uploadStep(ctx)
    await steps.loadStep(ctx)
    await steps.dbtStep(ctx)
    const exp = await expectedFrom(ctx, [...captures, ...more])
    const [silver] = await queryWarehouse(home, `select count(*)::int as n, count(distinct (vehicle_id, gps_time_utc))::int as d from silver.brt_gps`)
    assert.equal(silver!.n, silver!.d)
    assert.equal(silver!.n, exp.keys.size)
    const [sp] = await queryWarehouse(home, 'select count(*)::int as n, count(distinct (line, window_start))::int as d from gold.brt_line_speed_10min')
    assert.equal(sp!.n, sp!.d)
    const [files] = await queryWarehouse(home, 'select count(*)::int as n, count(distinct file)::int as d from silver.brt_gps_files_processed')
    assert.deepEqual(files, { n: 3, d: 3 })
  })

  test('replaying the raw captures of the day rebuilds bronze, is read once, and adds nothing to silver', async () => {
    const before = (await queryWarehouse(home, 'select count(*)::int as n from silver.brt_gps'))[0]!.n
    const day = partitionDate(captures[0]!.capturedAt)
    const raws = (await ctx.lake.list(`raw/brt_gps/dt=${day}`)).length
    const r = await replayRawDay(ctx.lake, day, 10)
    assert.equal(r.captures, raws)
    assert.equal(r.rows, raws * 300)
    assert.equal(r.files.length, Math.ceil(raws / 10))
    assert.equal((await steps.loadStep(ctx)).pendingFiles, r.files.length, 'the replayed files are registered')
    await steps.dbtStep(ctx)
    assert.equal((await queryWarehouse(home, 'select count(*)::int as n from silver.brt_gps'))[0]!.n, before)
    assert.equal((await steps.loadStep(ctx)).pendingFiles, 0, 'and read once')
  })

  test('the API serves gold from the Parquet exports', async () => {
    const app = createBrtRoutes(ctx.settings)
    const vehicles = (await (await app.request('/vehicles')).json()) as { items: Array<{ vehicleId: string; gpsTime: string }>; generatedAt: string }
    const [g] = await queryWarehouse(home, 'select count(*)::int as n from gold.brt_vehicle_latest')
    assert.equal(vehicles.items.length, g!.n)
    assert.match(vehicles.generatedAt, /^\d{4}-\d{2}-\d{2}T/)
    assert.match(vehicles.items[0]!.gpsTime, /Z$/)
    const speeds = (await (await app.request('/line-speeds?hours=24')).json()) as {
      items: Array<{ shareMoving: number; observations: number; captures: number; isComplete: boolean }>
    }
    assert.ok(speeds.items.length > 0)
    assert.ok(speeds.items.every((s) => s.shareMoving >= 0 && s.shareMoving <= 1))
    assert.ok(speeds.items.every((s) => s.observations >= 1 && s.captures >= 1 && typeof s.isComplete === 'boolean'))
    const caps = (await (await app.request('/captures?limit=5')).json()) as { items: Array<{ vehicles: number; duplicates: number }> }
    assert.equal(caps.items.length, 5)
    assert.ok(caps.items.every((c) => c.vehicles === 300 && c.duplicates > 0))
    assert.deepEqual(await (await app.request('/buffer')).json(), { captures: 0, capturesPerFile: 10, oldestCaptureAt: null })
  })

  test('a failing contract test fails the step and names the test', async () => {
    // Corrupt the manifest behind dbt's back: its uniqueness contract must catch it.
    await queryWarehouse(home, 'insert into silver.brt_gps_files_processed select * from silver.brt_gps_files_processed limit 1')
    await assert.rejects(steps.dbtStep(ctx), (err: Error) => {
      assert.ok(err instanceof DbtBuildError)
      assert.match(err.message, /unique_brt_gps_files_processed_file.*fail.*1 failing rows/)
      assert.ok(err.results.some((r) => r.resourceType === 'test' && r.status === 'fail'))
      return true
    })
  })

  test('lake retention deletes old raw, statistics and bronze files, keeps what no build has read, and silver keeps its rows', async () => {
    const silverBefore = (await queryWarehouse(home, 'select count(*)::int as n from silver.brt_gps'))[0]!.n
    // A bronze file no build has read yet: retention must keep it whatever its age.
    const [first] = (await ctx.lake.list('bronze/brt_gps')).filter((k) => k.endsWith('.csv'))
    const unread = first!.replace(/\.csv$/, '_unread.csv')
    await ctx.lake.copy(first!, unread)
    await reconcileRegistry(ctx.lake)
    const later = new Date(Date.parse(captures[0]!.capturedAt) + 3 * 86_400_000)
    const r = await steps.retentionStep(ctx, 1, later)
    assert.equal(r.keptFrom, partitionDate(later.getTime() - 86_400_000))
    assert.equal(r.keptUnprocessed, 1)
    assert.deepEqual((await ctx.lake.list('raw/brt_gps')), [])
    assert.deepEqual((await ctx.lake.list('stats/brt_gps')), [])
    assert.deepEqual((await ctx.lake.list('bronze/brt_gps')), [unread])
    assert.deepEqual((await readRegistry(ctx.lake)).map((e) => `bronze/brt_gps/${e.file}`), [unread])
    assert.equal((await queryWarehouse(home, 'select count(*)::int as n from silver.brt_gps'))[0]!.n, silverBefore)
    await assert.rejects(steps.retentionStep(ctx, 0), /whole number of days/)
    assert.throws(() => resolveBrtSettings({ BRT_LAKE_RETENTION_DAYS: 'soon' }), /BRT_LAKE_RETENTION_DAYS must be a whole number/)
    assert.equal(resolveBrtSettings({}).retentionDays, undefined, 'off by default')
  })
})
