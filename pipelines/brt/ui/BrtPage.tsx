/** The BRT page of the dashboard: the map of the latest positions, speeds per line, captures and the buffer. */
import { Card, Empty, ErrorBox, Loading, Time } from '../../../src/ui/components/common.tsx'
import { BrtMap, lineColor } from './BrtMap.tsx'
import { useWidth } from '../../../src/ui/components/charts.tsx'
import { ApiError } from '../../../src/ui/api.ts'
import { useApi, useDebounced, useInterval, useNow } from '../../../src/ui/hooks.ts'
import { useLiveEvent } from '../../../src/ui/live.ts'
import { clockTime, formatNumber, parseTime } from '../../../src/ui/format.ts'
import { fullTime, useTimePrefs } from '../../../src/ui/time.ts'
import type { BrtBuffer, BrtCapture, BrtLineSpeed, BrtVehicles } from '../contract.ts'

/** The latest window per line: the table shows "now", not history. */
export function latestPerLine(items: BrtLineSpeed[]): BrtLineSpeed[] {
  const byLine = new Map<string, BrtLineSpeed>()
  for (const s of items) {
    const cur = byLine.get(s.line)
    if (!cur || (parseTime(s.windowStart) ?? 0) > (parseTime(cur.windowStart) ?? 0)) byLine.set(s.line, s)
  }
  return [...byLine.values()].sort((a, b) => a.line.localeCompare(b.line, undefined, { numeric: true }))
}

/** Colours of the captures chart: new positions, repeats (normal), and rows that are bad data. */
const CAPTURE_COLORS = { fresh: '#3b82f6', repeated: '#93c5fd', flagged: '#f97316' }

/**
 * How the rows of one capture split, for the chart. The feed repeats a vehicle's last position
 * until it sends a new one (parked buses, slow modems): a third of every capture, and normal, so
 * repeats are drawn as such, apart from the rows that are bad data (invalid position, stale time).
 * The counts overlap (a stale row is often a repeat too): flagged rows come first, the repeats
 * drawn are those left, and the rest are new positions.
 */
export function captureSplit(c: BrtCapture): { flagged: number; repeated: number; fresh: number } {
  const flagged = Math.min(c.vehicles, c.invalidPositions + c.stale)
  const repeated = Math.min(c.vehicles - flagged, c.duplicates)
  return { flagged, repeated, fresh: c.vehicles - flagged - repeated }
}

function CapturesChart({ captures }: { captures: BrtCapture[] }) {
  const [ref, width] = useWidth<HTMLDivElement>()
  const ordered = [...captures].sort((a, b) => (parseTime(a.capturedAt) ?? 0) - (parseTime(b.capturedAt) ?? 0))
  const w = Math.max(200, width)
  const height = 120
  const max = Math.max(1, ...ordered.map((c) => c.vehicles))
  const pad = { l: Math.ceil(String(max).length * 6.2) + 10, r: 6, t: 8, b: 20 }
  const innerH = height - pad.t - pad.b
  const slot = (w - pad.l - pad.r) / Math.max(1, ordered.length)
  const barW = Math.max(2, Math.min(20, slot * 0.7))
  const every = Math.ceil(ordered.length / Math.max(1, Math.floor((w - pad.l) / 60)))
  return (
    <div ref={ref} class="chart">
      <svg width={w} height={height} role="img" aria-label="Vehicles per capture: new positions, repeats of the previous capture, invalid or stale rows">
        <line x1={pad.l} x2={w - pad.r} y1={pad.t} y2={pad.t} class="gridline" />
        <line x1={pad.l} x2={w - pad.r} y1={pad.t + innerH} y2={pad.t + innerH} class="gridline" />
        <text x={pad.l - 5} y={pad.t + 4} class="axis" text-anchor="end">
          {max}
        </text>
        <text x={pad.l - 5} y={pad.t + innerH + 4} class="axis" text-anchor="end">
          0
        </text>
        {ordered.map((c, i) => {
          const split = captureSplit(c)
          const x = pad.l + i * slot + (slot - barW) / 2
          const hOf = (n: number) => (n / max) * innerH
          // Bottom to top: flagged (bad data), then new positions, then repeats.
          const yFlagged = pad.t + innerH - hOf(split.flagged)
          const yFresh = yFlagged - hOf(split.fresh)
          const yRepeated = yFresh - hOf(split.repeated)
          return (
            <g key={c.capturedAt} data-capture={c.capturedAt}>
              <title>{`${fullTime(Date.parse(c.capturedAt))}\n${c.vehicles} vehicles: ${split.fresh} new positions, ${split.repeated} repeated from the previous capture\n${c.invalidPositions} invalid positions · ${c.stale} stale`}</title>
              {split.flagged > 0 ? <rect x={x} y={yFlagged} width={barW} height={hOf(split.flagged)} fill={CAPTURE_COLORS.flagged} data-part="flagged" /> : null}
              {split.fresh > 0 ? <rect x={x} y={yFresh} width={barW} height={hOf(split.fresh)} fill={CAPTURE_COLORS.fresh} data-part="fresh" /> : null}
              {split.repeated > 0 ? <rect x={x} y={yRepeated} width={barW} height={hOf(split.repeated)} fill={CAPTURE_COLORS.repeated} data-part="repeated" /> : null}
              {i % every === 0 ? (
                <text x={x + barW / 2} y={height - 5} class="axis" text-anchor="middle">
                  {clockTime(c.capturedAt).slice(0, 5)}
                </text>
              ) : null}
            </g>
          )
        })}
      </svg>
    </div>
  )
}

export function BrtPage() {
  useTimePrefs()
  const vehicles = useApi<BrtVehicles>('/brt/vehicles')
  const speeds = useApi<{ items: BrtLineSpeed[] }>('/brt/line-speeds')
  const captures = useApi<{ items: BrtCapture[] }>('/brt/captures?limit=60')
  const buffer = useApi<BrtBuffer>('/brt/buffer')
  const now = useNow(5000)
  const reloadAll = () => {
    vehicles.reload()
    speeds.reload()
    captures.reload()
    buffer.reload()
  }
  const refresh = useDebounced(reloadAll, 1000)
  // A BRT run ending means new captures or a new file in gold: refresh right away.
  useLiveEvent('flow-run', (run) => {
    if ((!run.flowName || /brt/i.test(run.flowName)) && (run.state === 'success' || run.state === 'failed')) refresh()
  })
  useInterval(reloadAll, 15_000)

  if (vehicles.error instanceof ApiError && vehicles.error.status === 404) {
    return (
      <div class="page brt">
        <div class="page-head">
          <h1>BRT data</h1>
        </div>
        <Empty>The BRT pipeline is not installed on this server (no /api/brt routes).</Empty>
      </div>
    )
  }

  const vs = vehicles.data?.items ?? []
  const lines = latestPerLine(speeds.data?.items ?? [])
  const caps = captures.data?.items ?? []
  const latestCap = [...caps].sort((a, b) => (parseTime(b.capturedAt) ?? 0) - (parseTime(a.capturedAt) ?? 0))[0]
  const moving = vs.filter((v) => (v.speedKmh ?? 0) > 3).length
  const b = buffer.data
  const bufferPct = b && b.capturesPerFile > 0 ? Math.min(100, (b.captures / b.capturesPerFile) * 100) : 0

  return (
    <div class="page brt">
      <div class="page-head">
        <h1>BRT data</h1>
        <span class="muted">
          positions from gold {vehicles.data?.generatedAt ? <Time iso={vehicles.data.generatedAt} /> : null}
        </span>
      </div>
      <div class="kpis">
        <div class="kpi">
          <span class="kpi-label">Vehicles on map</span>
          <span class="kpi-value" data-testid="vehicle-count">
            {vehicles.data ? formatNumber(vs.length) : '…'}
          </span>
        </div>
        <div class="kpi">
          <span class="kpi-label">Moving</span>
          <span class="kpi-value">{vehicles.data ? formatNumber(moving) : '…'}</span>
        </div>
        <div class="kpi">
          <span class="kpi-label">Lines in service</span>
          <span class="kpi-value">{speeds.data ? formatNumber(lines.length) : '…'}</span>
        </div>
        <div class="kpi">
          <span class="kpi-label">Buffer</span>
          <span class="kpi-value" data-testid="buffer">
            {b ? `${b.captures}/${b.capturesPerFile}` : '…'}
          </span>
          <span class="meter" aria-hidden="true">
            <span style={{ width: `${bufferPct}%` }} />
          </span>
          <span class="kpi-sub">{b?.oldestCaptureAt ? <>oldest <Time iso={b.oldestCaptureAt} /></> : 'captures until the next file'}</span>
        </div>
      </div>
      <div class="grid grid-main">
        <Card title="Latest vehicle positions" class="span-3">
          {vehicles.error ? <ErrorBox error={vehicles.error} onRetry={vehicles.reload} /> : !vehicles.data ? <Loading /> : <BrtMap vehicles={vs} now={now} />}
          {vehicles.data && !vs.length ? <Empty>No positions in gold yet: the first file lands when the buffer fills.</Empty> : null}
        </Card>
        <Card title="Speed per line" class="span-2" actions={lines[0] ? <span class="muted">window from <Time iso={lines[0].windowStart} /></span> : null}>
          {speeds.error ? (
            <ErrorBox error={speeds.error} />
          ) : !speeds.data ? (
            <Loading />
          ) : !lines.length ? (
            <Empty>No line speeds yet.</Empty>
          ) : (
            <div class="table-wrap tall" tabIndex={0} role="region" aria-label="Speed per line (scrolls)">
              <table class="table speeds-table">
                <thead>
                  <tr>
                    <th>Line</th>
                    <th class="num">Vehicles</th>
                    <th class="num">Avg km/h</th>
                    <th class="num hide-sm">P90 km/h</th>
                    <th>Moving</th>
                  </tr>
                </thead>
                <tbody>
                  {lines.map((l) => (
                    <tr key={l.line} data-line={l.line}>
                      <td class="nowrap">
                        <span class="swatch" style={{ background: lineColor(l.line) }} /> <strong>{l.line}</strong>
                      </td>
                      <td class="num">{formatNumber(l.vehiclesInService)}</td>
                      <td class="num">{formatNumber(l.avgSpeedKmh, 1)}</td>
                      <td class="num hide-sm">{formatNumber(l.p90SpeedKmh, 1)}</td>
                      <td>
                        <span class="bar-cell" data-share={l.shareMoving ?? ''}>
                          <span class="bar-track" aria-hidden="true">
                            <span class="bar" style={{ width: `${Math.round((l.shareMoving ?? 0) * 100)}%` }} />
                          </span>
                          <span class="pct">{l.shareMoving === null ? '—' : `${Math.round(l.shareMoving * 100)}%`}</span>
                        </span>
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </Card>
        <Card title="Captures" actions={latestCap ? <span class="muted">last <Time iso={latestCap.capturedAt} /></span> : null}>
          {captures.error ? (
            <ErrorBox error={captures.error} />
          ) : !captures.data ? (
            <Loading />
          ) : !caps.length ? (
            <Empty>No captures yet.</Empty>
          ) : (
            <>
              <CapturesChart captures={caps} />
              <p class="legend-line">
                <span class="swatch" style={{ background: CAPTURE_COLORS.fresh }} /> new positions <span class="swatch" style={{ background: CAPTURE_COLORS.repeated }} /> repeated (normal: the feed repeats a vehicle until it moves){' '}
                <span class="swatch" style={{ background: CAPTURE_COLORS.flagged }} /> invalid or stale
              </p>
              <div class="table-wrap">
                <table class="table compact captures-table">
                  <thead>
                    <tr>
                      <th>Captured</th>
                      <th class="num">Vehicles</th>
                      <th class="num" title="Invalid positions">Inv.</th>
                      <th class="num">Stale</th>
                      <th class="num" title="Rows that repeat the previous capture (normal)">Rep.</th>
                    </tr>
                  </thead>
                  <tbody>
                    {[...caps]
                      .sort((a, c) => (parseTime(c.capturedAt) ?? 0) - (parseTime(a.capturedAt) ?? 0))
                      .slice(0, 10)
                      .map((c) => (
                        <tr key={c.capturedAt}>
                          <td>
                            <Time iso={c.capturedAt} />
                          </td>
                          <td class="num">{formatNumber(c.vehicles)}</td>
                          <td class={c.invalidPositions ? 'num warn-text' : 'num'}>{formatNumber(c.invalidPositions)}</td>
                          <td class={c.stale ? 'num warn-text' : 'num'}>{formatNumber(c.stale)}</td>
                          <td class="num">{formatNumber(c.duplicates)}</td>
                        </tr>
                      ))}
                  </tbody>
                </table>
              </div>
            </>
          )}
        </Card>
      </div>
    </div>
  )
}
