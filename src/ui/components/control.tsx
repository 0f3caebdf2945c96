/** Flow control on the dashboard (issue 12): the backfill form, a run's priority, parent and child runs. */
import { useEffect, useState } from 'preact/hooks'
import { api, query } from '../api.ts'
import { Card, ErrorBox } from './common.tsx'
import { FormEnd, Modal } from './dialogs.tsx'
import { RunTable } from './RunTable.tsx'
import { useApi, useDebounced } from '../hooks.ts'
import { useLiveEvent } from '../live.ts'
import { href } from '../router.ts'
import type { Backfill, Flow, FlowRun, Page } from '../types.ts'

/** The last hour, to the minute: the form's starting range. */
function lastHour(): { from: string; to: string } {
  const to = new Date(Math.floor(Date.now() / 60_000) * 60_000)
  return { from: new Date(to.getTime() - 3_600_000).toISOString(), to: to.toISOString() }
}

/** `rota backfill` as a form: one run per schedule time of the range, never a second run for a time. */
export function BackfillDialog({ flow, onClose }: { flow: Flow; onClose: () => void }) {
  const [range, setRange] = useState(lastHour)
  const [missingOnly, setMissingOnly] = useState(false)
  const [maxActive, setMaxActive] = useState('')
  const [error, setError] = useState<string | null>(null)
  const [busy, setBusy] = useState(false)
  const [done, setDone] = useState<Backfill | null>(null)

  const submit = async (e: Event) => {
    e.preventDefault()
    const from = Date.parse(range.from)
    const to = Date.parse(range.to)
    if (Number.isNaN(from) || Number.isNaN(to)) return setError('From and To are times such as 2026-01-31T08:00:00Z')
    const limit = maxActive.trim() === '' ? null : Number(maxActive)
    if (limit !== null && (!Number.isInteger(limit) || limit < 1)) return setError('Max active is a whole number >= 1, or empty for no limit')
    setBusy(true)
    setError(null)
    try {
      const body = { from: new Date(from).toISOString(), to: new Date(to).toISOString(), missingOnly, maxActive: limit }
      setDone(await api<Backfill>(`/flows/${encodeURIComponent(flow.name)}/backfills`, { method: 'POST', body }))
    } catch (err) {
      setError((err as Error).message)
    } finally {
      setBusy(false)
    }
  }

  return (
    <Modal title={`Backfill · ${flow.name}`} onClose={onClose}>
      {done ? (
        <div class="form backfill-done">
          <p role="status" data-testid="backfill-result">
            Created {done.created} run{done.created === 1 ? '' : 's'} for {done.times} schedule time{done.times === 1 ? '' : 's'}
            {done.existing ? ` (${done.existing} already had a run)` : ''}
            {done.maxActive ? `, at most ${done.maxActive} at once` : ''}.
          </p>
          <div class="form-actions">
            <button type="button" class="btn primary" onClick={onClose}>
              Close
            </button>
          </div>
        </div>
      ) : (
        <form onSubmit={submit} class="form backfill" data-flow={flow.name}>
          <p class="muted">One run per schedule time from From to To (both included). A time that already has a run that succeeded or is under way gets no second one.</p>
          <div class="field">
            <label>
              <span>From</span>
              <input name="from" autocomplete="off" value={range.from} onInput={(e) => setRange({ ...range, from: e.currentTarget.value })} />
            </label>
          </div>
          <div class="field">
            <label>
              <span>To</span>
              <input name="to" autocomplete="off" value={range.to} onInput={(e) => setRange({ ...range, to: e.currentTarget.value })} />
            </label>
          </div>
          <div class="field">
            <label class="check">
              <input type="checkbox" name="missingOnly" checked={missingOnly} onChange={(e) => setMissingOnly(e.currentTarget.checked)} />
              <span>Missing only (leave times whose runs failed alone)</span>
            </label>
          </div>
          <div class="field">
            <label>
              <span>Max active</span>
              <input name="maxActive" inputMode="numeric" autocomplete="off" placeholder="no limit" value={maxActive} onInput={(e) => setMaxActive(e.currentTarget.value)} />
            </label>
          </div>
          <FormEnd error={error} busy={busy} submit="Backfill" busyLabel="Creating…" onCancel={onClose} />
        </form>
      )}
    </Modal>
  )
}

/** A run's place in flow control, as facts for the run page's list: priority, parent, backfill. */
export function RunControlFacts({ run }: { run: FlowRun }) {
  return (
    <>
      {run.priority ? (
        <div>
          <dt>Priority</dt>
          <dd data-testid="run-priority">{run.priority}</dd>
        </div>
      ) : null}
      {run.parentRunId ? (
        <div>
          <dt>Parent run</dt>
          <dd>
            <a href={href('runs', run.parentRunId)} data-testid="run-parent">
              {run.parentRunId.slice(0, 8)}
            </a>
          </dd>
        </div>
      ) : null}
      {run.backfillId ? (
        <div>
          <dt>Backfill</dt>
          <dd>
            <span class="tag" title={run.backfillId}>
              backfill {run.backfillId.slice(0, 8)}
            </span>
          </dd>
        </div>
      ) : null}
    </>
  )
}

/** The child flow runs a run's body started, as a card of the run page (none: no card). Re-read when the parent's state changes. */
export function ChildRuns({ runId, parentState }: { runId: string; parentState: string }) {
  const children = useApi<Page<FlowRun>>(`/flow-runs${query({ parent: runId, limit: 100 })}`)
  const reload = useDebounced(children.reload, 500)
  useEffect(reload, [parentState])
  useLiveEvent('flow-run', (r) => {
    if (r.parentRunId === runId) reload()
  })
  if (children.error) return <ErrorBox error={children.error} onRetry={children.reload} />
  if (!children.data?.items.length) return null
  return (
    <Card title="Child runs" class="span-3">
      <div data-testid="child-runs">
        <RunTable runs={children.data.items} />
      </div>
    </Card>
  )
}
