import { Card, Empty, ErrorBox, Loading, Time } from '../components/common.tsx'
import { useApi, useDebounced, useInterval } from '../hooks.ts'
import { useLiveEvent } from '../live.ts'
import { upsert } from './Home.tsx'
import type { Agent } from '../types.ts'

const STATUS_CLASS: Record<string, string> = { active: 'ok', unhealthy: 'warn', offline: 'off' }

export function AgentsPage() {
  const agents = useApi<{ items: Agent[] }>('/agents')
  const reload = useDebounced(agents.reload, 1000)
  useLiveEvent('agent', (a) => (a.complete ? agents.setData((prev) => (prev ? { items: upsert(prev.items, a as Agent) } : prev)) : reload()))
  useLiveEvent('reconnect', agents.reload)
  // Status depends on heartbeat age, which changes without any event: re-read it now and then.
  useInterval(agents.reload, 10_000)
  return (
    <div class="page agents">
      <div class="page-head">
        <h1>Agents</h1>
      </div>
      <Card>
        {agents.error ? (
          <ErrorBox error={agents.error} onRetry={agents.reload} />
        ) : !agents.data ? (
          <Loading />
        ) : !agents.data.items.length ? (
          <Empty>
            No agent has connected yet. Start one with <code>rota agent start</code>.
          </Empty>
        ) : (
          <div class="table-wrap">
            <table class="table stack agents-table">
              <thead>
                <tr>
                  <th>Agent</th>
                  <th>Status</th>
                  <th>Type</th>
                  <th>Labels</th>
                  <th>Last heartbeat</th>
                </tr>
              </thead>
              <tbody>
                {agents.data.items.map((a) => (
                  <tr key={a.id} data-agent={a.name} data-status={a.status}>
                    <td class="stack-title">
                      <strong>{a.name}</strong>
                      <div class="sub">
                        <code>{a.id}</code>
                      </div>
                    </td>
                    <td data-label="Status">
                      <span class={`status status-${STATUS_CLASS[a.status] ?? 'off'}`} data-testid="agent-status">
                        <span class={`dot ${STATUS_CLASS[a.status] ?? 'off'}`} />
                        {a.status}
                      </span>
                    </td>
                    <td data-label="Type">{a.type}</td>
                    <td data-label="Labels">
                      {a.labels.length ? (
                        a.labels.map((l) => (
                          <span key={l} class="tag">
                            {l}
                          </span>
                        ))
                      ) : (
                        <span class="muted">none</span>
                      )}
                    </td>
                    <td data-label="Last heartbeat">
                      <Time iso={a.lastHeartbeat} />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </Card>
    </div>
  )
}
