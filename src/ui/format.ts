/** Formatting shared by every page: times, durations, numbers. Times are in the display zone (time.ts). */
import { clock } from './time.ts'

export function parseTime(iso: string | null | undefined): number | null {
  if (!iso) return null
  const t = Date.parse(iso)
  return Number.isNaN(t) ? null : t
}

export function formatDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '—'
  if (ms < 1000) return `${Math.round(ms)} ms`
  const s = ms / 1000
  if (s < 60) return `${s < 10 ? s.toFixed(1) : Math.round(s)} s`
  const m = Math.floor(s / 60)
  const rs = Math.round(s % 60)
  if (m < 60) return rs ? `${m} min ${rs} s` : `${m} min`
  const h = Math.floor(m / 60)
  return `${h} h ${m % 60} min`
}

export function relativeTime(iso: string | null | undefined, now = Date.now()): string {
  const t = parseTime(iso)
  if (t === null) return '—'
  const diff = t - now
  const abs = Math.abs(diff)
  let text: string
  // Small clock differences between server and browser would otherwise read "in 2 s" for a past event.
  if (abs < 5_000) return 'just now'
  if (abs < 60_000) text = `${Math.round(abs / 1000)} s`
  else if (abs < 3_600_000) text = `${Math.round(abs / 60_000)} min`
  else if (abs < 86_400_000) text = `${Math.round(abs / 3_600_000)} h`
  else text = `${Math.round(abs / 86_400_000)} d`
  return diff > 0 ? `in ${text}` : `${text} ago`
}

/** `14:03:05` in the display zone. */
export function clockTime(iso: string | number | null | undefined): string {
  const t = typeof iso === 'number' ? iso : parseTime(iso)
  if (t === null) return '—'
  return clock(t)
}

export function formatNumber(n: number | null | undefined, digits = 0): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '—'
  return n.toLocaleString(undefined, { maximumFractionDigits: digits, minimumFractionDigits: digits })
}

export function runDuration(run: { startTime: string | null; endTime: string | null; durationMs?: number | null }, now: number): number | null {
  if (run.durationMs !== null && run.durationMs !== undefined && run.endTime) return run.durationMs
  const start = parseTime(run.startTime)
  if (start === null) return null
  return (parseTime(run.endTime) ?? now) - start
}
