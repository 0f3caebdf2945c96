/**
 * Server-side paged run list (keyset cursors): only one page is ever fetched or rendered, so it stays
 * fast with 100,000 runs. Live: rows on screen update in place; new runs appear on the first page.
 */
import { useState } from 'preact/hooks'
import { query } from '../api.ts'
import { useApi, useDebounced } from '../hooks.ts'
import { useLiveEvent } from '../live.ts'
import { STATES, type FlowRun, type Page } from '../types.ts'
import { Empty, ErrorBox, Loading } from './common.tsx'
import { RunTable } from './RunTable.tsx'

export function RunsList({ flow, state, pageSize = 25, onStateChange, showFlow = true }: { flow?: string; state?: string; pageSize?: number; onStateChange?: (s: string) => void; showFlow?: boolean }) {
  // cursors[i] is the cursor that fetches page i; page 0 has none.
  const [cursors, setCursors] = useState<(string | null)[]>([null])
  const page = cursors.length - 1
  const cursor = cursors[page] ?? null
  const runs = useApi<Page<FlowRun>>('/flow-runs' + query({ flow, state, limit: pageSize, cursor }))
  const refreshFirstPage = useDebounced(() => runs.reload(), 1500)

  useLiveEvent('flow-run', (run) => {
    if (run.complete && flow && run.flowName !== flow && run.flowId !== flow) return
    const { complete: _complete, ...fields } = run
    const items = runs.data?.items ?? []
    if (items.some((r) => r.id === run.id)) {
      runs.setData((prev) =>
        prev ? { ...prev, items: prev.items.filter((r) => !state || r.id !== run.id || run.state === state).map((r) => (r.id === run.id ? { ...r, ...fields } : r)) } : prev,
      )
    } else if (page === 0 && (!state || run.state === state)) {
      refreshFirstPage()
    }
  })
  useLiveEvent('reconnect', refreshFirstPage)

  const setFilter = (s: string) => {
    setCursors([null])
    onStateChange?.(s)
  }

  return (
    <div class="runs-list">
      <div class="toolbar">
        {onStateChange ? (
          <label class="inline">
            State{' '}
            <select value={state ?? ''} onChange={(e) => setFilter(e.currentTarget.value)} name="state">
              <option value="">all</option>
              {STATES.map((s) => (
                <option key={s} value={s}>
                  {s}
                </option>
              ))}
            </select>
          </label>
        ) : null}
        <span class="grow" />
        <span class="muted">Page {page + 1}</span>
        <button type="button" class="btn small" disabled={page === 0} onClick={() => setCursors(cursors.slice(0, -1))}>
          ← Newer
        </button>
        <button type="button" class="btn small" disabled={!runs.data?.nextCursor} onClick={() => runs.data?.nextCursor && setCursors([...cursors, runs.data.nextCursor])}>
          Older →
        </button>
      </div>
      {runs.error ? (
        <ErrorBox error={runs.error} onRetry={runs.reload} />
      ) : !runs.data ? (
        <Loading />
      ) : runs.data.items.length ? (
        <RunTable runs={runs.data.items} showFlow={showFlow} />
      ) : (
        <Empty>No runs{state ? ` in state ${state}` : ''}.</Empty>
      )}
    </div>
  )
}
