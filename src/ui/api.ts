/**
 * The dashboard's only door to the server: JSON requests and Server-Sent Events under /api.
 *
 * API key: when the server answers 401, `needKey` listeners fire (the app shows a prompt); the key is
 * kept in localStorage and sent as `x-api-key` on requests and `?apiKey=` on EventSource URLs,
 * because EventSource cannot set headers.
 */

import { backoffDelay, type BackoffPolicy } from '../core/backoff.ts'
import type { ErrorBody } from '../core/contract.ts'

const KEY_STORAGE = 'rota.apiKey'
/** Reopening the event stream after the server refused it: 1 s, 2 s, 4 s ... up to 30 s. */
const RECONNECT_BACKOFF: BackoffPolicy = { baseMs: 1000, maxMs: 30_000 }

export class ApiError extends Error {
  override name = 'ApiError'
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message)
  }
}

type Listener = () => void
const keyListeners = new Set<Listener>()

export function getApiKey(): string | null {
  try {
    return localStorage.getItem(KEY_STORAGE)
  } catch {
    return null
  }
}

export function setApiKey(key: string | null): void {
  try {
    if (key) localStorage.setItem(KEY_STORAGE, key)
    else localStorage.removeItem(KEY_STORAGE)
  } catch {
    // Storage can be disabled (private mode); the key then lives only until reload.
  }
  memoryKey = key
}

let memoryKey: string | null = null
let keyWanted = false

function currentKey(): string | null {
  return getApiKey() ?? memoryKey
}

/** Subscribe to "the server wants an API key"; returns an unsubscribe function. */
export function onNeedKey(listener: Listener): () => void {
  keyListeners.add(listener)
  if (keyWanted) listener()
  return () => keyListeners.delete(listener)
}

export function keyAccepted(): void {
  keyWanted = false
}

function announceNeedKey(): void {
  keyWanted = true
  for (const l of keyListeners) l()
}

export async function api<T>(path: string, init: { method?: string; body?: unknown; signal?: AbortSignal } = {}): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' }
  const key = currentKey()
  if (key) headers['x-api-key'] = key
  const method = init.method ?? 'GET'
  // The server takes state changes only as JSON (its guard against forged cross-site posts): send {} when there is no body.
  const body = init.body ?? (method === 'GET' || method === 'HEAD' ? undefined : {})
  if (body !== undefined) headers['content-type'] = 'application/json'
  let res: Response
  try {
    res = await fetch(`/api${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: init.signal,
    })
  } catch (err) {
    if (err instanceof DOMException && err.name === 'AbortError') throw err
    throw new ApiError(0, `Cannot reach the Rota server (${(err as Error).message})`)
  }
  if (res.status === 401) {
    announceNeedKey()
    throw new ApiError(401, key ? 'The API key was refused' : 'This server needs an API key')
  }
  const text = await res.text()
  let json: unknown = undefined
  if (text) {
    try {
      json = JSON.parse(text)
    } catch {
      throw new ApiError(res.status, `${res.status} ${res.statusText}: the server did not answer JSON`)
    }
  }
  if (!res.ok) {
    // Every route, a plugin's too, answers errors in one shape (the contract's ErrorBody).
    const message = (json as Partial<ErrorBody> | undefined)?.error?.message
    throw new ApiError(res.status, message ?? `${res.status} ${res.statusText}`)
  }
  return json as T
}

export function query(params: Record<string, string | number | null | undefined>): string {
  const q = new URLSearchParams()
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') q.set(k, String(v))
  const s = q.toString()
  return s ? `?${s}` : ''
}

export type EventHandlers = Record<string, (data: unknown) => void>

/**
 * Open `/api/events` and dispatch named events as parsed JSON. `onOpen` fires on every (re)connect,
 * so callers can refetch what they may have missed while disconnected.
 *
 * EventSource retries by itself after a dropped connection, but gives up for good when the server
 * answers with an error status (a restart behind a proxy, a 401 before the key is known): then we
 * reopen it ourselves with a capped backoff.
 */
export function subscribe(
  params: Record<string, string | undefined>,
  handlers: EventHandlers,
  onOpen?: () => void,
  onStatus?: (live: boolean) => void,
): () => void {
  let source: EventSource | null = null
  let retryTimer: ReturnType<typeof setTimeout> | null = null
  let failures = 0
  let closed = false

  const open = () => {
    const key = currentKey()
    const es = new EventSource(`/api/events${query({ ...params, apiKey: key ?? undefined })}`)
    source = es
    for (const [name, handle] of Object.entries(handlers)) {
      es.addEventListener(name, (ev) => {
        let data: unknown
        try {
          data = JSON.parse((ev as MessageEvent<string>).data)
        } catch {
          return
        }
        handle(data)
      })
    }
    es.addEventListener('open', () => {
      failures = 0
      onStatus?.(true)
      onOpen?.()
    })
    es.addEventListener('error', () => {
      onStatus?.(false)
      if (es.readyState === EventSource.CLOSED && !closed) {
        es.close()
        retryTimer = setTimeout(open, backoffDelay(RECONNECT_BACKOFF, ++failures))
      }
    })
  }
  open()
  return () => {
    closed = true
    if (retryTimer) clearTimeout(retryTimer)
    source?.close()
  }
}
