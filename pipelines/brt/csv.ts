/**
 * CSV for bronze: UTF-8, a header, the fixed column order of CSV_COLUMNS, one line per API row,
 * RFC 4180 quoting. Values are written as received (numbers as JavaScript prints them, strings
 * verbatim): casting is silver's job, so a type drift upstream never breaks a file.
 */
import { API_FIELD_BY_COLUMN, CSV_COLUMNS, type RawVehicle } from './types.ts'

const KNOWN_FIELDS = new Set(Object.values(API_FIELD_BY_COLUMN))

function cell(value: unknown): string {
  if (value === null || value === undefined) return ''
  const text = typeof value === 'object' ? JSON.stringify(value) : String(value)
  // Quote anything a reader could split or trim: separators, quotes, newlines, edge spaces (direcao " ").
  return /[",\r\n]|^\s|\s$/.test(text) ? `"${text.replace(/"/g, '""')}"` : text
}

export function csvHeader(): string {
  return `${CSV_COLUMNS.join(',')}\n`
}

/** The CSV lines (without header) of one capture's rows. */
export function captureToCsvLines(captureId: string, capturedAt: string, rows: readonly RawVehicle[]): string {
  const parts: string[] = []
  const prefix = `${cell(captureId)},${cell(capturedAt)}`
  for (const row of rows) {
    const line = [prefix]
    for (const column of CSV_COLUMNS) {
      if (column === 'capture_id' || column === 'captured_at') continue
      if (column === 'extra_fields') {
        // New API fields are kept, as JSON, rather than dropped or allowed to shift columns.
        const extra: Record<string, unknown> = {}
        let any = false
        for (const [k, v] of Object.entries(row)) {
          if (!KNOWN_FIELDS.has(k)) {
            extra[k] = v
            any = true
          }
        }
        line.push(any ? cell(JSON.stringify(extra)) : '')
        continue
      }
      line.push(cell(row[API_FIELD_BY_COLUMN[column]!]))
    }
    parts.push(line.join(','))
  }
  return parts.length ? `${parts.join('\n')}\n` : ''
}
