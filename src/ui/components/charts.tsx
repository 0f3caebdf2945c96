/**
 * Hand-drawn SVG charts: no chart library, so the bundle stays small and works offline.
 * Each chart measures its container and draws at real pixel size (crisp text at any width).
 * Axis labels are measured (about 6.2 px a character at 10.5 px) so the margin fits the longest
 * one: "1 min 40 s" is never cut to "min 40 s". Times on axes are in the display zone (time.ts).
 */
import type { RefObject } from 'preact'
import { useEffect, useRef, useState } from 'preact/hooks'
import { formatDuration, parseTime } from '../format.ts'
import { clock, fullTime, shortDate, useTimePrefs, zoneLabel, zoneOffsetMinutes } from '../time.ts'
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

/** Width in pixels of an axis label (10.5 px tabular figures): enough room, never cut. */
export function labelWidth(text: string): number {
  return Math.ceil(text.length * 6.2)
}

function niceMax(v: number): number {
  if (v <= 0) return 1
  const p = 10 ** Math.floor(Math.log10(v))
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p
  return 10 * p
}

/** A round duration at least `ms` (1 s, 2 s, 5 s … 1 min, 2 min … 1 h …), so axis labels read well. */
export function niceDuration(ms: number): number {
  const steps = [1, 2, 5, 10, 15, 20, 30, 60, 120, 300, 600, 900, 1200, 1800, 3600, 7200, 10_800, 21_600, 43_200, 86_400].map((s) => s * 1000)
  for (const s of steps) if (s >= ms) return s
  return Math.ceil(ms / 86_400_000) * 86_400_000
}

/**
 * Ticks for a time axis from t0 to t1, at most `max` of them, on round instants of the display
 * zone (every 15 minutes, every 6 hours, every day…), labelled as a clock or a date.
 */
export function timeTicks(t0: number, t1: number, max: number): { t: number; label: string }[] {
  const span = Math.max(1, t1 - t0)
  const steps = [1, 5, 10, 15, 30, 60, 120, 180, 360, 720, 1440, 2880, 10_080].map((m) => m * 60_000)
  const step = steps.find((s) => span / s <= Math.max(1, max)) ?? Math.ceil(span / max / 86_400_000) * 86_400_000
  const offset = zoneOffsetMinutes(t0) * 60_000
  const first = Math.ceil((t0 + offset) / step) * step - offset
  const ticks: { t: number; label: string }[] = []
  for (let t = first; t <= t1 && ticks.length < 100; t += step) ticks.push({ t, label: step >= 86_400_000 ? shortDate(t) : clock(t, false) })
  return ticks
}

/** Order in which states stack, bottom to top: outcomes first, then the in-flight ones. */
const STACK_ORDER = ['success', 'failed', 'crashed', 'cancelled', 'skipped', 'retrying', 'running', 'pending', 'cancelling', 'scheduled']

export function RunsByStateChart({ buckets, height = 180 }: { buckets: StatsBucket[]; height?: number }) {
  const [ref, width] = useWidth<HTMLDivElement>()
  useTimePrefs()
  const totals = buckets.map((b) => Object.values(b.counts).reduce((a, n) => a + n, 0))
  const max = niceMax(Math.max(0, ...totals))
  const pad = { l: labelWidth(String(max)) + 10, r: 8, t: 10, b: 22 }
  const w = Math.max(200, width)
  const innerW = w - pad.l - pad.r
  const innerH = height - pad.t - pad.b
  const slot = innerW / Math.max(1, buckets.length)
  const barW = Math.max(2, slot * 0.72)
  const states = [...STACK_ORDER, ...new Set(buckets.flatMap((b) => Object.keys(b.counts)).filter((s) => !STACK_ORDER.includes(s)))]
  const labelEvery = Math.ceil(buckets.length / Math.max(1, Math.floor(innerW / 46)))
  const last = parseTime(buckets.at(-1)?.start)
  return (
    <div ref={ref} class="chart">
      <svg width={w} height={height} role="img" aria-label={`Flow runs by state per hour${last === null ? '' : `, times in ${zoneLabel(last)}`}`}>
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
                {`${start === null ? b.start : fullTime(start)}: ${total} runs\n` +
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
                  {clock(start, false)}
                </text>
              ) : null}
            </g>
          )
        })}
      </svg>
    </div>
  )
}

/** Duration axis: round maximum, labels at 0, ½ and the top, margin fitted to the longest label. */
function durationAxis(durations: readonly number[]): { max: number; ticks: { f: number; label: string }[]; width: number } {
  const max = niceDuration(Math.max(1000, ...durations))
  const ticks = [0, 0.5, 1].map((f) => ({ f, label: formatDuration(max * f) }))
  return { max, ticks, width: Math.max(...ticks.map((t) => labelWidth(t.label))) + 12 }
}

/** Durations of recent runs as bars (oldest left), coloured by state; a click opens the run. */
export function RunHistoryChart({ runs, now, height = 170 }: { runs: FlowRun[]; now: number; height?: number }) {
  const [ref, width] = useWidth<HTMLDivElement>()
  useTimePrefs()
  const ordered = [...runs].reverse()
  const durations = ordered.map((r) => {
    const s = parseTime(r.startTime)
    if (s === null) return 0
    return (parseTime(r.endTime) ?? now) - s
  })
  const axis = durationAxis(durations)
  const pad = { l: axis.width, r: 8, t: 10, b: 22 }
  const w = Math.max(200, width)
  const innerW = w - pad.l - pad.r
  const innerH = height - pad.t - pad.b
  const slot = innerW / Math.max(1, ordered.length)
  const barW = Math.max(2, Math.min(26, slot * 0.75))
  const labelEvery = Math.ceil(ordered.length / Math.max(1, Math.floor(innerW / 60)))
  return (
    <div ref={ref} class="chart">
      <svg width={w} height={height} role="group" aria-label="Run durations">
        {axis.ticks.map(({ f, label }) => {
          const y = pad.t + innerH * (1 - f)
          return (
            <g key={f}>
              <line x1={pad.l} x2={w - pad.r} y1={y} y2={y} class="gridline" />
              <text x={pad.l - 6} y={y + 4} class="axis" text-anchor="end" data-testid="duration-label">
                {label}
              </text>
            </g>
          )
        })}
        {ordered.map((r, i) => {
          const d = durations[i] ?? 0
          const h = d > 0 ? Math.max(3, (d / axis.max) * innerH) : 3
          const x = pad.l + i * slot + (slot - barW) / 2
          const at = parseTime(r.startTime ?? r.scheduledStartTime)
          return (
            // The time label sits beside the link, not in it: a link's name is what it says (axe: label-content-name-mismatch).
            <g key={r.id}>
              <a href={href('runs', r.id)} aria-label={`${r.name}: ${r.state}, ${formatDuration(d || null)}`}>
                <title>{`${r.name} — ${r.state}${r.late ? ' (late)' : ''}\n${formatDuration(d || null)}\n${at === null ? '' : fullTime(at)}`}</title>
                <rect x={pad.l + i * slot} y={pad.t} width={slot} height={innerH} fill="transparent" />
                <rect x={x} y={pad.t + innerH - h} width={barW} height={h} fill={stateColor(r.state)} rx={2} />
              </a>
              {i % labelEvery === 0 && at !== null ? (
                <text x={x + barW / 2} y={height - 6} class="axis" text-anchor="middle">
                  {clock(at, false)}
                </text>
              ) : null}
            </g>
          )
        })}
      </svg>
    </div>
  )
}

/**
 * Duration over time, one dot per finished or running run (as Prefect's runs page): x is when it
 * started, y how long it took, colour its state. Outliers and slow drifts show at a glance; a
 * click opens the run.
 */
export function DurationScatter({ runs, now, height = 190 }: { runs: FlowRun[]; now: number; height?: number }) {
  const [ref, width] = useWidth<HTMLDivElement>()
  useTimePrefs()
  const points = runs.flatMap((r) => {
    const s = parseTime(r.startTime)
    if (s === null) return []
    return [{ run: r, t: s, d: (parseTime(r.endTime) ?? now) - s }]
  })
  const axis = durationAxis(points.map((p) => p.d))
  const pad = { l: axis.width, r: 14, t: 10, b: 24 }
  const w = Math.max(240, width)
  const innerW = w - pad.l - pad.r
  const innerH = height - pad.t - pad.b
  const t0 = Math.min(...points.map((p) => p.t))
  const t1 = Math.max(...points.map((p) => p.t), t0 + 60_000)
  const x = (t: number) => pad.l + ((t - t0) / (t1 - t0)) * innerW
  const y = (d: number) => pad.t + innerH - (d / axis.max) * innerH
  const ticks = points.length ? timeTicks(t0, t1, Math.max(2, Math.floor(innerW / 90))) : []
  return (
    <div ref={ref} class="chart">
      <svg width={w} height={height} role="group" aria-label={`Run durations over time, times in ${zoneLabel(t1)}`} data-testid="duration-scatter">
        {axis.ticks.map(({ f, label }) => (
          <g key={f}>
            <line x1={pad.l} x2={w - pad.r} y1={pad.t + innerH * (1 - f)} y2={pad.t + innerH * (1 - f)} class="gridline" />
            <text x={pad.l - 6} y={pad.t + innerH * (1 - f) + 4} class="axis" text-anchor="end" data-testid="duration-label">
              {label}
            </text>
          </g>
        ))}
        {ticks.map(({ t, label }) => (
          <text key={t} x={x(t)} y={height - 6} class="axis" text-anchor={x(t) < pad.l + labelWidth(label) / 2 ? 'start' : x(t) > w - labelWidth(label) / 2 ? 'end' : 'middle'}>
            {label}
          </text>
        ))}
        {points.map((p) => (
          <a key={p.run.id} href={href('runs', p.run.id)} data-run={p.run.id} aria-label={`${p.run.name}: ${p.run.state}, ${formatDuration(p.d)}`}>
            <title>{`${p.run.name} (${p.run.flowName}) — ${p.run.state}\n${formatDuration(p.d)}, started ${fullTime(p.t)}`}</title>
            <circle class="point" cx={x(p.t)} cy={y(p.d)} r={4.5} fill={stateColor(p.run.state)} />
          </a>
        ))}
      </svg>
    </div>
  )
}

/**
 * Task runs on a shared time axis, one row each; a task that was retried shows each attempt as its
 * own bar (a failed attempt red, the wait before the next dashed), so retries are visible at a
 * glance. Running bars grow with `now`.
 */
export function Gantt({ taskRuns, runStart, runEnd, now }: { taskRuns: TaskRun[]; runStart: string | null; runEnd: string | null; now: number }) {
  const [ref, width] = useWidth<HTMLDivElement>()
  const rows = [...taskRuns].sort((a, b) => (parseTime(a.startTime) ?? Infinity) - (parseTime(b.startTime) ?? Infinity) || a.position - b.position)
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
          // One bar per attempt when the attempts are known; else one bar for the task run.
          const attempts =
            t.attemptLog.length > 0
              ? t.attemptLog.map((a) => ({ attempt: a.attempt, state: a.state, s: parseTime(a.startTime) ?? t0, e: parseTime(a.endTime) ?? (t.endTime ? (parseTime(t.endTime) ?? now) : now), message: a.message }))
              : s !== null && e !== null
                ? [{ attempt: t.attempts, state: t.state, s, e, message: t.message }]
                : []
          return (
            <g key={t.id} data-task={t.taskName} data-attempts={attempts.length}>
              <title>{`${t.taskName}: ${t.state}${t.attempts > 1 ? ` after ${t.attempts} attempts` : ''}\n${s !== null && e !== null ? formatDuration(e - s) : 'not started'}${t.message ? `\n${t.message}` : ''}`}</title>
              {i % 2 === 0 ? <rect x={0} y={y} width={w} height={rowH} class="row-stripe" /> : null}
              <text x={6} y={y + 17} class="gantt-label">
                {t.taskName.length > 26 ? `${t.taskName.slice(0, 25)}…` : t.taskKey !== t.taskName ? `${t.taskKey}` : t.taskName}
              </text>
              {attempts.length === 0 ? (
                <text x={labelW + 4} y={y + 17} class="axis">
                  {t.state}
                </text>
              ) : null}
              {attempts.map((a, j) => {
                const next = attempts[j + 1]
                return (
                  <g key={a.attempt} data-attempt={a.attempt} data-state={a.state}>
                    <title>{`attempt ${a.attempt}: ${a.state}, ${formatDuration(a.e - a.s)}${a.message ? `\n${a.message}` : ''}`}</title>
                    <rect x={x(a.s)} y={y + 5} width={Math.max(3, x(a.e) - x(a.s))} height={rowH - 10} rx={3} fill={stateColor(a.state)} />
                    {next ? <line x1={x(a.e)} x2={x(next.s)} y1={y + rowH / 2} y2={y + rowH / 2} class="gap-line" /> : null}
                  </g>
                )
              })}
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
