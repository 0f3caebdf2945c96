/**
 * The runs page: past and upcoming runs apart, filtered by states, flows, a name search and a date
 * range (all in the URL), duration over time, and bulk cancel / retry of the selected runs.
 */
import { useMemo, useState } from 'preact/hooks'
import { api } from '../api.ts'
import { Card, Empty, ErrorBox, Legend } from '../components/common.tsx'
import { DurationScatter, STATE_LEGEND } from '../components/charts.tsx'
import { ConfirmDialog } from '../components/dialogs.tsx'
import { listParam, MultiSelect, SearchBox, setQuery, Tabs } from '../components/filters.tsx'
import { RunsList, runQuery, type RunFilter } from '../components/RunsList.tsx'
import type { Selection } from '../components/RunTable.tsx'
import { useApi, useDebounced, useNow, useTitle } from '../hooks.ts'
import { useLiveEvent } from '../live.ts'
import type { Route } from '../router.ts'
import { useTimePrefs, wallTimeToInstant, zoneLabel } from '../time.ts'
import { FINAL_STATES, STATES, type Flow, type FlowRun, type Page } from '../types.ts'

type Tab = 'past' | 'upcoming'
const RETRYABLE = new Set(['failed', 'crashed', 'cancelled'])
/** The duration chart draws the newest runs that match, at most this many (one request). */
const CHART_RUNS = 500

/** The API filter of the page's query: dates are days of the display zone, `to` included. */
export function filterOf(route: Route): RunFilter & { tab: Tab; from: string; to: string } {
  const tab: Tab = route.query.get('tab') === 'upcoming' ? 'upcoming' : 'past'
  const from = route.query.get('from') ?? ''
  const to = route.query.get('to') ?? ''
  const after = from ? wallTimeToInstant(from) : null
  const until = to ? wallTimeToInstant(to) : null
  return {
    tab,
    from,
    to,
    when: tab,
    states: tab === 'upcoming' ? [] : listParam(route, 'state'),
    flows: listParam(route, 'flow'),
    q: route.query.get('q') ?? '',
    after: after === null ? undefined : new Date(after - 1).toISOString(),
    // `to` is a whole day: up to the start of the next one (the zone's midnight, DST or not).
    before: until === null ? undefined : new Date(wallTimeToInstant(nextDay(to)) ?? until + 86_400_000).toISOString(),
  }
}

function nextDay(day: string): string {
  const d = new Date(`${day}T00:00:00Z`)
  d.setUTCDate(d.getUTCDate() + 1)
  return d.toISOString().slice(0, 10)
}

export function RunsPage({ route }: { route: Route }) {
  useTimePrefs()
  const f = filterOf(route)
  const key = runQuery(f)
  useTitle(f.tab === 'upcoming' ? 'Upcoming runs' : 'Runs')
  const flows = useApi<{ items: Flow[] }>('/flows')
  const [selected, setSelected] = useState<Map<string, FlowRun>>(new Map())
  const [onScreen, setOnScreen] = useState<FlowRun[]>([])
  const [bulk, setBulk] = useState<{ action: 'cancel' | 'retry'; busy: boolean } | null>(null)
  const [result, setResult] = useState<{ text: string; errors: string[] } | null>(null)
  const [bulkError, setBulkError] = useState<Error | null>(null)

  const selection: Selection = useMemo(
    () => ({
      selected: new Set(selected.keys()),
      toggle: (id) =>
        setSelected((prev) => {
          const next = new Map(prev)
          const run = onScreen.find((r) => r.id === id)
          if (next.has(id)) next.delete(id)
          else if (run) next.set(id, run)
          return next
        }),
      setAll: (ids, on) =>
        setSelected((prev) => {
          const next = new Map(prev)
          for (const id of ids) {
            const run = onScreen.find((r) => r.id === id)
            if (!on) next.delete(id)
            else if (run) next.set(id, run)
          }
          return next
        }),
    }),
    [selected, onScreen],
  )
  // A row that changes on screen (live) keeps its selection with its new state.
  const picked = [...selected.values()].map((r) => onScreen.find((x) => x.id === r.id) ?? r)
  const cancellable = picked.filter((r) => !FINAL_STATES.has(r.state) && r.state !== 'cancelling')
  const retryable = picked.filter((r) => RETRYABLE.has(r.state))
  const go = (changes: Record<string, string | readonly string[] | null>) => {
    setSelected(new Map())
    setResult(null)
    setQuery(route, changes)
  }

  const runBulk = async (action: 'cancel' | 'retry') => {
    const targets = action === 'cancel' ? cancellable : retryable
    setBulk({ action, busy: true })
    try {
      const res = await api<{ items: { id: string; ok: boolean; error: string | null }[] }>('/flow-runs/bulk', { method: 'POST', body: { action, ids: targets.map((r) => r.id) } })
      const done = res.items.filter((i) => i.ok).length
      setResult({
        text: `${done} run${done === 1 ? '' : 's'} ${action === 'cancel' ? 'cancelled' : 'retried as new runs'}${done < res.items.length ? `; ${res.items.length - done} could not be` : ''}.`,
        errors: res.items.filter((i) => !i.ok).map((i) => `${targets.find((r) => r.id === i.id)?.name ?? i.id}: ${i.error ?? 'refused'}`),
      })
      setSelected(new Map())
      setBulkError(null)
    } catch (err) {
      setBulkError(err as Error)
    } finally {
      setBulk(null)
    }
  }

  const flowOptions = (flows.data?.items ?? []).map((x) => ({ value: x.name, label: x.name }))
  for (const name of f.flows ?? []) if (!flowOptions.some((o) => o.value === name)) flowOptions.push({ value: name, label: name })
  const filtered = Boolean(f.states?.length || f.flows?.length || f.q || f.from || f.to)

  return (
    <div class="page runs">
      <div class="page-head">
        <h1>Flow runs</h1>
      </div>
      <Card>
        <Tabs
          label="Which runs"
          tabs={[
            { id: 'past', label: 'Past and running' },
            { id: 'upcoming', label: 'Upcoming' },
          ]}
          current={f.tab}
          onChange={(tab) => go({ tab: tab === 'past' ? null : tab, state: null })}
        />
        <div class="filters" data-testid="run-filters">
          {f.tab === 'past' ? (
            <MultiSelect label="States" name="state" options={STATES.map((s) => ({ value: s, label: s }))} selected={f.states ?? []} onChange={(v) => go({ state: v })} />
          ) : null}
          <MultiSelect label="Flows" name="flow" options={flowOptions} selected={f.flows ?? []} onChange={(v) => go({ flow: v })} />
          <SearchBox label="Search runs by name or id" placeholder="Search by name or id" value={f.q ?? ''} onSearch={(q) => go({ q })} />
          <label class="inline">
            From
            <input type="date" name="from" value={f.from} max={f.to || undefined} onChange={(e) => go({ from: e.currentTarget.value })} />
          </label>
          <label class="inline">
            To
            <input type="date" name="to" value={f.to} min={f.from || undefined} onChange={(e) => go({ to: e.currentTarget.value })} />
          </label>
          <span class="muted hint">days in {zoneLabel()}</span>
          {filtered ? (
            <button type="button" class="btn small" onClick={() => go({ state: null, flow: null, q: null, from: null, to: null })} data-testid="clear-filters">
              Clear filters
            </button>
          ) : null}
        </div>
        {f.tab === 'past' ? <DurationCard filter={f} filterKey={key} /> : null}
        {result ? (
          <div class="notice bulk-result" role="status" data-testid="bulk-result">
            {result.text}
            {result.errors.length ? (
              <ul class="modal-list">
                {result.errors.slice(0, 10).map((e) => (
                  <li key={e}>{e}</li>
                ))}
              </ul>
            ) : null}
          </div>
        ) : null}
        {bulkError ? <ErrorBox error={bulkError} /> : null}
        {picked.length ? (
          <div class="bulk-bar" data-testid="bulk-bar">
            <strong>{picked.length} selected</strong>
            <button type="button" class="btn small danger" disabled={cancellable.length === 0} onClick={() => setBulk({ action: 'cancel', busy: false })} data-testid="bulk-cancel">
              Cancel {cancellable.length}…
            </button>
            <button type="button" class="btn small" disabled={retryable.length === 0} onClick={() => setBulk({ action: 'retry', busy: false })} data-testid="bulk-retry">
              Retry {retryable.length}…
            </button>
            <button type="button" class="btn small" onClick={() => setSelected(new Map())}>
              Clear selection
            </button>
          </div>
        ) : null}
        <RunsList key={key} filter={f} selection={selection} onPage={setOnScreen} />
      </Card>
      {bulk ? (
        <ConfirmDialog
          title={bulk.action === 'cancel' ? `Cancel ${cancellable.length} run${cancellable.length === 1 ? '' : 's'}?` : `Retry ${retryable.length} run${retryable.length === 1 ? '' : 's'}?`}
          confirmLabel={bulk.action === 'cancel' ? `Cancel ${cancellable.length}` : `Retry ${retryable.length}`}
          cancelLabel="Go back"
          danger={bulk.action === 'cancel'}
          busy={bulk.busy}
          onConfirm={() => void runBulk(bulk.action)}
          onClose={() => setBulk(null)}
        >
          <p>
            {bulk.action === 'cancel'
              ? 'Their agents stop them; scheduled ones end at once. Tasks that have not finished end cancelled.'
              : 'Each runs again as a new run with the same parameters.'}
          </p>
          <ul class="modal-list">
            {(bulk.action === 'cancel' ? cancellable : retryable).slice(0, 12).map((r) => (
              <li key={r.id}>
                {r.name} <span class="muted">({r.flowName}, {r.state})</span>
              </li>
            ))}
            {(bulk.action === 'cancel' ? cancellable : retryable).length > 12 ? <li>…</li> : null}
          </ul>
          {picked.length > (bulk.action === 'cancel' ? cancellable : retryable).length ? (
            <p class="muted">
              {picked.length - (bulk.action === 'cancel' ? cancellable : retryable).length} of the selected runs {bulk.action === 'cancel' ? 'have already ended' : 'did not fail'} and are left alone.
            </p>
          ) : null}
        </ConfirmDialog>
      ) : null}
    </div>
  )
}

/** Duration over time of the newest runs that match the filters (one request of up to 500 runs). */
function DurationCard({ filter, filterKey }: { filter: RunFilter; filterKey: string }) {
  const runs = useApi<Page<FlowRun>>('/flow-runs' + runQuery(filter, { limit: CHART_RUNS }))
  const reload = useDebounced(runs.reload, 5000)
  useLiveEvent('flow-run', (e) => {
    if (e.state && FINAL_STATES.has(e.state)) reload()
  })
  const now = useNow(5000)
  const started = (runs.data?.items ?? []).filter((r) => r.startTime)
  return (
    <section class="duration-card" aria-label="Duration over time" key={filterKey}>
      <h3>
        Duration over time <span class="muted">({started.length === CHART_RUNS ? `newest ${CHART_RUNS}` : started.length} runs)</span>
      </h3>
      {runs.error ? <ErrorBox error={runs.error} onRetry={runs.reload} /> : started.length ? <DurationScatter runs={started} now={now} /> : runs.data ? <Empty>No run that matches has started yet.</Empty> : null}
      {started.length ? <Legend items={STATE_LEGEND.filter((s) => started.some((r) => r.state === s.label))} /> : null}
    </section>
  )
}
