/**
 * Times on every page: absolute, in one display zone, with the zone named; or relative ("5 min
 * ago"). Both are preferences of the browser (localStorage), shared by every page: tapping a time
 * flips absolute and relative everywhere (a phone has no hover for a tooltip), and the display
 * zone is the browser's unless chosen (UTC, or a zone a flow's schedule runs in, e.g.
 * America/Sao_Paulo). Components read them with `useTimePrefs()`, and re-render when they change.
 */
import { useEffect, useState } from 'preact/hooks'

export type TimeMode = 'absolute' | 'relative'

const ZONE_KEY = 'rota.timeZone'
const MODE_KEY = 'rota.timeMode'

export function browserZone(): string {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC'
  } catch {
    return 'UTC'
  }
}

/** True for a zone this browser knows (an IANA name such as America/Sao_Paulo, or UTC). */
export function isZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone })
    return true
  } catch {
    return false
  }
}

function read(key: string): string | null {
  try {
    return localStorage.getItem(key)
  } catch {
    return null
  }
}

function write(key: string, value: string | null): void {
  try {
    if (value === null) localStorage.removeItem(key)
    else localStorage.setItem(key, value)
  } catch {
    // storage disabled (private mode): the choice lasts until the page reloads
  }
}

let zone: string = (() => {
  const saved = read(ZONE_KEY)
  return saved && isZone(saved) ? saved : browserZone()
})()
let mode: TimeMode = read(MODE_KEY) === 'relative' ? 'relative' : 'absolute'
const listeners = new Set<() => void>()
const changed = () => {
  for (const l of listeners) l()
}

export function displayZone(): string {
  return zone
}
export function timeMode(): TimeMode {
  return mode
}

/** Sets the display zone (null: back to the browser's). */
export function setDisplayZone(next: string | null): void {
  if (next !== null && !isZone(next)) throw new Error(`unknown time zone "${next}"`)
  zone = next ?? browserZone()
  write(ZONE_KEY, next)
  changed()
}

export function setTimeMode(next: TimeMode): void {
  mode = next
  write(MODE_KEY, next)
  changed()
}

export function toggleTimeMode(): void {
  setTimeMode(mode === 'absolute' ? 'relative' : 'absolute')
}

/** The display zone and time mode; the component re-renders when either changes. */
export function useTimePrefs(): { zone: string; mode: TimeMode } {
  const [, setTick] = useState(0)
  useEffect(() => {
    const l = () => setTick((t) => t + 1)
    listeners.add(l)
    return () => {
      listeners.delete(l)
    }
  }, [])
  return { zone, mode }
}

// --- formatting ---------------------------------------------------------------------------------

const formatters = new Map<string, Intl.DateTimeFormat>()
function fmt(options: Intl.DateTimeFormatOptions, tz = zone): Intl.DateTimeFormat {
  const key = `${tz}|${JSON.stringify(options)}`
  let f = formatters.get(key)
  if (!f) formatters.set(key, (f = new Intl.DateTimeFormat(undefined, { ...options, timeZone: tz })))
  return f
}

function part(t: number, type: Intl.DateTimeFormatPartTypes, options: Intl.DateTimeFormatOptions, tz = zone): string {
  return fmt(options, tz).formatToParts(t).find((p) => p.type === type)?.value ?? ''
}

/** The zone's short name at that instant: `GMT-3`, `UTC`, `EST`. */
export function zoneLabel(t: number = Date.now(), tz = zone): string {
  return part(t, 'timeZoneName', { timeZoneName: 'short' }, tz)
}

/** The zone's offset from UTC at that instant, in minutes (-180 for São Paulo). */
export function zoneOffsetMinutes(t: number, tz = zone): number {
  const p = Object.fromEntries(
    fmt({ year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' }, tz)
      .formatToParts(t)
      .map((x) => [x.type, x.value]),
  )
  const asUtc = Date.UTC(Number(p.year), Number(p.month) - 1, Number(p.day), Number(p.hour), Number(p.minute), Number(p.second))
  return Math.round((asUtc - Math.floor(t / 1000) * 1000) / 60_000)
}

/** `14:03:05` in the display zone. */
export function clock(t: number, seconds = true, tz = zone): string {
  return fmt({ hour: '2-digit', minute: '2-digit', ...(seconds ? { second: '2-digit' } : {}), hourCycle: 'h23' }, tz).format(t)
}

function dayKey(t: number, tz = zone): string {
  return fmt({ year: 'numeric', month: '2-digit', day: '2-digit' }, tz).format(t)
}

/**
 * An absolute time, as short as it can be without being ambiguous: `14:03:05` today,
 * `Nov 25, 14:03` this year, `Nov 25, 2025, 14:03` before. The zone is shown beside it (zoneLabel).
 */
export function absolute(t: number, now = Date.now(), tz = zone): string {
  if (dayKey(t, tz) === dayKey(now, tz)) return clock(t, true, tz)
  const sameYear = part(t, 'year', { year: 'numeric' }, tz) === part(now, 'year', { year: 'numeric' }, tz)
  return fmt({ month: 'short', day: 'numeric', ...(sameYear ? {} : { year: 'numeric' }), hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }, tz).format(t)
}

/** `Nov 25` in the display zone (axis labels of day ticks). */
export function shortDate(t: number, tz = zone): string {
  return fmt({ month: 'short', day: 'numeric' }, tz).format(t)
}

/** The full form for tooltips: `Tue, Nov 25, 2026, 14:03:05 GMT-3 (America/Sao_Paulo)`. */
export function fullTime(t: number, tz = zone): string {
  return `${fmt({ weekday: 'short', year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' }, tz).format(t)} ${zoneLabel(t, tz)} (${tz})`
}

/** The instant a wall-clock time (`2026-11-25` or `2026-11-25T14:03`) has in the display zone. */
export function wallTimeToInstant(wall: string, tz = zone): number | null {
  const m = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2}))?$/.exec(wall)
  if (!m) return null
  const guess = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4] ?? 0), Number(m[5] ?? 0))
  // The offset at the guess, then at the corrected instant (right across a DST change).
  const first = guess - zoneOffsetMinutes(guess, tz) * 60_000
  return guess - zoneOffsetMinutes(first, tz) * 60_000
}

/** Zones worth offering: the browser's, UTC, and the flows' schedule zones. */
export function zoneChoices(flowZones: readonly string[]): string[] {
  return [...new Set([browserZone(), 'UTC', ...flowZones.filter(isZone)])]
}
