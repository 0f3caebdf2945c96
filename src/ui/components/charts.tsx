/**
 * Hand-drawn SVG charts: no chart library, so the bundle stays small and works offline.
 * Each chart measures its container and draws at real pixel size (crisp text at any width).
 */
import type { RefObject } from 'preact'
import { useEffect, useRef, useState } from 'preact/hooks'
import { clockTime, formatDuration, parseTime } from '../format.ts'
import type { FlowRun, StatsBucket, TaskRun } from '../types.ts'
import { STATE_COLORS, stateColor } from './common.tsx'
import { href } from '../router.ts'

export function useWidth<T extends HTMLElement>(fallback = 640): [RefObject<T>, number] {
  const ref = useRef<T>(null)
  const [width, setWidth] = useState(fallback)
  useEffect(() => {
    const el = ref.current
    if (!el) return
    setWidth(el.clientWidth || fallback)
    const ro = new ResizeObserver((entries) => {
      const w = entries[0]?.contentRect.width
      if (w) setWidth(Math.floor(w))
    })
    ro.observe(el)
    return () => ro.disconnect()
  }, [fallback])
  return [ref, width]
}

function niceMax(v: number): number {
  if (v <= 0) return 1
  const p = 10 ** Math.floor(Math.log10(v))
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p
  return 10 * p
}

/** Order in which states stack, bottom to top: outcomes first, then the in-flight ones. */
const STACK_ORDER = ['success', 'failed', 'crashed', 'cancelled', 'skipped', 'retrying', 'running', 'pending', 'cancelling', 'scheduled']

export function RunsByStateChart({ buckets, height = 180 }: { buckets: StatsBucket[]; height?: number }) {
  const [ref, width] = useWidth<HTMLDivElement>()
  const pad = { l: 34, r: 8, t: 10, b: 22 }
  const w = Math.max(200, width)
  const innerW = w - pad.l - pad.r
  const innerH = height - pad.t - pad.b
  const totals = buckets.map((b) => Object.values(b.counts).reduce((a, n) => a + n, 0))
  const max = niceMax(Math.max(0, ...totals))
  const slot = innerW / Math.max(1, buckets.length)
  const barW = Math.max(2, slot * 0.72)
  const states = [...STACK_ORDER, ...new Set(buckets.flatMap((b) => Object.keys(b.counts)).filter((s) => !STACK_ORDER.includes(s)))]
  const labelEvery = Math.ceil(buckets.length / Math.max(1, Math.floor(innerW / 46)))
  return (
    <div ref={ref} class="chart">
      <svg width={w} height={height} role="img" aria-label="Flow runs by state per hour">
        {[0, 0.5, 1].map((f) => {
          const y = pad.t + innerH * (1 - f)
          return (
            <g key={f}>
              <line x1={pad.l} x2={w - pad.r} y1={y} y2={y} class="gridline" />
              <text x={pad.l - 6} y={y + 4} class="axis" text-anchor="end">
                {Math.round(max * f)}
              </text>
            </g>
          )
        })}
        {buckets.map((b, i) => {
          const x = pad.l + i * slot + (slot - barW) / 2
          let y = pad.t + innerH
          const total = totals[i] ?? 0
          const start = parseTime(b.start)
          return (
            <g key={b.start}>
              <title>
                {`${start === null ? b.start : new Date(start).toLocaleString()}: ${total} runs\n` +
                  Object.entries(b.counts)
                    .filter(([, n]) => n > 0)
                    .map(([s, n]) => `${s}: ${n}`)
                    .join('\n')}
              </title>
              <rect x={pad.l + i * slot} y={pad.t} width={slot} height={innerH} fill="transparent" />
              {states.map((s) => {
                const n = b.counts[s] ?? 0
                if (!n) return null
                const h = (n / max) * innerH
                y -= h
                return <rect key={s} x={x} y={y} width={barW} height={Math.max(1, h)} fill={stateColor(s)} rx={1.5} />
              })}
              {i % labelEvery === 0 && start !== null ? (
                <text x={x + barW / 2} y={height - 6} class="axis" text-anchor="middle">
                  {new Date(start).toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit', hour12: false })}
                </text>
              ) : null}
            </g>
          )
        })}
      </svg>
    </div>
  )
}

/** Durations of recent runs as bars (oldest left), coloured by state; a click opens the run. */
export function RunHistoryChart({ runs, now, height = 170 }: { runs: FlowRun[]; now: number; height?: number }) {
  const [ref, width] = useWidth<HTMLDivElement>()
  const pad = { l: 50, r: 8, t: 10, b: 22 }
  const w = Math.max(200, width)
  const innerW = w - pad.l - pad.r
  const innerH = height - pad.t - pad.b
  const ordered = [...runs].reverse()
  const durations = ordered.map((r) => {
    const s = parseTime(r.startTime)
    if (s === null) return 0
    return (parseTime(r.endTime) ?? now) - s
  })
  const max = niceMax(Math.max(1000, ...durations))
  const slot = innerW / Math.max(1, ordered.length)
  const barW = Math.max(2, Math.min(26, slot * 0.75))
  const labelEvery = Math.ceil(ordered.length / Math.max(1, Math.floor(innerW / 60)))
  return (
    <div ref={ref} class="chart">
      <svg width={w} height={height} role="img" aria-label="Run durations">
        {[0, 0.5, 1].map((f) => {
          const y = pad.t + innerH * (1 - f)
          return (
            <g key={f}>
              <line x1={pad.l} x2={w - pad.r} y1={y} y2={y} class="gridline" />
              <text x={pad.l - 6} y={y + 4} class="axis" text-anchor="end">
                {formatDuration(max * f)}
              </text>
            </g>
          )
        })}
        {ordered.map((r, i) => {
          const d = durations[i] ?? 0
          const h = d > 0 ? Math.max(3, (d / max) * innerH) : 3
          const x = pad.l + i * slot + (slot - barW) / 2
          return (
            <a key={r.id} href={href('runs', r.id)}>
              <title>{`${r.name} — ${r.state}${r.late ? ' (late)' : ''}\n${formatDuration(d || null)}\n${r.startTime ?? r.scheduledStartTime ?? ''}`}</title>
              <rect x={pad.l + i * slot} y={pad.t} width={slot} height={innerH} fill="transparent" />
              <rect x={x} y={pad.t + innerH - h} width={barW} height={h} fill={stateColor(r.state)} rx={2} />
              {i % labelEvery === 0 ? (
                <text x={x + barW / 2} y={height - 6} class="axis" text-anchor="middle">
                  {clockTime(r.startTime ?? r.scheduledStartTime).slice(0, 5)}
                </text>
              ) : null}
            </a>
          )
        })}
      </svg>
    </div>
  )
}

/** Task runs on a shared time axis; running bars grow with `now`. */
export function Gantt({ taskRuns, runStart, runEnd, now }: { taskRuns: TaskRun[]; runStart: string | null; runEnd: string | null; now: number }) {
  const [ref, width] = useWidth<HTMLDivElement>()
  const rows = [...taskRuns].sort((a, b) => (parseTime(a.startTime) ?? Infinity) - (parseTime(b.startTime) ?? Infinity))
  const starts = rows.map((t) => parseTime(t.startTime)).filter((t): t is number => t !== null)
  const t0 = parseTime(runStart) ?? (starts.length ? Math.min(...starts) : now)
  const ends = rows.map((t) => parseTime(t.endTime) ?? (t.startTime ? now : null)).filter((t): t is number => t !== null)
  const t1 = Math.max(parseTime(runEnd) ?? now, ...ends, t0 + 1000)
  const w = Math.max(280, width)
  const labelW = Math.min(190, Math.floor(w * 0.34))
  const rowH = 26
  const pad = { t: 6, b: 24, r: 10 }
  const innerW = w - labelW - pad.r
  const height = pad.t + rows.length * rowH + pad.b
  const x = (t: number) => labelW + ((t - t0) / (t1 - t0)) * innerW
  const span = t1 - t0
  const ticks = Math.max(2, Math.min(5, Math.floor(innerW / 80)))
  return (
    <div ref={ref} class="chart gantt">
      <svg width={w} height={height} role="img" aria-label="Task timeline">
        {Array.from({ length: ticks + 1 }, (_, i) => {
          const t = t0 + (span * i) / ticks
          const xx = x(t)
          return (
            <g key={i}>
              <line x1={xx} x2={xx} y1={pad.t} y2={height - pad.b} class="gridline" />
              <text x={xx} y={height - 8} class="axis" text-anchor={i === 0 ? 'start' : i === ticks ? 'end' : 'middle'}>
                {`+${formatDuration(t - t0)}`}
              </text>
            </g>
          )
        })}
        {rows.map((t, i) => {
          const y = pad.t + i * rowH
          const s = parseTime(t.startTime)
          const e = parseTime(t.endTime) ?? (s !== null ? now : null)
          const color = stateColor(t.state)
          return (
            <g key={t.id} data-task={t.taskName}>
              <title>{`${t.taskName}: ${t.state}${t.attempts > 1 ? ` (attempt ${t.attempts})` : ''}\n${s !== null && e !== null ? formatDuration(e - s) : 'not started'}${t.message ? `\n${t.message}` : ''}`}</title>
              {i % 2 === 0 ? <rect x={0} y={y} width={w} height={rowH} class="row-stripe" /> : null}
              <text x={6} y={y + 17} class="gantt-label">
                {t.taskName.length > 26 ? `${t.taskName.slice(0, 25)}…` : t.taskName}
              </text>
              {s !== null && e !== null ? (
                <rect x={x(s)} y={y + 5} width={Math.max(3, x(e) - x(s))} height={rowH - 10} rx={3} fill={color} />
              ) : (
                <text x={labelW + 4} y={y + 17} class="axis">
                  {t.state}
                </text>
              )}
            </g>
          )
        })}
      </svg>
    </div>
  )
}

/** The flow's tasks in order, as a left-to-right chain that wraps; coloured by the latest states. */
export function TaskGraph({ tasks, states }: { tasks: string[]; states?: Record<string, string> }) {
  const [ref, width] = useWidth<HTMLDivElement>()
  const w = Math.max(240, width)
  const minNodeW = 140
  const nodeH = 40
  const gapX = 36
  const gapY = 30
  const perRow = Math.max(1, Math.min(tasks.length, Math.floor((w - 8 + gapX) / (minNodeW + gapX))))
  // Stretch nodes to use the width, up to a readable maximum.
  const nodeW = Math.min(210, Math.floor((w - 8 - (perRow - 1) * gapX) / perRow))
  const maxChars = Math.floor((nodeW - 20) / 7.5)
  const rows = Math.ceil(tasks.length / perRow)
  const height = Math.max(nodeH + 8, rows * (nodeH + gapY) - gapY + 8)
  const pos = tasks.map((_, i) => {
    const row = Math.floor(i / perRow)
    const col = i % perRow
    return { x: 4 + col * (nodeW + gapX), y: 4 + row * (nodeH + gapY), row, col }
  })
  return (
    <div ref={ref} class="chart">
      <svg width={w} height={height} role="img" aria-label="Task graph">
        <defs>
          <marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
            <path d="M0,0 L10,5 L0,10 z" fill="#94a3b8" />
          </marker>
        </defs>
        {pos.slice(1).map((p, i) => {
          const prev = pos[i]!
          const d =
            p.row === prev.row
              ? `M${prev.x + nodeW},${prev.y + nodeH / 2} L${p.x - 2},${p.y + nodeH / 2}`
              : `M${prev.x + nodeW / 2},${prev.y + nodeH} C${prev.x + nodeW / 2},${prev.y + nodeH + gapY} ${p.x + nodeW / 2},${p.y - gapY} ${p.x + nodeW / 2},${p.y - 2}`
          return <path key={i} d={d} class="edge" marker-end="url(#arrow)" />
        })}
        {tasks.map((name, i) => {
          const p = pos[i]!
          const state = states?.[name]
          const color = state ? stateColor(state) : '#cbd5e1'
          return (
            <g key={name} data-task={name}>
              <title>{state ? `${name}: ${state}` : name}</title>
              <rect x={p.x} y={p.y} width={nodeW} height={nodeH} rx={8} class="node" style={{ stroke: color }} />
              <rect x={p.x} y={p.y} width={6} height={nodeH} rx={3} fill={color} />
              <text x={p.x + 14} y={p.y + (state ? 17 : 25)} class="node-label">
                {name.length > maxChars ? `${name.slice(0, maxChars - 1)}…` : name}
              </text>
              {state ? (
                <text x={p.x + 14} y={p.y + 32} class="node-state" fill={color}>
                  {state}
                </text>
              ) : null}
            </g>
          )
        })}
      </svg>
    </div>
  )
}

export const STATE_LEGEND = ['success', 'failed', 'crashed', 'cancelled', 'skipped', 'running', 'retrying', 'pending', 'scheduled'].map((s) => ({
  label: s,
  color: STATE_COLORS[s] ?? '#6b7280',
}))
