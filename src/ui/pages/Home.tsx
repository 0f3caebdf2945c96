import { useEffect, useState } from 'preact/hooks'
import { api, query } from '../api.ts'
import { Card, Empty, ErrorBox, Legend, Loading, StateBadge, Time } from '../components/common.tsx'
import { RunsByStateChart, STATE_LEGEND } from '../components/charts.tsx'
import { RunListCompact, RunTable } from '../components/RunTable.tsx'
import { useApi, useDebounced, useInterval } from '../hooks.ts'
import { useLiveEvent } from '../live.ts'
import { href } from '../router.ts'
import { formatDuration } from '../format.ts'
import type { Agent, FlowRun, Health, Page, StatsBucket } from '../types.ts'
import { StorageFacts } from '../components/StorageFacts.tsx'

function HealthCard() {
  const [health, setHealth] = useState<{ data?: Health; error?: Error; latencyMs?: number }>({})
  const check = () => {
    const t = performance.now()
    api<Health>('/health')
      .then((data) => setHealth({ data, latencyMs: performance.now() - t }))
      .catch((error: Error) => setHealth({ error }))
  }
  useEffect(check, [])
  useInterval(check, 15_000)
  const ok = health.data?.status === 'ok'
  return (
    <Card title="API health" class="health-card">
      {health.error ? (
        <div class="health-row">
          <span class="dot bad" /> <strong>Unreachable</strong> <span class="muted">{health.error.message}</span>
        </div>
      ) : !health.data ? (
        <Loading />
      ) : (
        <dl class="facts">
          <div>
            <dt>Status</dt>
            <dd data-testid="api-status">
              <span class={ok ? 'dot ok' : 'dot bad'} /> {health.data.status}
            </dd>
          </div>
          <div>
            <dt>Latency</dt>
            <dd>{formatDuration(health.latencyMs ?? null)}</dd>
          </div>
          <div>
            <dt>Database</dt>
            <dd>{health.data.database}</dd>
          </div>
          <div>
            <dt>Version</dt>
            <dd>{health.data.version}</dd>
          </div>
          <StorageFacts storage={health.data.storage} />
        </dl>
      )}
    </Card>
  )
}

export function AgentsSummary({ agents }: { agents: Agent[] }) {
  if (!agents.length) return <Empty>No agents have connected. Start one with <code>rota agent start</code>.</Empty>
  return (
    <ul class="agent-list">
      {agents.map((a) => (
        <li key={a.id} data-agent={a.name} data-status={a.status}>
          <span class={`dot ${a.status === 'active' ? 'ok' : a.status === 'unhealthy' ? 'warn' : 'off'}`} />
          <a href={href('agents')}>{a.name}</a>
          <span class="muted">{a.type}</span>
          <span class="grow" />
          <Time iso={a.lastHeartbeat} />
        </li>
      ))}
    </ul>
  )
}

export function HomePage() {
  const stats = useApi<{ buckets: StatsBucket[] }>('/flow-runs/stats?hours=24')
  // Soonest first: the server orders by scheduled time, `order=asc` turns it around.
  const upcomingRuns = useApi<Page<FlowRun>>('/flow-runs' + query({ when: 'upcoming', order: 'asc', limit: 8 }))
  const lateRuns = useApi<Page<FlowRun>>('/flow-runs' + query({ state: 'scheduled', late: 'true', limit: 8 }))
  const running = useApi<Page<FlowRun>>('/flow-runs' + query({ state: 'pending,running,retrying,cancelling', limit: 10 }))
  const failed = useApi<Page<FlowRun>>('/flow-runs' + query({ state: 'failed,crashed', limit: 8 }))
  const agents = useApi<Page<Agent>>('/agents')

  const refreshRuns = useDebounced(() => {
    stats.reload()
    upcomingRuns.reload()
    lateRuns.reload()
    running.reload()
    failed.reload()
  }, 1500)
  useLiveEvent('flow-run', refreshRuns)
  useLiveEvent('reconnect', refreshRuns)
  // A paused schedule's upcoming runs leave the lists at once (they no longer exist), then the lists refetch.
  useLiveEvent('runs-removed', (e) => {
    const drop = (prev: Page<FlowRun> | undefined) => (prev ? { ...prev, items: prev.items.filter((r) => !e.ids.includes(r.id)) } : prev)
    upcomingRuns.setData(drop)
    lateRuns.setData(drop)
    refreshRuns()
  })
  const reloadAgents = useDebounced(agents.reload, 1000)
  useLiveEvent('agent', (a) => (a.complete ? agents.setData((prev) => (prev ? { ...prev, items: upsert(prev.items, a as Agent) } : prev)) : reloadAgents()))
  useInterval(() => {
    refreshRuns()
    agents.reload()
  }, 30_000)

  const buckets = stats.data?.buckets ?? []
  const totals: Record<string, number> = {}
  for (const b of buckets) for (const [s, n] of Object.entries(b.counts)) totals[s] = (totals[s] ?? 0) + n
  const total = Object.values(totals).reduce((a, n) => a + n, 0)
  const late = lateRuns.data?.items ?? []
  const soon = upcomingRuns.data?.items ?? []
  const failures = failed.data?.items ?? []

  return (
    <div class="page home">
      <div class="page-head">
        <h1>Dashboard</h1>
      </div>
      <div class="grid grid-main">
        <Card
          title="Flow runs, last 24 hours"
          class="span-2"
          actions={
            <span class="muted" data-testid="runs-24h">
              {total} runs
            </span>
          }
        >
          {stats.error ? <ErrorBox error={stats.error} onRetry={stats.reload} /> : !stats.data ? <Loading /> : <RunsByStateChart buckets={buckets} />}
          <div class="state-totals">
            {Object.entries(totals)
              .filter(([, n]) => n > 0)
              .sort((a, b) => b[1] - a[1])
              .map(([s, n]) => (
                <a key={s} href={href('runs') + query({ state: s })} class="state-total">
                  <StateBadge state={s} /> <strong>{n}</strong>
                </a>
              ))}
          </div>
          <Legend items={STATE_LEGEND} />
        </Card>
        <div class="side-stack">
          <HealthCard />
          <Card title="Agents" actions={<a href={href('agents')}>All agents</a>}>
            {agents.error ? <ErrorBox error={agents.error} onRetry={agents.reload} /> : !agents.data ? <Loading /> : <AgentsSummary agents={agents.data.items} />}
          </Card>
        </div>
        <Card title="Running now" actions={running.data?.items.length ? <a href={href('runs') + query({ state: 'pending,running,retrying,cancelling' })}>All</a> : null}>
          {running.error ? <ErrorBox error={running.error} /> : !running.data ? <Loading /> : running.data.items.length ? <RunListCompact runs={running.data.items} /> : <Empty>Nothing is running.</Empty>}
        </Card>
        <Card title={late.length ? `Late runs (${late.length})` : 'Late runs'} class={late.length ? 'warn-card' : ''}>
          {lateRuns.error ? <ErrorBox error={lateRuns.error} /> : !lateRuns.data ? <Loading /> : late.length ? <RunListCompact runs={late} when="scheduled" /> : <Empty>No late runs.</Empty>}
        </Card>
        <Card title="Upcoming runs" actions={soon.length ? <a href={href('runs') + query({ tab: 'upcoming' })}>All upcoming</a> : null}>
          {upcomingRuns.error ? <ErrorBox error={upcomingRuns.error} /> : !upcomingRuns.data ? <Loading /> : soon.length ? <RunListCompact runs={soon} when="scheduled" /> : <Empty>No runs scheduled.</Empty>}
        </Card>
        <Card title="Recent failures" class="span-3" actions={<a href={href('runs') + query({ state: 'failed' })}>All failed runs</a>}>
          {failed.error ? <ErrorBox error={failed.error} /> : !failed.data ? <Loading /> : failures.length ? <RunTable runs={failures} /> : <Empty>No failures.</Empty>}
        </Card>
      </div>
    </div>
  )
}

export function upsert<T extends { id: string }>(items: T[], item: T): T[] {
  const i = items.findIndex((x) => x.id === item.id)
  if (i === -1) return [item, ...items]
  const copy = items.slice()
  copy[i] = { ...copy[i], ...item }
  return copy
}
