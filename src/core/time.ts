/**
 * Absolute local times with their offset, for terminals (the CLI, `rota run --local`): a time is
 * never printed without saying which zone. Local: the process's zone (TZ, or the system's).
 */

const pad = (n: number, width = 2) => String(n).padStart(width, '0')

/** The local offset of an instant, as `-03:00` (local: TZ, or the system's zone). */
export function offset(t: Date): string {
  const minutes = -t.getTimezoneOffset()
  const sign = minutes < 0 ? '-' : '+'
  const abs = Math.abs(minutes)
  return `${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`
}

/**
 * An absolute local time with its offset: `2026-11-25 14:03:05 -03:00` (`date: false`:
 * `14:03:05.123-03:00`, for log lines). The CLI never prints a time without saying which zone.
 */
export function localTime(iso: string | null, options: { date?: boolean; ms?: boolean } = {}): string {
  if (!iso) return '-'
  const t = new Date(iso)
  if (Number.isNaN(t.getTime())) return iso
  const clock = `${pad(t.getHours())}:${pad(t.getMinutes())}:${pad(t.getSeconds())}${options.ms ? `.${pad(t.getMilliseconds(), 3)}` : ''}`
  if (options.date === false) return `${clock}${offset(t)}`
  return `${t.getFullYear()}-${pad(t.getMonth() + 1)}-${pad(t.getDate())} ${clock} ${offset(t)}`
}
