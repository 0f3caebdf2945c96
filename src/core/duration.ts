/**
 * Durations people write: `40s`, `10m`, `12h`, `30d`, `2w` (a bare number is seconds). Used for
 * retention (`ROTA_RETENTION`, `defineFlow({ retention: { maxAge } })`) and automation settings.
 * Pure: the SDK, the CLI, the server and the dashboard share it.
 */

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400, w: 7 * 86_400 }

/** The longest duration accepted anywhere: 100 years, well inside what a date can hold. */
export const MAX_DURATION_SECONDS = 100 * 366 * 86_400

export class DurationError extends Error {
  override name = 'DurationError'
}

/** `30d` -> 2592000 (seconds). Throws a DurationError that says what is accepted. */
export function parseDurationSeconds(raw: string | number, what = 'duration'): number {
  const seconds = typeof raw === 'number' ? raw : secondsOf(raw)
  if (seconds === undefined || !Number.isFinite(seconds) || !Number.isInteger(seconds) || seconds < 1 || seconds > MAX_DURATION_SECONDS) {
    throw new DurationError(`${what} must be a whole number of seconds or a duration such as 40s, 10m, 12h, 30d or 2w (at most 100 years), got ${JSON.stringify(raw)}`)
  }
  return seconds
}

function secondsOf(raw: string): number | undefined {
  const m = /^\s*(\d{1,12})\s*([smhdw]?)\s*$/i.exec(raw)
  if (!m?.[1]) return undefined
  return Number(m[1]) * (UNIT_SECONDS[(m[2] || 's').toLowerCase()] as number)
}

/** 2592000 -> `30d`: the largest unit that divides it exactly. */
export function formatDurationSeconds(seconds: number): string {
  for (const [unit, size] of [['w', 604_800], ['d', 86_400], ['h', 3600], ['m', 60]] as const) {
    if (seconds >= size && seconds % size === 0) return `${seconds / size}${unit}`
  }
  return `${seconds}s`
}
