import { useCallback, useEffect, useRef, useState } from 'preact/hooks'
import { api, ApiError, query, subscribe } from '../api.ts'
import { Card, Empty, ErrorBox, Json, Loading, NotFound, RunBadge, StackTrace, StateBadge, Time } from '../components/common.tsx'
import { Gantt } from '../components/charts.tsx'
import { TaskDag } from '../components/TaskDag.tsx'
import { ConfirmDialog } from '../components/dialogs.tsx'
import { Artifacts } from '../components/Artifacts.tsx'
import { LogViewer, mergeLogs } from '../components/LogViewer.tsx'
import { ChildRuns, RunControlFacts } from '../components/control.tsx'
import { useApi, useDebounced, useInterval, useNow, useTitle } from '../hooks.ts'
import { toFlowRunEvent, toLogEvent, toRunsRemovedEvent, toTaskRunEvent } from '../live.ts'
import { href, navigate } from '../router.ts'
import { formatDuration, runDuration } from '../format.ts'
import { clock, fullTime, useTimePrefs } from '../time.ts'
import { FINAL_STATES, type Agent, type Artifact, type Flow, type FlowRun, type LogLine, type TaskRun } from '../types.ts'

const LOG_PAGE = 1000
/** Safety valve for a run with a huge log: the viewer renders the newest lines anyway. */
const MAX_LOG_PAGES = 20

export function FlowRunPage({ id }: { id: string }) {
  const base = `/flow-runs/${encodeURIComponent(id)}`
  const run = useApi<FlowRun>(base)
  const tasks = useApi<{ items: TaskRun[] }>(`${base}/task-runs`)
  const artifacts = useApi<{ items: Artifact[] }>(`${base}/artifacts`)
  const flow = useApi<Flow>(run.data ? `/flows/${encodeURIComponent(run.data.flowName)}` : null)
  // Only to show the agent's name instead of its id.
  const agents = useApi<{ items: Agent[] }>(run.data?.agentId ? '/agents' : null)
  const [logs, setLogs] = useState<LogLine[]>([])
  const [logError, setLogError] = useState<Error | null>(null)
  const [streaming, setStreaming] = useState(false)
  const [action, setAction] = useState<{ busy: boolean; error: string | null }>({ busy: false, error: null })
  const [confirmCancel, setConfirmCancel] = useState(false)
  const [removed, setRemoved] = useState(false)
  useTimePrefs()
  useTitle(run.data?.name, run.data?.flowName, run.error instanceof ApiError && run.error.status === 404 ? 'Run not found' : 'Runs')
  const lastId = useRef(-1)
  const loadingLogs = useRef(false)
  const final = run.data ? FINAL_STATES.has(run.data.state) : false
  const reloadRun = useDebounced(run.reload, 300)
  const reloadTasks = useDebounced(tasks.reload, 300)
  const now = useNow(final ? 60_000 : 500)
  // A waiting run turns late, and its reason changes (an agent comes or goes), without any event:
  // while it waits, the page asks again every 10 s.
  useInterval(() => run.reload(), run.data?.state === 'scheduled' ? 10_000 : null)

  const addLogs = useCallback((incoming: LogLine[]) => {
    if (!incoming.length) return
    setLogs((cur) => {
      const next = mergeLogs(cur, incoming)
      lastId.current = next.length ? next[next.length - 1]!.id : -1
      return next
    })
  }, [])

  /** Fetch every line after the last one we hold (initial load, and catch-up after a reconnect). */
  const catchUpLogs = useCallback(async () => {
    if (loadingLogs.current) return
    loadingLogs.current = true
    try {
      for (let page = 0; page < MAX_LOG_PAGES; page++) {
        const res = await api<{ items: LogLine[] }>(`${base}/logs${query({ after: lastId.current >= 0 ? lastId.current : undefined, limit: LOG_PAGE })}`)
        const items = res.items.map((l) => ({ ...l, id: Number(l.id) }))
        addLogs(items)
        const last = items[items.length - 1]
        if (last) lastId.current = Math.max(lastId.current, last.id)
        if (res.items.length < LOG_PAGE) break
      }
      setLogError(null)
    } catch (err) {
      setLogError(err as Error)
    } finally {
      loadingLogs.current = false
    }
  }, [base, addLogs])

  useEffect(() => {
    setLogs([])
    lastId.current = -1
    void catchUpLogs()
  }, [catchUpLogs])

  // Live stream for this run: states, task runs and log lines, pushed by the server.
  useEffect(() => {
    let first = true
    const close = subscribe(
      { flowRunId: id },
      {
        'flow-run': (d) => {
          const e = toFlowRunEvent(d)
          if (!e || e.id !== id) return
          const { complete, ...fields } = e
          run.setData((prev) => (prev ? { ...prev, ...fields } : prev))
          // A bare notification ({ flowRunId, state }) lacks times and messages: fetch the run.
          if (!complete) reloadRun()
        },
        'task-run': (d) => {
          const t = toTaskRunEvent(d)
          if (!t) return reloadTasks()
          if (t.flowRunId && t.flowRunId !== id) return
          tasks.setData((prev) => {
            const items = prev?.items ?? []
            const i = items.findIndex((x) => x.id === t.id)
            if (i === -1) return { items: [...items, t] }
            const copy = items.slice()
            copy[i] = { ...copy[i]!, ...t }
            return { items: copy }
          })
        },
        log: (d) => {
          const l = toLogEvent(d)
          if (l && (!l.flowRunId || l.flowRunId === id)) addLogs([{ ...l, id: Number(l.id) }])
          // A notification without its body (it crossed replicas): fetch what we miss.
          else if (!l) void catchUpLogs()
        },
        // Deleted without ending (its flow's schedule was paused): say so rather than show a run that is gone.
        'runs-removed': (d) => {
          const e = toRunsRemovedEvent(d)
          if (e && e.ids.includes(id)) setRemoved(true)
          else if (e && e.ids.length === 0) run.reload()
        },
      },
      () => {
        if (!first) {
          // Reconnected: fetch what happened while the stream was down.
          run.reload()
          tasks.reload()
          void catchUpLogs()
        }
        first = false
      },
      setStreaming,
    )
    return () => {
      close()
      setStreaming(false)
    }
  }, [id])

  // When the run ends: fetch its artifacts and a final catch-up of logs and task runs.
  const state = run.data?.state
  useEffect(() => {
    if (!state || !FINAL_STATES.has(state)) return
    artifacts.reload()
    tasks.reload()
    const t = setTimeout(() => void catchUpLogs(), 300)
    return () => clearTimeout(t)
  }, [state])

  const act = async (verb: 'cancel' | 'retry') => {
    setAction({ busy: true, error: null })
    try {
      const r = await api<FlowRun>(`${base}/${verb}`, { method: 'POST' })
      setAction({ busy: false, error: null })
      setConfirmCancel(false)
      if (verb === 'retry' && r.id !== id) navigate(href('runs', r.id))
      else run.setData(() => r)
    } catch (err) {
      setAction({ busy: false, error: (err as Error).message })
      setConfirmCancel(false)
    }
  }

  if (removed || (run.error instanceof ApiError && run.error.status === 404)) {
    return (
      <NotFound title={removed ? 'This run was removed' : 'Run not found'}>
        <p>
          {removed ? (
            <>The run was an upcoming run of a schedule that has been paused (or changed), so it was removed before it started.</>
          ) : (
            <>
              There is no run <code>{id}</code>. Upcoming runs are removed when their flow's schedule is paused or changed; a mistyped or old link leads here too.
            </>
          )}
        </p>
      </NotFound>
    )
  }
  if (run.error) return <ErrorBox error={run.error} onRetry={run.reload} />
  if (!run.data) return <Loading />
  const r = run.data
  const taskRuns = tasks.data?.items ?? []
  const declared = flow.data?.tasks ?? []
  const canCancel = !FINAL_STATES.has(r.state) && r.state !== 'cancelling'
  const canRetry = r.state === 'failed' || r.state === 'crashed' || r.state === 'cancelled'
  const startsAt = r.state === 'pending' && Date.parse(r.scheduledStartTime) > now ? Date.parse(r.scheduledStartTime) : null

  return (
    <div class="page flow-run" data-run={r.id} data-state={r.state}>
      <div class="page-head">
        <div>
          <div class="crumbs">
            <a href={href('flows')}>Flows</a> / <a href={href('flows', r.flowName)}>{r.flowName}</a> /
          </div>
          <h1>
            {r.name} <RunBadge run={r} />
          </h1>
          {r.stateMessage ? <p class={`lead ${r.state === 'failed' || r.state === 'crashed' ? 'error-text' : ''}`}>{r.stateMessage}</p> : null}
        </div>
        <div class="head-actions">
          {canRetry ? (
            <button type="button" class="btn primary" disabled={action.busy} onClick={() => void act('retry')} data-testid="retry-run">
              ↻ Retry
            </button>
          ) : null}
          {canCancel ? (
            <button type="button" class="btn danger small" disabled={action.busy} onClick={() => setConfirmCancel(true)} data-testid="cancel-run">
              Cancel run…
            </button>
          ) : null}
        </div>
      </div>
      {r.lateReason ? (
        <div class="notice late" role="status" data-testid="late-reason">
          <strong>Late:</strong> {r.lateReason}
        </div>
      ) : null}
      {startsAt !== null ? (
        <div class="notice starting" role="status" data-testid="starting-at">
          An agent has claimed this run ahead of its time; it starts at <strong>{clock(startsAt)}</strong> ({fullTime(startsAt)}).
        </div>
      ) : null}
      {confirmCancel ? (
        <ConfirmDialog
          title={`Cancel ${r.name}?`}
          confirmLabel="Cancel the run"
          cancelLabel="Keep it running"
          danger
          busy={action.busy}
          onConfirm={() => void act('cancel')}
          onClose={() => setConfirmCancel(false)}
        >
          <p>
            The agent stops its process; tasks that have not finished end <strong>cancelled</strong>. A cancelled run can be retried as a new run.
          </p>
        </ConfirmDialog>
      ) : null}
      {action.error ? (
        <div class="error-box" role="alert">
          {action.error}
        </div>
      ) : null}
      <div class="grid grid-main">
        <Card title="Run">
          <dl class="facts">
            <div>
              <dt>State</dt>
              <dd data-testid="run-state">
                <RunBadge run={r} />
              </dd>
            </div>
            <div>
              <dt>Duration</dt>
              <dd>{formatDuration(runDuration(r, now))}</dd>
            </div>
            <div>
              <dt>Scheduled</dt>
              <dd>
                <Time iso={r.scheduledStartTime} />
              </dd>
            </div>
            <div>
              <dt>Started</dt>
              <dd>
                <Time iso={r.startTime} />
              </dd>
            </div>
            <div>
              <dt>Ended</dt>
              <dd>
                <Time iso={r.endTime} />
              </dd>
            </div>
            <div>
              <dt>Agent</dt>
              <dd>
                {r.agentId ? (
                  <a href={href('agents')} title={r.agentId} data-testid="run-agent">
                    {agents.data?.items.find((a) => a.id === r.agentId)?.name ?? r.agentId.slice(0, 8)}
                  </a>
                ) : (
                  '—'
                )}
              </dd>
            </div>
            <RunControlFacts run={r} />
          </dl>
        </Card>
        <Card title="Parameters" class="span-2">
          {Object.keys(r.parameters ?? {}).length ? <Json value={r.parameters} /> : <Empty>No parameters.</Empty>}
        </Card>
        <Card title="Task graph" class="span-3" actions={<span class="muted">from the data passed between tasks</span>}>
          {taskRuns.length || declared.length ? <TaskDag taskRuns={taskRuns} declared={declared} /> : <Empty>{FINAL_STATES.has(r.state) ? 'No task ran.' : 'No task has started yet.'}</Empty>}
        </Card>
        <Card title="Timeline" class="span-3" actions={taskRuns.some((t) => t.attemptLog.length > 1) ? <span class="muted">one bar per attempt</span> : null}>
          {taskRuns.length ? <Gantt taskRuns={taskRuns} runStart={r.startTime} runEnd={r.endTime} now={now} /> : <Empty>{FINAL_STATES.has(r.state) ? 'No task ran.' : 'No task has started yet.'}</Empty>}
        </Card>
        <ChildRuns runId={r.id} parentState={r.state} />
        <Card title="Task runs" class="span-3">
          {tasks.error ? <ErrorBox error={tasks.error} /> : <TaskRunTable taskRuns={taskRuns} declared={declared} now={now} />}
        </Card>
        <Card title="Logs" class="span-3">
          {logError ? <ErrorBox error={logError} onRetry={() => void catchUpLogs()} /> : null}
          <LogViewer logs={logs} tasks={declared} live={streaming && !FINAL_STATES.has(r.state)} />
        </Card>
        <Card title="Results" class="span-3">
          {artifacts.error ? <ErrorBox error={artifacts.error} /> : !artifacts.data ? <Loading /> : <Artifacts items={artifacts.data.items} />}
        </Card>
      </div>
    </div>
  )
}

function TaskRunTable({ taskRuns, declared, now }: { taskRuns: TaskRun[]; declared: string[]; now: number }) {
  const started = new Set(taskRuns.map((t) => t.taskName))
  const waiting = declared.filter((n) => !started.has(n))
  if (!taskRuns.length && !waiting.length) return <Empty>No task runs yet.</Empty>
  return (
    <div class="table-wrap">
      <table class="table task-table">
        <thead>
          <tr>
            <th>Task</th>
            <th>State</th>
            <th class="num hide-sm">Attempts</th>
            <th class="hide-sm">Started</th>
            <th class="num">Duration</th>
          </tr>
        </thead>
        <tbody>
          {taskRuns.map((t) => (
            <tr key={t.id} data-task={t.taskName} data-key={t.taskKey} data-state={t.state}>
              <td>
                <strong>{t.taskKey}</strong>
                {t.mapIndex !== null && t.mapIndex !== undefined ? <span class="muted" data-testid="map-index"> [{t.mapIndex}]</span> : null}
                {t.message ? <div class="sub">{t.message}</div> : null}
                {t.stack ? <StackTrace stack={t.stack} label={t.state === 'failed' || t.state === 'crashed' ? 'Stack trace' : 'Stack trace of the last failed attempt'} /> : null}
              </td>
              <td>
                <StateBadge state={t.state} />
                {t.attempts > 1 ? <div class="sub show-sm">{t.attempts} attempts</div> : null}
              </td>
              <td class="num hide-sm">{t.attempts}</td>
              <td class="hide-sm">
                <Time iso={t.startTime} />
              </td>
              <td class="num">{formatDuration(runDuration(t, now))}</td>
            </tr>
          ))}
          {waiting.map((n) => (
            <tr key={`waiting-${n}`} class="waiting" data-task={n} data-state="not-started">
              <td>{n}</td>
              <td>
                <span class="muted">not started</span>
              </td>
              <td class="num hide-sm">—</td>
              <td class="hide-sm">—</td>
              <td class="num">—</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  )
}
