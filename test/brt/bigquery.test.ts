/**
 * BigQuery cannot be reached from here: what can be checked offline is. The external-table
 * definition is a pure function; the dbt project parses and compiles for the bigquery target
 * (dbt-bigquery in its own virtualenv, created on first use).
 */
import assert from 'node:assert/strict'
import { generateKeyPairSync } from 'node:crypto'
import fs from 'node:fs/promises'
import path from 'node:path'
import { describe, test } from 'node:test'
import { runDbt } from '../../pipelines/brt/dbt.ts'
import { CSV_COLUMNS } from '../../pipelines/brt/types.ts'
import { bronzeExternalTable } from '../../pipelines/brt/warehouse.ts'
import { tempHome } from './helpers/fixtures.ts'

describe('BigQuery (offline)', { timeout: 600_000 }, () => {
  test('bronze external table: hive-partitioned CSV over the GCS prefix, every column a STRING', () => {
    const t = bronzeExternalTable('gs://my-bucket/rio/', 'brt_bronze')
    assert.equal(t.datasetId, 'brt_bronze')
    assert.equal(t.tableId, 'brt_gps')
    const ext = t.metadata.externalDataConfiguration
    assert.deepEqual(ext.sourceUris, ['gs://my-bucket/rio/bronze/brt_gps/*'])
    assert.equal(ext.hivePartitioningOptions.sourceUriPrefix, 'gs://my-bucket/rio/bronze/brt_gps/')
    assert.equal(ext.hivePartitioningOptions.mode, 'STRINGS')
    assert.equal(ext.csvOptions.skipLeadingRows, '1')
    assert.deepEqual(t.metadata.schema.fields.map((f) => f.name), [...CSV_COLUMNS])
    assert.ok(t.metadata.schema.fields.every((f) => f.type === 'STRING'))
    assert.deepEqual(bronzeExternalTable('gs://b').metadata.externalDataConfiguration.sourceUris, ['gs://b/bronze/brt_gps/*'])
    assert.throws(() => bronzeExternalTable('file:///tmp/lake'), /needs a GCS lake/)
  })

  test('the dbt project parses and compiles for the bigquery target', async () => {
    const { home, cleanup } = await tempHome()
    try {
      // A throw-away service-account key: the client loads it without any network call; nothing
      // below sends a query, so no token is ever requested.
      const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
      const keyFile = path.join(home, 'offline-key.json')
      await fs.writeFile(keyFile, JSON.stringify({
        type: 'service_account',
        project_id: 'rota-offline-check',
        private_key_id: 'offline',
        private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }),
        client_email: 'offline@rota-offline-check.iam.gserviceaccount.com',
        client_id: '1',
        token_uri: 'https://oauth2.googleapis.com/token',
      }))
      const env = { GCP_PROJECT: 'rota-offline-check', BQ_LOCATION: 'US', GOOGLE_APPLICATION_CREDENTIALS: keyFile }
      await runDbt(['parse'], { home, target: 'bigquery', env })
      const manifest = JSON.parse(await fs.readFile(path.join(home, 'dbt', 'target', 'manifest.json'), 'utf8')) as {
        nodes: Record<string, { config: Record<string, unknown>; resource_type: string }>
      }
      const silver = manifest.nodes['model.rota_brt.brt_gps']!
      assert.deepEqual(silver.config.partition_by, { field: 'captured_date', data_type: 'date' })
      assert.deepEqual(silver.config.cluster_by, ['line', 'vehicle_id'])
      assert.deepEqual(silver.config.persist_docs, { relation: true, columns: true })
      // Compile without introspection (rota_offline_incremental answers is_incremental() without a
      // query): the incremental branch, which carries the most BigQuery-specific SQL.
      await runDbt(
        ['compile', '--no-introspect', '--no-populate-cache', '--vars', '{rota_offline_incremental: true}', '--select', 'brt_gps', 'brt_line_speed_10min', 'brt_vehicle_latest'],
        { home, target: 'bigquery', env },
      )
      const compiled = await fs.readFile(path.join(home, 'dbt', 'target', 'compiled', 'rota_brt', 'models', 'silver', 'brt_gps.sql'), 'utf8')
      assert.match(compiled, /timestamp_millis\(/)
      assert.match(compiled, /datetime\(.*'America\/Sao_Paulo'\)/)
      assert.match(compiled, /safe_cast\(/)
      assert.match(compiled, /`rota-offline-check`\.`bronze`\.`brt_gps`/)
      assert.match(compiled, /_FILE_NAME not in \(select distinct source_file from `rota-offline-check`\.`silver`\.`brt_gps`\)/)
      const speeds = await fs.readFile(path.join(home, 'dbt', 'target', 'compiled', 'rota_brt', 'models', 'gold', 'brt_line_speed_10min.sql'), 'utf8')
      assert.match(speeds, /approx_quantiles\(speed_kmh, 100\)\[offset\(90\)\]/)
    } finally {
      await cleanup()
    }
  })
})

describe('gold export from BigQuery rows (offline)', { timeout: 60_000 }, () => {
  test("the client's value types become a typed Parquet file the API can read", async () => {
    const { BigQuery } = await import('@google-cloud/bigquery')
    const { LocalLake } = await import('../../pipelines/brt/lake.ts')
    const { readParquetExport, writeRowsAsParquet } = await import('../../pipelines/brt/warehouse.ts')
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
