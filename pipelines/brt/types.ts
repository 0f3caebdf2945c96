/**
 * Shapes of the BRT GPS pipeline.
 *
 * Glossary
 * - capture: one call of the BRT API, kept raw (gzip) in the lake under `raw/brt_gps/`.
 * - buffer: captures waiting to be written to a CSV (`_buffer/brt_gps/pending/`), durable in the lake.
 * - window: the set of buffered captures that one CSV holds; it is closed through a write-ahead manifest.
 * - outbox: CSVs written by `write-csv` and not yet moved into `bronze/` by `upload`.
 */

/** One row of the API as received: every field is untrusted, new ones may appear. */
export type RawVehicle = Record<string, unknown>

export interface BrtPayload {
  veiculos: RawVehicle[]
  [extra: string]: unknown
}

/** What the `capture` task hands to `buffer`: small, JSON-serialisable, no rows. */
export interface CaptureDescriptor {
  /** `<capturedAt compact>-<sha256 of body, 12 hex>`: the same response gives the same id. */
  readonly captureId: string
  /** ISO 8601 UTC, when the response arrived. */
  readonly capturedAt: string
  /** Lake key of the gzip'd raw body. */
  readonly rawKey: string
  readonly vehicles: number
  readonly bytes: number
}

export interface CaptureStats {
  readonly captureId: string
  readonly capturedAt: string
  readonly vehicles: number
  /** Rows outside the Rio bounding box or at (0, 0). */
  readonly invalidPositions: number
  /** Rows whose GPS time is more than 10 minutes older than the capture. */
  readonly stale: number
  /** Rows whose (codigo, dataHora) was already in the previous capture. */
  readonly duplicates: number
}

export interface BufferStatus {
  readonly captures: number
  readonly capturesPerFile: number
  readonly oldestCaptureAt: string | null
}

/** The fixed CSV column order (bronze). Unknown API fields go, as JSON, to `extra_fields`. */
export const CSV_COLUMNS = [
  'capture_id',
  'captured_at',
  'codigo',
  'placa',
  'linha',
  'latitude',
  'longitude',
  'datahora',
  'velocidade',
  'id_migracao_trajeto',
  'sentido',
  'trajeto',
  'hodometro',
  'direcao',
  'ignicao',
  'capacidade_pe_veiculo',
  'capacidade_sentado_veiculo',
  'extra_fields',
] as const

/** API field name for each CSV column that comes straight from a row. */
export const API_FIELD_BY_COLUMN: Readonly<Record<string, string>> = {
  codigo: 'codigo',
  placa: 'placa',
  linha: 'linha',
  latitude: 'latitude',
  longitude: 'longitude',
  datahora: 'dataHora',
  velocidade: 'velocidade',
  id_migracao_trajeto: 'id_migracao_trajeto',
  sentido: 'sentido',
  trajeto: 'trajeto',
  hodometro: 'hodometro',
  direcao: 'direcao',
  ignicao: 'ignicao',
  capacidade_pe_veiculo: 'capacidadePeVeiculo',
  capacidade_sentado_veiculo: 'capacidadeSentadoVeiculo',
}

/** Rio bounding box used by silver's `is_valid_position` (kept equal in pipelines/brt/dbt/models/silver). */
export const RIO_BOUNDS = { latMin: -23.1, latMax: -22.7, lonMin: -43.8, lonMax: -43.1 } as const
export const STALE_AFTER_MS = 10 * 60 * 1000
