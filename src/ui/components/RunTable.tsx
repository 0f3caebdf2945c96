import type { FlowRun } from '../types.ts'
import { href } from '../router.ts'
import { RunBadge, Time } from './common.tsx'
import { formatDuration, runDuration } from '../format.ts'
import { useNow } from '../hooks.ts'
import { zoneLabel } from '../time.ts'

/** Rows a person can pick for a bulk action: the table shows a checkbox per row and one for the page. */
export interface Selection {
  selected: ReadonlySet<string>
  toggle(id: string): void
  setAll(ids: readonly string[], on: boolean): void
}

/** When a run happened, or will: its start once it started, its scheduled time before. */
function runTime(r: FlowRun, when: 'start' | 'scheduled'): string {
  return when === 'scheduled' ? r.scheduledStartTime : (r.startTime ?? r.scheduledStartTime)
}

/** A compact list of flow runs: name, flow, state, when, how long; with `selection`, a checkbox per row. */
export function RunTable({ runs, showFlow = true, when = 'start', selection }: { runs: FlowRun[]; showFlow?: boolean; when?: 'start' | 'scheduled'; selection?: Selection }) {
  const now = useNow(1000)
  const allOn = selection !== undefined && runs.length > 0 && runs.every((r) => selection.selected.has(r.id))
  return (
    <div class="table-wrap">
      <table class="table runs-table">
        <thead>
          <tr>
            {selection ? (
              <th class="check-cell">
                <input type="checkbox" aria-label="Select every run on this page" checked={allOn} onChange={(e) => selection.setAll(runs.map((r) => r.id), e.currentTarget.checked)} data-testid="select-all" />
              </th>
            ) : null}
            <th>Run</th>
            {showFlow ? <th class="hide-sm">Flow</th> : null}
            <th class="hide-sm">State</th>
            <th>
              {when === 'scheduled' ? 'Scheduled' : 'Started'} <span class="tz">({zoneLabel()})</span>
            </th>
            <th class="num hide-sm">Duration</th>
          </tr>
        </thead>
        <tbody>
          {runs.map((r) => (
            <tr key={r.id} data-run={r.id} data-state={r.state} class={selection?.selected.has(r.id) ? 'selected' : undefined}>
              {selection ? (
                <td class="check-cell">
                  <input type="checkbox" aria-label={`Select run ${r.name}`} checked={selection.selected.has(r.id)} onChange={() => selection.toggle(r.id)} />
                </td>
              ) : null}
              <td>
                <a href={href('runs', r.id)} class="run-name">
                  {r.name}
                </a>
                <div class="show-sm">
                  <RunBadge run={r} />
                </div>
                {r.stateMessage && (r.state === 'failed' || r.state === 'crashed') ? <div class="sub">{r.stateMessage}</div> : null}
                {r.lateReason ? <div class="sub warn-text">late: {r.lateReason}</div> : null}
              </td>
              {showFlow ? (
                <td class="hide-sm">
                  <a href={href('flows', r.flowName)}>{r.flowName}</a>
                </td>
              ) : null}
              <td class="hide-sm">
                <RunBadge run={r} />
              </td>
              <td>
                <Time iso={runTime(r, when)} />
              </td>
              <td class="num hide-sm">{formatDuration(runDuration(r, now))}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  )
}

/** A narrow list for side cards (late, upcoming, running): name, flow, badge, time; a late run says why. */
export function RunListCompact({ runs, when = 'start' }: { runs: FlowRun[]; when?: 'start' | 'scheduled' }) {
  const now = useNow(5000)
  return (
    <ul class="run-list">
      {runs.map((r) => {
        const startingSoon = r.state === 'pending' && Date.parse(r.scheduledStartTime) > now
        return (
          <li key={r.id} data-run={r.id} data-state={r.state}>
            <div class="who">
              <a href={href('runs', r.id)} class="run-name">
                {r.name}
              </a>
              <div class="sub">{r.flowName}</div>
            </div>
            {/* In a list of upcoming runs, "scheduled" goes without saying; late or claimed runs say so. */}
            {when === 'scheduled' && r.state === 'scheduled' && !r.late ? null : <RunBadge run={r} />}
            {startingSoon ? null : (
              <span class="when">
                <Time iso={runTime(r, when)} />
              </span>
            )}
            {r.lateReason ? (
              <p class="why" data-testid="late-reason">
                {r.lateReason}
              </p>
            ) : null}
          </li>
        )
      })}
    </ul>
  )
}
