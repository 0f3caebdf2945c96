import { useState } from 'preact/hooks'
import { Card, Empty, ErrorBox, Loading, StateBadge, Time } from '../components/common.tsx'
import { QuickRunDialog } from '../components/dialogs.tsx'
import { ScheduleToggle } from '../components/ScheduleToggle.tsx'
import { useApi, useDebounced, useInterval } from '../hooks.ts'
import { useLiveEvent } from '../live.ts'
import { href, navigate } from '../router.ts'
import { parseTime } from '../format.ts'
import type { Flow, FlowRun } from '../types.ts'

/** Keep a flow's `lastRun` current from a live `flow-run` event (same run, or a newer one). */
export function applyRunToFlow(flow: Flow, run: FlowRun): Flow {
  if (run.flowId !== flow.id && run.flowName !== flow.name) return flow
  if (run.state === 'scheduled') return flow
  const last = flow.lastRun
  if (last && last.id !== run.id && (parseTime(last.createdAt) ?? 0) > (parseTime(run.createdAt) ?? 0)) return flow
  return { ...flow, lastRun: run }
}

export function FlowsPage() {
  const flows = useApi<{ items: Flow[] }>('/flows')
  const [quickRun, setQuickRun] = useState<Flow | null>(null)
  const reload = useDebounced(flows.reload, 2000)
  useLiveEvent('flow-run', (run) => {
    if (run.complete) flows.setData((prev) => (prev ? { items: prev.items.map((f) => applyRunToFlow(f, run as FlowRun)) } : prev))
    else reload()
  })
  useLiveEvent('reconnect', reload)
  useInterval(reload, 30_000)

  const replace = (f: Flow) => flows.setData((prev) => (prev ? { items: prev.items.map((x) => (x.id === f.id ? f : x)) } : prev))

  return (
    <div class="page flows">
      <div class="page-head">
        <h1>Flows</h1>
      </div>
      <Card>
        {flows.error ? (
          <ErrorBox error={flows.error} onRetry={flows.reload} />
        ) : !flows.data ? (
          <Loading />
        ) : !flows.data.items.length ? (
          <Empty>No flows are registered yet. Register one with <code>rota register path/to/flow.ts</code>.</Empty>
        ) : (
          <div class="table-wrap">
            <table class="table stack flows-table">
              <thead>
                <tr>
                  <th>Flow</th>
                  <th>Schedule</th>
                  <th>Active</th>
                  <th>Last run</th>
                  <th />
                </tr>
              </thead>
              <tbody>
                {flows.data.items.map((f) => (
                  <tr key={f.id} data-flow={f.name}>
                    <td class="stack-title">
                      <a href={href('flows', f.name)} class="flow-name">
                        {f.name}
                      </a>
                      {f.description ? <div class="sub">{f.description}</div> : null}
                    </td>
                    <td data-label="Schedule" data-testid="schedule-text" class="nowrap">{f.schedule ? f.scheduleText : <span class="muted">manual only</span>}</td>
                    <td data-label="Active">
                      <ScheduleToggle flow={f} onChange={replace} />
                    </td>
                    <td data-label="Last run">
                      {f.lastRun ? (
                        <a href={href('runs', f.lastRun.id)} class="last-run">
                          <StateBadge state={f.lastRun.state} late={f.lastRun.late} /> <Time toggle={false} iso={f.lastRun.endTime ?? f.lastRun.startTime ?? f.lastRun.scheduledStartTime} />
                        </a>
                      ) : (
                        <span class="muted">never run</span>
                      )}
                    </td>
                    <td class="actions">
                      <button type="button" class="btn primary small" onClick={() => setQuickRun(f)} data-testid="quick-run">
                        ▶ Quick Run
                      </button>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </Card>
      {quickRun ? <QuickRunDialog flow={quickRun} onClose={() => setQuickRun(null)} onStarted={(run) => navigate(href('runs', run.id))} /> : null}
    </div>
  )
}
