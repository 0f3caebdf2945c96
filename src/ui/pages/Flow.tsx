import { useState } from 'preact/hooks'
import { query } from '../api.ts'
import { ApiError } from '../api.ts'
import { Card, Empty, ErrorBox, Legend, Loading, NotFound, StateBadge, Time } from '../components/common.tsx'
import { RunHistoryChart, STATE_LEGEND } from '../components/charts.tsx'
import { TaskDag } from '../components/TaskDag.tsx'
import { QuickRunDialog } from '../components/dialogs.tsx'
import { BackfillDialog } from '../components/control.tsx'
import { RunsList } from '../components/RunsList.tsx'
import { ScheduleToggle } from '../components/ScheduleToggle.tsx'
import { useApi, useDebounced, useNow, useTitle } from '../hooks.ts'
import { displayZone, setDisplayZone } from '../time.ts'
import { useLiveEvent } from '../live.ts'
import { href, navigate } from '../router.ts'
import { applyRunToFlow } from './Flows.tsx'
import type { Flow, FlowRun, Page, TaskRun } from '../types.ts'

export function FlowPage({ name }: { name: string }) {
  const flow = useApi<Flow>(`/flows/${encodeURIComponent(name)}`)
  const history = useApi<Page<FlowRun>>(`/flow-runs${query({ flow: name, when: 'past', limit: 60 })}`)
  const lastRunId = flow.data?.lastRun?.id ?? null
  const tasks = useApi<{ items: TaskRun[] }>(lastRunId ? `/flow-runs/${encodeURIComponent(lastRunId)}/task-runs` : null)
  const [quickRun, setQuickRun] = useState(false)
  const [backfill, setBackfill] = useState(false)
  const now = useNow(2000)
  const reloadFlow = useDebounced(flow.reload, 1000)
  const refresh = useDebounced(() => {
    history.reload()
    tasks.reload()
  }, 1500)

  useLiveEvent('flow-run', (run) => {
    if (!flow.data || (run.flowId !== flow.data.id && run.flowName !== flow.data.name)) return
    if (run.complete) flow.setData((prev) => (prev ? applyRunToFlow(prev, run as FlowRun) : prev))
    else reloadFlow()
    refresh()
  })
  useLiveEvent('reconnect', refresh)
  useLiveEvent('runs-removed', (e) => {
    if (flow.data && e.flowId === flow.data.id) refresh()
  })
  useTitle(flow.data?.name ?? name, 'Flows')

  if (flow.error instanceof ApiError && flow.error.status === 404) {
    return (
      <NotFound title="Flow not found">
        <p>
          No flow is registered as <code>{name}</code>. Register it with <code>rota register path/to/flow.ts</code>; the Flows page lists the registered ones.
        </p>
      </NotFound>
    )
  }
  if (flow.error) return <ErrorBox error={flow.error} onRetry={flow.reload} />
  if (!flow.data) return <Loading />
  const f = flow.data
  const runs = (history.data?.items ?? []).filter((r) => r.state !== 'scheduled')

  return (
    <div class="page flow">
      <div class="page-head">
        <div>
          <div class="crumbs">
            <a href={href('flows')}>Flows</a> /
          </div>
          <h1>{f.name}</h1>
          {f.description ? <p class="lead">{f.description}</p> : null}
        </div>
        <div class="head-actions">
          {f.schedule ? (
            <button type="button" class="btn" onClick={() => setBackfill(true)} data-testid="backfill">
              Backfill
            </button>
          ) : null}
          <button type="button" class="btn primary" onClick={() => setQuickRun(true)} data-testid="quick-run">
            ▶ Quick Run
          </button>
        </div>
      </div>
      <div class="grid grid-main">
        <Card title="Details">
          <dl class="facts">
            <div>
              <dt>Schedule</dt>
              <dd>{f.schedule ? f.scheduleText : 'manual only'}</dd>
            </div>
            <div>
              <dt>Active</dt>
              <dd>
                <ScheduleToggle flow={f} onChange={(nf) => flow.setData(() => nf)} />
              </dd>
            </div>
            <div class="wide">
              <dt>Last run</dt>
              <dd>
                {f.lastRun ? (
                  <a href={href('runs', f.lastRun.id)} class="last-run">
                    <StateBadge state={f.lastRun.state} /> <Time toggle={false} iso={f.lastRun.endTime ?? f.lastRun.startTime ?? f.lastRun.scheduledStartTime} />
                  </a>
                ) : (
                  'never'
                )}
              </dd>
            </div>
            <div>
              <dt>Version</dt>
              <dd>
                <code>{f.version.slice(0, 12)}</code>
              </dd>
            </div>
            {f.maxActiveRuns !== null ? (
              <div>
                <dt>Max active runs</dt>
                <dd data-testid="flow-max-active">
                  {f.maxActiveRuns} <span class="muted">({f.overlap})</span>
                </dd>
              </div>
            ) : null}
            {f.pool || Object.keys(f.taskPools).length ? (
              <div>
                <dt>Pools</dt>
                <dd data-testid="flow-pools">
                  {[...(f.pool ? [`${f.pool} (whole run)`] : []), ...Object.entries(f.taskPools).map(([t, p]) => `${p} (task ${t})`)].join(', ')}{' '}
                  <a href={href('pools')}>see</a>
                </dd>
              </div>
            ) : null}
            {f.schedule && 'cron' in f.schedule ? (
              <div>
                <dt>Timezone</dt>
                <dd>
                  {f.schedule.timezone}{' '}
                  {displayZone() !== f.schedule.timezone ? (
                    <button type="button" class="btn small" onClick={() => f.schedule && 'cron' in f.schedule && setDisplayZone(f.schedule.timezone)} data-testid="use-flow-zone">
                      Show times in this zone
                    </button>
                  ) : null}
                </dd>
              </div>
            ) : null}
            {f.labels.length ? (
              <div>
                <dt>Labels</dt>
                <dd>
                  {f.labels.map((l) => (
                    <span key={l} class="tag">
                      {l}
                    </span>
                  ))}
                </dd>
              </div>
            ) : null}
          </dl>
        </Card>
        <Card title="Run history" class="span-2" actions={<span class="muted">last {runs.length} runs · duration</span>}>
          {history.error ? <ErrorBox error={history.error} /> : !history.data ? <Loading /> : runs.length ? <RunHistoryChart runs={runs} now={now} /> : <Empty>No runs yet.</Empty>}
          <Legend items={STATE_LEGEND.filter((s) => runs.some((r) => r.state === s.label))} />
        </Card>
        <Card title="Task graph" class="span-3" actions={f.lastRun ? <span class="muted">from the last run's data flow, with its states</span> : null}>
          {tasks.data?.items.length || f.tasks.length ? (
            <TaskDag taskRuns={tasks.data?.items ?? []} declared={f.tasks} />
          ) : (
            <Empty>No run has called a task yet: the graph appears after the first run.</Empty>
          )}
        </Card>
        <Card title="Parameters" class="span-3">
          {f.parameters.length ? (
            <div class="table-wrap">
              <table class="table">
                <thead>
                  <tr>
                    <th>Name</th>
                    <th>Type</th>
                    <th>Default</th>
                  </tr>
                </thead>
                <tbody>
                  {f.parameters.map((p) => (
                    <tr key={p.name}>
                      <td>
                        <code>{p.name}</code>
                      </td>
                      <td>{p.type}</td>
                      <td>{p.secret ? <span class="tag">secret</span> : <code>{JSON.stringify(p.default)}</code>}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          ) : (
            <Empty>No parameters.</Empty>
          )}
        </Card>
        <Card title="Runs" class="span-3">
          <RunsList filter={{ flows: [f.name], when: 'past' }} showFlow={false} pageSize={15} />
        </Card>
      </div>
      {backfill ? <BackfillDialog flow={f} onClose={() => setBackfill(false)} /> : null}
      {quickRun ? <QuickRunDialog flow={f} onClose={() => setQuickRun(false)} onStarted={(run) => navigate(href('runs', run.id))} /> : null}
    </div>
  )
}
