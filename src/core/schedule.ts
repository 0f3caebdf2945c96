/** Schedules: fixed intervals ('30s', '1m', '2h') or cron expressions in an IANA time zone. */
import { Cron } from 'croner'

export type ScheduleInput = { interval: string | number; anchor?: string } | { cron: string; timezone?: string }

/** The stored form: intervals in whole seconds. */
export type Schedule = { intervalSeconds: number; anchor?: string } | { cron: string; timezone: string }

export class ScheduleError extends Error {
  override name = 'ScheduleError'
}

const UNITS: Record<string, number> = { s: 1, sec: 1, second: 1, seconds: 1, m: 60, min: 60, minute: 60, minutes: 60, h: 3600, hour: 3600, hours: 3600, d: 86400, day: 86400, days: 86400 }

export function parseInterval(raw: string | number): number {
  if (typeof raw === 'number') {
    if (!Number.isFinite(raw) || raw < 1 || !Number.isInteger(raw)) throw new ScheduleError(`interval must be a whole number of seconds >= 1, got ${raw}`)
    return raw
  }
  const m = /^\s*(\d+)\s*([a-z]+)\s*$/i.exec(raw)
  const unit = m?.[2] ? UNITS[m[2].toLowerCase()] : undefined
  if (!m?.[1] || unit === undefined) throw new ScheduleError(`interval "${raw}" is not understood; use a number with s, m, h or d, like "30s", "1m" or "2h"`)
  const seconds = Number(m[1]) * unit
  if (seconds < 1) throw new ScheduleError(`interval "${raw}" must be at least 1 second`)
  return seconds
}

export function normalizeSchedule(input: ScheduleInput | null | undefined): Schedule | null {
  if (input === null || input === undefined) return null
  if ('interval' in input) {
    const s: Schedule = { intervalSeconds: parseInterval(input.interval) }
    if (input.anchor !== undefined) {
      if (Number.isNaN(Date.parse(input.anchor))) throw new ScheduleError(`schedule anchor "${input.anchor}" is not an ISO date`)
      s.anchor = new Date(input.anchor).toISOString()
    }
    return s
  }
  if ('cron' in input && typeof input.cron === 'string') {
    const timezone = input.timezone ?? 'UTC'
    try {
      Intl.DateTimeFormat('en-US', { timeZone: timezone })
    } catch {
      throw new ScheduleError(`time zone "${timezone}" is not an IANA time zone (for example "America/Sao_Paulo")`)
    }
    try {
      new Cron(input.cron, { timezone, paused: true })
    } catch (err) {
      throw new ScheduleError(`cron expression "${input.cron}" is invalid: ${(err as Error).message}`)
    }
    return { cron: input.cron, timezone }
  }
  throw new ScheduleError('a schedule is { interval: "1m" } or { cron: "*/5 * * * *", timezone: "America/Sao_Paulo" }')
}

/**
 * The schedule's fire times in (after, until]. Interval ticks are aligned to the anchor (default the
 * Unix epoch), so every server computes the same instants and the database can dedupe them.
 */
export function fireTimes(schedule: Schedule, after: Date, until: Date, max = 10_000): Date[] {
  const out: Date[] = []
  if ('intervalSeconds' in schedule) {
    const step = schedule.intervalSeconds * 1000
    const anchor = schedule.anchor ? Date.parse(schedule.anchor) : 0
    let t = anchor + (Math.floor((after.getTime() - anchor) / step) + 1) * step
    while (t <= until.getTime() && out.length < max) {
      out.push(new Date(t))
      t += step
    }
    return out
  }
  const cron = new Cron(schedule.cron, { timezone: schedule.timezone, paused: true })
  let cursor: Date | null = after
  while (out.length < max) {
    cursor = cron.nextRun(cursor)
    if (!cursor || cursor.getTime() > until.getTime()) break
    out.push(cursor)
  }
  return out
}

export function describeSchedule(schedule: Schedule | null): string {
  if (!schedule) return 'not scheduled'
  if ('cron' in schedule) return `cron ${schedule.cron} (${schedule.timezone})`
  const s = schedule.intervalSeconds
  const [n, unit] = s % 86400 === 0 ? [s / 86400, 'day'] : s % 3600 === 0 ? [s / 3600, 'hour'] : s % 60 === 0 ? [s / 60, 'minute'] : [s, 'second']
  return `every ${n} ${unit}${n === 1 ? '' : 's'}`
}
