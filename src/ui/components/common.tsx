import type { ComponentChildren } from 'preact'
import { absoluteTime, relativeTime } from '../format.ts'
import { useNow } from '../hooks.ts'

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

export function TimeAgo({ iso }: { iso: string | null | undefined }) {
  const now = useNow(5000)
  if (!iso) return <span class="muted">—</span>
  return (
    <time dateTime={iso} title={absoluteTime(iso)}>
      {relativeTime(iso, now)}
    </time>
  )
}

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
