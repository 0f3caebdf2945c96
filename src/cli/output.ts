/**
 * Terminal output helpers: tables and state colours. Text that comes from elsewhere (run logs,
 * names, messages, server errors) goes through `clean` first: a log line may hold escape sequences
 * that would recolour, retitle or rewrite the user's terminal.
 */
import { terminalSafe } from '../core/text.ts'
import { localTime } from '../core/time.ts'

export { localTime }

export const clean = terminalSafe
const tty = process.stdout.isTTY === true
const COLORS: Record<string, number> = { success: 32, failed: 31, crashed: 31, skipped: 90, retrying: 33, running: 36, pending: 36, cancelled: 35, cancelling: 35, scheduled: 34, active: 32, unhealthy: 33, offline: 90 }

export function paint(text: string, code: number | undefined): string {
  return tty && code ? `\x1b[${code}m${text}\x1b[0m` : text
}

export function state(s: string): string {
  return paint(s, COLORS[s])
}

export function table(rows: string[][], header: string[]): string {
  const strip = (s: string) => s.replace(/\x1b\[[0-9;]*m/g, '')
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => strip(r[i] ?? '').length)))
  const line = (cells: string[]) => cells.map((c, i) => c + ' '.repeat(Math.max(0, (widths[i] ?? 0) - strip(c).length))).join('  ').trimEnd()
  return [line(header.map((h) => paint(h, 1))), ...rows.map(line)].join('\n')
}

export function ago(iso: string | null): string {
  if (!iso) return '-'
  const s = Math.round((Date.now() - Date.parse(iso)) / 1000)
  if (Math.abs(s) < 60) return s >= 0 ? `${s}s ago` : `in ${-s}s`
  const m = Math.round(s / 60)
  if (Math.abs(m) < 60) return m >= 0 ? `${m}m ago` : `in ${-m}m`
  const h = Math.round(m / 60)
  return h >= 0 ? `${h}h ago` : `in ${-h}h`
}

/** `2026-11-25 14:03:05 -03:00 (5m ago)` */
export function when(iso: string | null): string {
  return iso ? `${localTime(iso)} (${ago(iso)})` : '-'
}

/** A multi-line message (a stack trace) with its continuation lines indented under the first. */
export function indentLines(text: string, indent = '    '): string {
  return text.replace(/\n/g, `\n${indent}`)
}
