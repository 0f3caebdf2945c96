import type { ComponentChildren } from 'preact'
import { parseTime, relativeTime } from '../format.ts'
import { useNow } from '../hooks.ts'
import { href } from '../router.ts'
import { absolute, clock, fullTime, toggleTimeMode, useTimePrefs, zoneLabel } from '../time.ts'

/** One colour per state, used by badges, charts and the Gantt so a state looks the same everywhere. */
export const STATE_COLORS: Record<string, string> = {
  scheduled: '#818cf8',
  late: '#c026d3',
  pending: '#eab308',
  running: '#3b82f6',
  retrying: '#f97316',
  success: '#16a34a',
  failed: '#dc2626',
  skipped: '#94a3b8',
  cancelling: '#a16207',
  cancelled: '#6b7280',
  crashed: '#9f1239',
}

export function stateColor(state: string): string {
  return STATE_COLORS[state] ?? '#6b7280'
}

export function StateBadge({ state, late }: { state: string; late?: boolean }) {
  const shown = late && state === 'scheduled' ? 'late' : state
  return (
    <span class={`badge state-${shown}`} style={{ '--c': stateColor(shown) }} data-state={shown}>
      {shown === 'running' || shown === 'retrying' || shown === 'cancelling' ? <span class="pulse" aria-hidden="true" /> : null}
      {shown}
    </span>
  )
}

/**
 * A run's state as a person reads it. An agent claims a run a few seconds before its time and holds
 * it `pending` until then: that is "Starting at 14:05", not a run stuck in pending.
 */
export function RunBadge({ run }: { run: { state: string; late: boolean; scheduledStartTime: string } }) {
  useTimePrefs()
  const now = useNow(1000)
  const at = parseTime(run.scheduledStartTime)
  if (run.state === 'pending' && at !== null && at > now) {
    return (
      <span class="badge starting state-pending" style={{ '--c': stateColor('pending') }} data-state="starting" title={`claimed by an agent ahead of time; starts ${fullTime(at)}`}>
        Starting at {clock(at)}
      </span>
    )
  }
  return <StateBadge state={run.state} late={run.late} />
}

/**
 * A time, absolute in the display zone with the zone named (`14:03:05 GMT-3`), or relative
 * (`5 min ago`), as the viewer chose (src/ui/time.ts). A tap or click flips every time on the
 * page between the two; the tooltip holds the other form. Inside a link, pass `toggle={false}`.
 */
export function Time({ iso, toggle = true }: { iso: string | null | undefined; toggle?: boolean }) {
  const { mode } = useTimePrefs()
  const now = useNow(mode === 'relative' ? 5000 : 30_000)
  const t = parseTime(iso)
  if (!iso || t === null) return <span class="muted">—</span>
  const rel = relativeTime(iso, now)
  const title = mode === 'absolute' ? `${rel} · ${fullTime(t)}` : fullTime(t)
  const shown =
    mode === 'absolute' ? (
      <>
        {absolute(t, now)}
        <span class="tz">{zoneLabel(t)}</span>
      </>
    ) : (
      rel
    )
  const el = (
    <time dateTime={iso} title={title} data-mode={mode}>
      {shown}
    </time>
  )
  if (!toggle) return el
  return (
    <button type="button" class="time-toggle" onClick={toggleTimeMode} title={`${title} — show ${mode === 'absolute' ? 'relative' : 'absolute'} times`}>
      {el}
    </button>
  )
}

/** The earlier name of `Time`, kept for plugins' pages. */
export const TimeAgo = Time

export function ErrorBox({ error, onRetry }: { error: Error; onRetry?: () => void }) {
  return (
    <div class="error-box" role="alert">
      <strong>Something went wrong.</strong> {error.message}
      {onRetry ? (
        <button type="button" class="btn small" onClick={onRetry}>
          Try again
        </button>
      ) : null}
    </div>
  )
}

/** The page for something that is not there: what was asked for, why it may be missing, where to go. */
export function NotFound({ title = 'Page not found', children }: { title?: string; children?: ComponentChildren }) {
  return (
    <div class="page not-found" data-testid="not-found">
      <p class="big" aria-hidden="true">
        404
      </p>
      <h1>{title}</h1>
      <div class="lead">{children ?? <p>There is no page at this address.</p>}</div>
      <p>
        <a href={href('runs')}>See all runs</a> · <a href={href('flows')}>Flows</a> · <a href="#/">Dashboard</a>
      </p>
    </div>
  )
}

export function Loading({ label = 'Loading…' }: { label?: string }) {
  return (
    <div class="loading" aria-busy="true">
      {label}
    </div>
  )
}

export function Card({ title, actions, children, class: cls }: { title?: ComponentChildren; actions?: ComponentChildren; children: ComponentChildren; class?: string }) {
  return (
    <section class={`card ${cls ?? ''}`}>
      {title || actions ? (
        <header class="card-head">
          {title ? <h2>{title}</h2> : null}
          {actions ? <div class="card-actions">{actions}</div> : null}
        </header>
      ) : null}
      {children}
    </section>
  )
}

export function Empty({ children }: { children: ComponentChildren }) {
  return <p class="empty">{children}</p>
}

/** A tiny legend of coloured squares, for charts. */
export function Legend({ items }: { items: { label: string; color: string }[] }) {
  return (
    <ul class="legend">
      {items.map((i) => (
        <li key={i.label}>
          <span class="swatch" style={{ background: i.color }} />
          {i.label}
        </li>
      ))}
    </ul>
  )
}

export function Json({ value }: { value: unknown }) {
  return <pre class="json">{JSON.stringify(value, null, 2)}</pre>
}

/** A stack trace, collapsed under one line: it is long, and only the person debugging wants it. */
export function StackTrace({ stack, label = 'Stack trace' }: { stack: string; label?: string }) {
  return (
    <details class="stack-trace" data-testid="stack-trace">
      <summary>{label}</summary>
      <pre>{stack}</pre>
    </details>
  )
}
