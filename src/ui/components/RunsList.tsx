/**
 * Server-side paged run list (keyset cursors): only one page is ever fetched or rendered, so it stays
 * fast with 100,000 runs, whatever the filters (they are the API's: GET /api/flow-runs). Live: rows
 * on screen update in place, new runs appear on the first page, removed runs (a paused schedule's)
 * leave at once.
 */
import { useEffect, useState } from 'preact/hooks'
import { query } from '../api.ts'
import { useApi, useDebounced } from '../hooks.ts'
import { useLiveEvent } from '../live.ts'
import type { FlowRun, Page } from '../types.ts'
import { Empty, ErrorBox, Loading } from './common.tsx'
import { RunTable, type Selection } from './RunTable.tsx'

/** What a list shows: the API's filters, in the dashboard's words. */
export interface RunFilter {
  /** past: every run but the upcoming ones, newest first; upcoming: scheduled and not yet due, soonest first. */
  when?: 'past' | 'upcoming' | undefined
  states?: readonly string[] | undefined
  /** Flow names. */
  flows?: readonly string[] | undefined
  q?: string | undefined
  /** Instants (ISO): runs scheduled after / before. */
  after?: string | undefined
  before?: string | undefined
}

/** The API query of a filter (without paging). */
export function runQuery(f: RunFilter, extra: Record<string, string | number | null | undefined> = {}): string {
  return query({
    when: f.when,
    order: f.when === 'upcoming' ? 'asc' : undefined,
    state: f.states?.length ? f.states.join(',') : undefined,
    flow: f.flows?.length ? f.flows.join(',') : undefined,
    q: f.q,
    after: f.after,
    before: f.before,
    ...extra,
  })
}

function matches(f: RunFilter, run: Partial<FlowRun>): boolean {
  if (f.states?.length && run.state && !f.states.includes(run.state)) return false
  if (f.flows?.length && run.flowName && !f.flows.includes(run.flowName)) return false
  if (f.when === 'upcoming' && run.state && run.state !== 'scheduled') return false
  return true
}

export function RunsList({
  filter = {},
  pageSize = 25,
  showFlow = true,
  selection,
  onPage,
}: {
  filter?: RunFilter
  pageSize?: number
  showFlow?: boolean
  selection?: Selection
  /** The runs on screen, for a page that acts on them (bulk actions). */
  onPage?: (runs: FlowRun[]) => void
}) {
  // cursors[i] is the cursor that fetches page i; page 0 has none.
  const [cursors, setCursors] = useState<(string | null)[]>([null])
  const page = cursors.length - 1
  const cursor = cursors[page] ?? null
  const runs = useApi<Page<FlowRun>>('/flow-runs' + runQuery(filter, { limit: pageSize, cursor }))
  const refreshFirstPage = useDebounced(() => runs.reload(), 1500)
  useEffect(() => {
    if (runs.data) onPage?.(runs.data.items)
  }, [runs.data])

  useLiveEvent('flow-run', (run) => {
    if (run.complete && !matches({ flows: filter.flows }, run)) return
    const { complete: _complete, ...fields } = run
    const items = runs.data?.items ?? []
    if (items.some((r) => r.id === run.id)) {
      // A run that no longer matches (it left the upcoming list, or a filtered state) leaves the page.
      runs.setData((prev) => (prev ? { ...prev, items: prev.items.map((r) => (r.id === run.id ? { ...r, ...fields } : r)).filter((r) => matches(filter, r)) } : prev))
    } else if (page === 0 && matches(filter, run)) {
      refreshFirstPage()
    }
  })
  useLiveEvent('runs-removed', (e) => {
    runs.setData((prev) => (prev ? { ...prev, items: prev.items.filter((r) => !e.ids.includes(r.id)) } : prev))
    refreshFirstPage()
  })
  useLiveEvent('reconnect', refreshFirstPage)

  const upcoming = filter.when === 'upcoming'
  return (
    <div class="runs-list">
      {runs.error ? (
        <ErrorBox error={runs.error} onRetry={runs.reload} />
      ) : !runs.data ? (
        <Loading />
      ) : runs.data.items.length ? (
        <RunTable runs={runs.data.items} showFlow={showFlow} when={upcoming ? 'scheduled' : 'start'} selection={selection} />
      ) : (
        <Empty>{upcoming ? 'No upcoming runs.' : 'No runs match.'}</Empty>
      )}
      {page > 0 || runs.data?.nextCursor ? (
        <div class="pager">
          <span class="muted">Page {page + 1}</span>
          <button type="button" class="btn small" disabled={page === 0} onClick={() => setCursors(cursors.slice(0, -1))}>
            {upcoming ? '← Sooner' : '← Newer'}
          </button>
          <button type="button" class="btn small" disabled={!runs.data?.nextCursor} onClick={() => runs.data?.nextCursor && setCursors([...cursors, runs.data.nextCursor])} data-testid="next-page">
            {upcoming ? 'Later →' : 'Older →'}
          </button>
        </div>
      ) : null}
    </div>
  )
}
