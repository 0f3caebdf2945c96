import type { FlowRun } from '../types.ts'
import { href } from '../router.ts'
import { StateBadge, TimeAgo } from './common.tsx'
import { formatDuration, runDuration } from '../format.ts'
import { useNow } from '../hooks.ts'

/** A compact list of flow runs: name, flow, state, when, how long. */
export function RunTable({ runs, showFlow = true, when = 'start' }: { runs: FlowRun[]; showFlow?: boolean; when?: 'start' | 'scheduled' }) {
  const now = useNow(1000)
  return (
    <div class="table-wrap">
      <table class="table runs-table">
        <thead>
          <tr>
            <th>Run</th>
            {showFlow ? <th class="hide-sm">Flow</th> : null}
            <th>State</th>
            <th>{when === 'scheduled' ? 'Scheduled' : 'Started'}</th>
            <th class="num hide-sm">Duration</th>
          </tr>
        </thead>
        <tbody>
          {runs.map((r) => (
            <tr key={r.id} data-run={r.id} data-state={r.state}>
              <td>
                <a href={href('runs', r.id)} class="run-name">
                  {r.name}
                </a>
                {r.stateMessage && (r.state === 'failed' || r.state === 'crashed') ? <div class="sub">{r.stateMessage}</div> : null}
              </td>
              {showFlow ? (
                <td class="hide-sm">
                  <a href={href('flows', r.flowName)}>{r.flowName}</a>
                </td>
              ) : null}
              <td>
                <StateBadge state={r.state} late={r.late} />
              </td>
              <td>
                <TimeAgo iso={when === 'scheduled' ? r.scheduledStartTime : (r.startTime ?? r.scheduledStartTime ?? r.createdAt)} />
              </td>
              <td class="num hide-sm">{formatDuration(runDuration(r, now))}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  )
}

/** A narrow list for side cards (late, upcoming, running): name, flow, badge, time. */
export function RunListCompact({ runs, when = 'start' }: { runs: FlowRun[]; when?: 'start' | 'scheduled' }) {
  return (
    <ul class="run-list">
      {runs.map((r) => (
        <li key={r.id} data-run={r.id} data-state={r.state}>
          <div class="who">
            <a href={href('runs', r.id)} class="run-name">
              {r.name}
            </a>
            <div class="sub">{r.flowName}</div>
          </div>
          <StateBadge state={r.state} late={r.late} />
          <TimeAgo iso={when === 'scheduled' ? r.scheduledStartTime : (r.startTime ?? r.createdAt)} />
        </li>
      ))}
    </ul>
  )
}
