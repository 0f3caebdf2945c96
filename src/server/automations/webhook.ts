/** One webhook delivery: a JSON POST, with what the firing history records of it. */

export interface WebhookResult {
  ok: boolean
  statusCode: number | null
  error: string | null
  /** Worth another attempt: no answer, a timeout, 408, 429 or a 5xx. */
  retryable: boolean
}

export async function postWebhook(url: string, headers: Record<string, string>, body: unknown, timeoutMs: number): Promise<WebhookResult> {
  let res: Response
  try {
    res = await fetch(url, {
      method: 'POST',
      headers: { 'user-agent': 'rota-automations', ...headers, 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
      redirect: 'follow',
    })
  } catch (err) {
    const e = err as Error & { cause?: { code?: string; message?: string } }
    const reason = e.name === 'TimeoutError' ? `no answer within ${timeoutMs / 1000} s` : (e.cause?.code ?? e.cause?.message ?? e.message)
    return { ok: false, statusCode: null, error: `could not deliver: ${reason}`, retryable: true }
  }
  // The answer's body says why a receiver refused; a little of it is kept, never more.
  const text = await res.text().catch(() => '')
  if (res.ok) return { ok: true, statusCode: res.status, error: null, retryable: false }
  const retryable = res.status >= 500 || res.status === 408 || res.status === 429
  return { ok: false, statusCode: res.status, error: `HTTP ${res.status}${text ? `: ${text.slice(0, 300).replace(/\s+/g, ' ')}` : ''}`, retryable }
}
