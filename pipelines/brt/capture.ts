/**
 * The `capture` step: one call of the BRT API, validated, kept raw and gzip'd in the lake
 * (`raw/brt_gps/dt=YYYY-MM-DD/<captureId>.json.gz`, dt in America/Sao_Paulo) for audit and replay.
 *
 * Retries belong to the task (the SDK retries the whole step with backoff); one call here is one
 * attempt with its own timeout. Errors say what went wrong and what to do about it.
 */
import { createHash } from 'node:crypto'
import { promisify } from 'node:util'
import zlib from 'node:zlib'
import type { Lake } from './lake.ts'
import { rawKey } from './lake-keys.ts'
import type { BrtPayload, CaptureDescriptor, RawVehicle } from './types.ts'

const gzip = promisify(zlib.gzip)
const gunzip = promisify(zlib.gunzip)

/** The API could not be reached, answered an HTTP error, or did not answer in time. Retryable. */
export class BrtApiError extends Error {
  override name = 'BrtApiError'
}

/** The API answered something that is not a usable fleet snapshot. Retryable (the next call may be fine). */
export class BrtPayloadError extends Error {
  override name = 'BrtPayloadError'
}

export interface FetchOptions {
  readonly timeoutMs?: number
  readonly signal?: AbortSignal
}

export interface FetchedCapture {
  readonly capturedAt: Date
  readonly body: Buffer
  readonly payload: BrtPayload
}

const HINT = 'To run offline, start Rota with the simulator: `rota up --simulate` (or `npm start -- --simulate`), or set BRT_API_URL.'

/** One attempt: GET the API with a timeout, then validate the body. */
export async function fetchCapture(url: string, options: FetchOptions = {}): Promise<FetchedCapture> {
  const timeoutMs = options.timeoutMs ?? 20_000
  const signals = [AbortSignal.timeout(timeoutMs), ...(options.signal ? [options.signal] : [])]
  let response: Response
  let body: Buffer
  try {
    response = await fetch(url, { signal: AbortSignal.any(signals), headers: { accept: 'application/json' } })
    body = Buffer.from(await response.arrayBuffer())
  } catch (err) {
    const e = err as Error
    if (options.signal?.aborted) throw new BrtApiError(`capture cancelled while calling the BRT API at ${url}`, { cause: err })
    if (e.name === 'TimeoutError') {
      throw new BrtApiError(`the BRT API at ${url} did not answer within ${timeoutMs / 1000} s. ${HINT}`, { cause: err })
    }
    const reason = (e.cause as Error | undefined)?.message ?? e.message
    throw new BrtApiError(`the BRT API at ${url} is unreachable (${reason}). ${HINT}`, { cause: err })
  }
  const capturedAt = new Date()
  if (!response.ok) {
    throw new BrtApiError(`the BRT API at ${url} answered HTTP ${response.status} ${response.statusText}: ${body.toString('utf8', 0, 200)}`)
  }
  return { capturedAt, body, payload: parsePayload(body, url) }
}

/**
 * Validates the envelope only: a JSON object with a non-empty `veiculos` array of objects.
 * Rows themselves are kept as they come (silver casts them safely); an empty fleet is refused
 * because the real API never has zero vehicles: it means an outage behind a 200.
 */
export function parsePayload(body: Buffer, url = 'the BRT API'): BrtPayload {
  let parsed: unknown
  try {
    parsed = JSON.parse(body.toString('utf8'))
  } catch (err) {
    const head = body.toString('utf8', 0, 120).replace(/\s+/g, ' ')
    throw new BrtPayloadError(`malformed JSON from ${url} (${(err as Error).message}); the body starts with: ${head}`, { cause: err })
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new BrtPayloadError(`unexpected answer from ${url}: expected an object with "veiculos", got ${Array.isArray(parsed) ? 'an array' : typeof parsed}`)
  }
  const veiculos = (parsed as { veiculos?: unknown }).veiculos
  if (!Array.isArray(veiculos)) {
    throw new BrtPayloadError(`unexpected answer from ${url}: "veiculos" is ${veiculos === undefined ? 'missing' : typeof veiculos}, expected an array`)
  }
  if (veiculos.length === 0) throw new BrtPayloadError(`the BRT API at ${url} answered an empty fleet ("veiculos": []); treating it as an outage`)
  const bad = veiculos.findIndex((v) => typeof v !== 'object' || v === null || Array.isArray(v))
  if (bad >= 0) throw new BrtPayloadError(`unexpected answer from ${url}: veiculos[${bad}] is not an object`)
  return parsed as BrtPayload
}

/** `2024-05-01T12:34:56.789Z` -> `20240501T123456789Z` (sorts like the time, safe in file names). */
export function compactTime(iso: string): string {
  return iso.replace(/[-:.]/g, '')
}

/** Stores the raw body (gzip) in the lake and describes the capture. Idempotent per body and time. */
export async function storeCapture(lake: Lake, fetched: FetchedCapture): Promise<CaptureDescriptor> {
  const capturedAt = fetched.capturedAt.toISOString()
  const captureId = `${compactTime(capturedAt)}-${createHash('sha256').update(fetched.body).digest('hex').slice(0, 12)}`
  const key = rawKey(captureId, capturedAt)
  await lake.put(key, await gzip(fetched.body), { ifAbsent: true, contentType: 'application/gzip' })
  return { captureId, capturedAt, rawKey: key, vehicles: fetched.payload.veiculos.length, bytes: fetched.body.length }
}

export async function readRawCapture(lake: Lake, rawKey: string): Promise<RawVehicle[]> {
  const gz = await lake.get(rawKey)
  if (gz === undefined) throw new Error(`raw capture ${lake.address(rawKey)} is missing from the lake`)
  return parsePayload(await gunzip(gz), lake.address(rawKey)).veiculos
}
