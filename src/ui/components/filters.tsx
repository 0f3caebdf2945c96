/**
 * Filters whose state lives in the URL (`#/runs?state=failed,crashed&flow=brt-gps&q=otter`), so a
 * filtered view can be bookmarked, shared and reloaded, and Back undoes a change. A page reads its
 * filters from `route.query` and writes them with `setQuery`; the widgets here only render and
 * report changes. Reuse them for any list (automations, pools, backfills): see docs/ui.md.
 */
import { useEffect, useRef, useState } from 'preact/hooks'
import type { Route } from '../router.ts'

/** A comma-separated list in the query (`state=failed,crashed`) as an array. */
export function listParam(route: Route, name: string): string[] {
  return (route.query.get(name) ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
}

/**
 * Replaces some query parameters of the current page (empty values and empty lists are dropped),
 * as a new history entry, so Back goes to the previous filters.
 */
export function setQuery(route: Route, changes: Record<string, string | readonly string[] | null | undefined>): void {
  const q = new URLSearchParams(route.query)
  for (const [k, v] of Object.entries(changes)) {
    const value = Array.isArray(v) ? v.join(',') : (v as string | null | undefined)
    if (value === undefined || value === null || value === '') q.delete(k)
    else q.set(k, value)
  }
  const path = route.path.map(encodeURIComponent).join('/')
  const text = q.toString()
  location.hash = `#/${path}${text ? `?${text}` : ''}`
}

/** A dropdown of checkboxes: several values of one field (states, flows). Closes on Escape or a click elsewhere. */
export function MultiSelect({
  label,
  name,
  options,
  selected,
  onChange,
}: {
  label: string
  name: string
  options: readonly { value: string; label: string }[]
  selected: readonly string[]
  onChange: (values: string[]) => void
}) {
  const ref = useRef<HTMLDetailsElement>(null)
  useEffect(() => {
    const close = (e: Event) => {
      const el = ref.current
      if (!el?.open) return
      if (e instanceof KeyboardEvent ? e.key === 'Escape' : !el.contains(e.target as Node)) {
        el.open = false
        if (e instanceof KeyboardEvent) el.querySelector('summary')?.focus()
      }
    }
    document.addEventListener('click', close)
    document.addEventListener('keydown', close)
    return () => {
      document.removeEventListener('click', close)
      document.removeEventListener('keydown', close)
    }
  }, [])
  const summary = selected.length === 0 ? 'all' : selected.length <= 2 ? selected.join(', ') : `${selected.length} selected`
  return (
    <details class="multi" ref={ref} data-filter={name}>
      <summary aria-label={`${label}: ${summary}`}>
        <span class="muted">{label}:</span> {summary}
      </summary>
      <div class="multi-menu" role="group" aria-label={label}>
        {options.map((o) => (
          <label key={o.value}>
            <input
              type="checkbox"
              name={name}
              value={o.value}
              checked={selected.includes(o.value)}
              onChange={(e) => onChange(e.currentTarget.checked ? [...selected, o.value] : selected.filter((v) => v !== o.value))}
            />
            {o.label}
          </label>
        ))}
        {selected.length ? (
          <button type="button" class="btn small" onClick={() => onChange([])}>
            Any {label.toLowerCase()}
          </button>
        ) : null}
      </div>
    </details>
  )
}

/** A search box that reports its text after the typing stops (one URL change per search, not per key). */
export function SearchBox({ value, onSearch, label, placeholder }: { value: string; onSearch: (text: string) => void; label: string; placeholder?: string }) {
  const [text, setText] = useState(value)
  const timer = useRef<ReturnType<typeof setTimeout> | null>(null)
  useEffect(() => setText(value), [value])
  useEffect(
    () => () => {
      if (timer.current) clearTimeout(timer.current)
    },
    [],
  )
  return (
    <input
      type="search"
      class="search"
      aria-label={label}
      placeholder={placeholder}
      value={text}
      onInput={(e) => {
        const next = e.currentTarget.value
        setText(next)
        if (timer.current) clearTimeout(timer.current)
        timer.current = setTimeout(() => onSearch(next.trim()), 350)
      }}
      onKeyDown={(e) => {
        if (e.key !== 'Enter') return
        if (timer.current) clearTimeout(timer.current)
        onSearch(text.trim())
      }}
    />
  )
}

/** Tabs that switch a view (Past / Upcoming); the chosen one is a query parameter too. */
export function Tabs<T extends string>({ tabs, current, onChange, label }: { tabs: readonly { id: T; label: string }[]; current: T; onChange: (id: T) => void; label: string }) {
  return (
    <div class="tabs" role="tablist" aria-label={label}>
      {tabs.map((t) => (
        <button key={t.id} type="button" role="tab" class="tab" aria-selected={current === t.id} data-tab={t.id} onClick={() => onChange(t.id)}>
          {t.label}
        </button>
      ))}
    </div>
  )
}
