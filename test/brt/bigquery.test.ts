/**
 * BigQuery cannot be reached from here: what can be checked offline is. dbt-bigquery (its own
 * virtualenv) parses the project, renders the external tables' DDL and the MERGEs through
 * run-operations that send no query, and compiles every model with the offline answers
 * (`rota_offline`) in place of the queries a build would ask. The SQL is then checked: external
 * table with hive partitions and a required partition filter, SAFE conversions, literal partition
 * and file filters, MERGEs keyed on the unique key and pruned on the target's partitions.
 */
import assert from 'node:assert/strict'
import { generateKeyPairSync } from 'node:crypto'
import fs from 'node:fs/promises'
import path from 'node:path'
import { after, before, describe, test } from 'node:test'
import { runDbt } from '../../pipelines/brt/dbt.ts'
import { LocalLake, type Lake } from '../../pipelines/brt/lake.ts'
import { BigQueryWarehouse } from '../../pipelines/brt/warehouse/bigquery.ts'
import { DEFAULT_NAMES } from '../../pipelines/brt/warehouse/warehouse.ts'
import { tempHome } from './helpers/fixtures.ts'
import { DB_FREE } from './helpers/once.ts'

const PROJECT = 'rota-offline-check'
const BRONZE = 'gs://rota-lake/rio/bronze/brt_gps'

describe('BigQuery (offline)', { skip: DB_FREE, timeout: 600_000 }, () => {
  let home: string
  let cleanup: () => Promise<void>
  let env: Record<string, string>
  const dbt = async (args: string[]): Promise<string> => {
    const lines: string[] = []
    await runDbt(args, { home, target: 'bigquery', env, onLine: (l) => lines.push(l) })
    return lines.join('\n')
  }
  const compiled = (model: string): Promise<string> =>
    fs.readFile(path.join(home, 'dbt', 'target', 'compiled', 'rota_brt', 'models', model), 'utf8')

  before(async () => {
    ;({ home, cleanup } = await tempHome())
    // A throw-away service-account key: the client loads it without any network call; nothing
    // below sends a query, so no token is ever requested.
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
    const keyFile = path.join(home, 'offline-key.json')
    await fs.writeFile(keyFile, JSON.stringify({
      type: 'service_account',
      project_id: PROJECT,
      private_key_id: 'offline',
      private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }),
      client_email: `offline@${PROJECT}.iam.gserviceaccount.com`,
      client_id: '1',
      token_uri: 'https://oauth2.googleapis.com/token',
    }))
    env = {
      GCP_PROJECT: PROJECT,
      BQ_LOCATION: 'US',
      GOOGLE_APPLICATION_CREDENTIALS: keyFile,
      ROTA_BRONZE_URI: BRONZE,
      ROTA_BRONZE_REGISTRY_URI: 'gs://rota-lake/rio/_manifests/brt_gps/bronze_files.csv',
    }
  })
  after(async () => {
    await cleanup()
  })

  let compiledAll: Promise<void> | undefined
  /** One compile of every model with the offline answers (it also writes the manifest). */
  const compileAll = (): Promise<void> => (compiledAll ??= (async () => {
    const offline = {
      rota_offline_incremental: true,
      rota_offline: {
        pending_files: [
          { file: 'dt=2024-05-01/brt_gps_a.csv', dt: '2024-05-01' },
          { file: 'dt=2024-05-02/brt_gps_b.csv', dt: '2024-05-02' },
        ],
        batch_bounds: { min_captured_at: '2024-05-01 12:00:00', max_captured_at: '2024-05-01 12:09:00' },
      },
    }
    await dbt(['compile', '--no-introspect', '--no-populate-cache', '--select', 'resource_type:model', '--indirect-selection', 'empty', '--vars', JSON.stringify(offline)])
  })())

  test('the project parses: external sources in the dbt_external_tables conventions, partitioning, MERGE configs, docs', async () => {
    await compileAll()
    const manifest = JSON.parse(await fs.readFile(path.join(home, 'dbt', 'target', 'manifest.json'), 'utf8')) as {
      nodes: Record<string, { config: Record<string, unknown>; columns: Record<string, { description: string }>; description: string; resource_type: string }>
      sources: Record<string, { external: { location: string; options: Record<string, unknown>; partitions: Array<{ name: string; data_type: string }> | null } }>
    }
    const bronze = manifest.sources['source.rota_brt.bronze.brt_gps']!.external
    assert.equal(bronze.location, `${BRONZE}/*`)
    assert.equal(bronze.options.hive_partition_uri_prefix, BRONZE)
    assert.equal(bronze.options.require_hive_partition_filter, true)
    assert.deepEqual(bronze.partitions, [{ name: 'dt', data_type: 'STRING' }])
    const silver = manifest.nodes['model.rota_brt.brt_gps']!
    assert.deepEqual(silver.config.partition_by, { field: 'gps_date', data_type: 'date' })
    assert.deepEqual(silver.config.cluster_by, ['line', 'vehicle_id'])
    assert.deepEqual(silver.config.unique_key, ['vehicle_id', 'gps_time_utc'])
    assert.equal(silver.config.incremental_strategy, 'merge')
    assert.deepEqual(silver.config.meta, { merge_insert_only: true, merge_prune: { column: 'gps_date', data_type: 'date' } })
    assert.deepEqual(silver.config.persist_docs, { relation: true, columns: true })
    assert.equal(manifest.nodes['model.rota_brt.stg_brt_gps']!.config.materialized, 'view')
    const gold = manifest.nodes['model.rota_brt.brt_line_speed_10min']!
    assert.deepEqual(gold.config.unique_key, ['line', 'window_start'])
    assert.deepEqual(gold.config.meta, { merge_prune: { column: 'window_start', data_type: 'timestamp' } })
    // Every model and every column is documented (persist_docs writes them to BigQuery).
    for (const node of Object.values(manifest.nodes).filter((n) => n.resource_type === 'model')) {
      assert.ok(node.description.length > 20, `a description for ${JSON.stringify(node.config.alias ?? node.description)}`)
      assert.ok(Object.keys(node.columns).length > 0 && Object.values(node.columns).every((c) => c.description.length > 0))
    }
  })

  test('stage_external_sources renders CREATE OR REPLACE EXTERNAL TABLE with hive partitions and a required dt filter', async () => {
    const out = await dbt(['run-operation', '--no-populate-cache', 'show_external_sources_ddl'])
    const ddl = out.slice(out.indexOf('create schema'))
    assert.match(ddl, /create or replace external table `rota-offline-check`\.`bronze`\.`brt_gps` \(\s+capture_id STRING,[\s\S]+extra_fields STRING\s+\)\s+with partition columns \(\s+dt STRING\s+\)/)
    assert.match(ddl, new RegExp(`uris = \\['${BRONZE}/\\*'\\]`))
    assert.match(ddl, new RegExp(`hive_partition_uri_prefix = '${BRONZE}'`))
    assert.match(ddl, /require_hive_partition_filter = true/)
    assert.match(ddl, /format = 'CSV',\s+skip_leading_rows = 1/)
    assert.match(ddl, /create or replace external table `rota-offline-check`\.`bronze`\.`brt_gps_files` \(\s+file STRING,\s+dt STRING,\s+published_at STRING\s+\)\s+options \(\s+uris = \['gs:\/\/rota-lake\/rio\/_manifests\/brt_gps\/bronze_files.csv'\]/)
  })

  test('models compile with SAFE conversions and literal dt and file filters', async () => {
    await compileAll()
    const view = await compiled('silver/stg_brt_gps.sql')
    assert.match(view, /_FILE_NAME as source_uri/)
    assert.match(view, /safe\.timestamp_millis\(/, 'a dataHora past the year 9999 gives null, not an error')
    assert.match(view, /between -62135596800000 and 253402300799999/)
    assert.match(view, /not is_nan\(safe_cast\(nullif\(trim\(velocidade\), ''\) as float64\)\) and not is_inf\(/)
    assert.match(view, /datetime\(gps_time_utc, 'America\/Sao_Paulo'\)/)
    assert.match(view, /date\(captured_at, 'America\/Sao_Paulo'\)/)
    assert.match(view, /regexp_contains\(vehicle_id, '\(\?i\)\(TEST\|\[\[:space:\]\]\)'\)/)
    // Both windows are partitioned by the file, so the batch's filter reaches the external table.
    assert.equal(view.match(/over \(partition by dt, source_uri/g)?.length, 3)
    const batch = await compiled('silver/brt_gps_batch.sql')
    assert.match(batch, /where dt in \('2024-05-01', '2024-05-02'\) and source_uri in \('gs:\/\/rota-lake\/rio\/bronze\/brt_gps\/dt=2024-05-01\/brt_gps_a\.csv', 'gs:\/\/rota-lake\/rio\/bronze\/brt_gps\/dt=2024-05-02\/brt_gps_b\.csv'\)/)
    const speeds = await compiled('gold/brt_line_speed_10min.sql')
    assert.match(speeds, /approx_quantiles\(speed_kmh, 100\)\[offset\(90\)\]/)
    assert.match(speeds, /gps_time_utc >= timestamp_seconds\(div\(unix_seconds\(timestamp_add\(timestamp\('2024-05-01 12:00:00'\), interval -20 minute\)\), 600\) \* 600\) and gps_time_utc < timestamp_add\(timestamp\('2024-05-01 12:09:00'\), interval 15 minute\)/)

    // Nothing new: an impossible partition, so the build reads no file (and the dt filter BigQuery requires is there).
    await dbt(['compile', '--no-introspect', '--no-populate-cache', '--select', 'brt_gps_batch', '--indirect-selection', 'empty', '--vars', JSON.stringify({ rota_offline: { pending_files: [] } })])
    assert.match(await compiled('silver/brt_gps_batch.sql'), /where dt in \('0000-00-00'\) and false/)
  })

  test('incremental writes are MERGEs on the key, insert-only for silver, pruned to the partitions the new rows hold', async () => {
    const out = await dbt(['run-operation', '--no-populate-cache', 'brt_show_merge_sql', '--args', JSON.stringify({
      merges: [
        {
          target: '`p`.`silver`.`brt_gps`', unique_key: ['vehicle_id', 'gps_time_utc'], columns: ['vehicle_id', 'gps_time_utc', 'gps_date', 'speed_kmh'],
          insert_only: true, prune: { column: 'gps_date', data_type: 'date' }, prune_values: ['2000-01-01', '2024-05-01'],
        },
        {
          target: '`p`.`gold`.`brt_line_speed_10min`', unique_key: ['line', 'window_start'], columns: ['line', 'window_start', 'avg_speed_kmh'],
          prune: { column: 'window_start', data_type: 'timestamp' }, prune_values: ['2024-05-01 12:00:00+00'],
        },
      ],
    })])
    const [merge, goldMerge] = out.slice(out.indexOf('merge into')).split(';') as [string, string]
    assert.match(merge, /^merge into `p`\.`silver`\.`brt_gps` as DBT_INTERNAL_DEST\s+using `new_rows` as DBT_INTERNAL_SOURCE/)
    assert.match(merge, /on \(DBT_INTERNAL_DEST\.gps_date in \(cast\('2000-01-01' as date\), cast\('2024-05-01' as date\)\)\) and \(DBT_INTERNAL_SOURCE\.vehicle_id = DBT_INTERNAL_DEST\.vehicle_id\) and \(DBT_INTERNAL_SOURCE\.gps_time_utc = DBT_INTERNAL_DEST\.gps_time_utc\)/)
    assert.doesNotMatch(merge, /when matched/, 'a key already in silver is never touched')
    assert.match(merge, /when not matched then insert \(`vehicle_id`, `gps_time_utc`, `gps_date`, `speed_kmh`\)/)
    assert.match(goldMerge, /on \(DBT_INTERNAL_DEST\.window_start in \(cast\('2024-05-01 12:00:00\+00' as timestamp\)\)\) and \(DBT_INTERNAL_SOURCE\.line = DBT_INTERNAL_DEST\.line\) and \(DBT_INTERNAL_SOURCE\.window_start = DBT_INTERNAL_DEST\.window_start\)/)
    assert.match(goldMerge, /when matched then update set\s+`avg_speed_kmh` = DBT_INTERNAL_SOURCE\.`avg_speed_kmh`\s+when not matched then insert/)
  })
})

describe('BigQuery warehouse wiring (offline)', { skip: DB_FREE, timeout: 60_000 }, () => {
  /** A local folder that presents itself as remote, as a GCS lake does (BigQuery refuses a local lake). */
  function remoteLikeLake(root: string): Lake {
    const local = new LocalLake(root)
    return {
      url: 'gs://rota-lake/rio',
      put: local.put.bind(local),
      get: local.get.bind(local),
      exists: local.exists.bind(local),
      list: local.list.bind(local),
      delete: local.delete.bind(local),
      copy: local.copy.bind(local),
      lock: local.lock.bind(local),
      address: (key) => `gs://rota-lake/rio/${key}`,
      localPath: () => undefined,
    }
  }

  test('builds take turns through the lake lock, and the configuration is checked up front', async () => {
    const { home, cleanup } = await tempHome()
    try {
      const lake = remoteLikeLake(path.join(home, 'lake'))
      const wh = new BigQueryWarehouse({ home, lake, names: DEFAULT_NAMES, projectId: PROJECT, location: 'US' })
      const events: string[] = []
      const build = (name: string) =>
        wh.withWriter(async () => {
          events.push(`${name} start`)
          await new Promise((r) => setTimeout(r, 150))
          events.push(`${name} end`)
        })
      await Promise.all([build('a'), build('b')])
      assert.ok(events.join() === 'a start,a end,b start,b end' || events.join() === 'b start,b end,a start,a end', events.join())
      const bronze = await wh.syncBronze()
      assert.equal(bronze.root, 'gs://rota-lake/rio/bronze/brt_gps')
      assert.equal(wh.dbtEnv(bronze).ROTA_BRONZE_REGISTRY_URI, 'gs://rota-lake/rio/_manifests/brt_gps/bronze_files.csv')
      assert.throws(() => new BigQueryWarehouse({ home, lake, names: DEFAULT_NAMES, projectId: '', location: 'US' }), /needs GCP_PROJECT/)
      assert.throws(() => new BigQueryWarehouse({ home, lake: new LocalLake(home), names: DEFAULT_NAMES, projectId: PROJECT, location: 'US' }), /needs a GCS lake/)
    } finally {
      await cleanup()
    }
  })
})

describe('gold export from BigQuery rows (offline)', { skip: DB_FREE, timeout: 60_000 }, () => {
  test("the client's value types become a typed Parquet file the API can read", async () => {
    const { BigQuery } = await import('@google-cloud/bigquery')
    const { readParquetExport, writeRowsAsParquet } = await import('../../pipelines/brt/warehouse/parquet.ts')
    const { home, cleanup } = await tempHome()
    try {
      const lake = new LocalLake(path.join(home, 'lake'))
      const file = lake.localPath('gold/brt/brt_vehicle_latest.parquet')
      await fs.mkdir(path.dirname(file), { recursive: true })
      // Rows as @google-cloud/bigquery returns them: TIMESTAMP and DATETIME wrapped in objects.
      const rows = [
        { vehicle_id: '40007', line: '22', latitude: -22.95, longitude: -43.37, speed_kmh: 31.5, gps_time_utc: BigQuery.timestamp('2024-05-01T12:34:56.789Z'), gps_time_local: '2024-05-01 09:34:56.789' },
        { vehicle_id: '40014', line: null, latitude: -22.9, longitude: -43.2, speed_kmh: null, gps_time_utc: BigQuery.timestamp('2024-05-01T12:35:00Z'), gps_time_local: '2024-05-01 09:35:00' },
      ]
      await writeRowsAsParquet(rows, `select vehicle_id, line, latitude::double as latitude, longitude::double as longitude, speed_kmh::double as speed_kmh,
        timezone('UTC', cast(gps_time_utc as timestamptz)) as gps_time_utc, cast(gps_time_local as timestamp) as gps_time_local`, file)
      const back = await readParquetExport(lake, 'gold/brt/brt_vehicle_latest.parquet', (rel) => `select vehicle_id, line, speed_kmh, gps_time_utc from ${rel} order by vehicle_id`)
      assert.equal(back.length, 2)
      assert.equal((back[0]!.gps_time_utc as Date).toISOString(), '2024-05-01T12:34:56.789Z')
      assert.equal(back[1]!.line, null)
      assert.equal(back[1]!.speed_kmh, null)
    } finally {
      await cleanup()
    }
  })
})
