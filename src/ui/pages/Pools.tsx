/** Slot pools (issue 12): each pool's slots, who holds them and who waits, kept fresh as runs change. */
import { Card, Empty, ErrorBox, Loading, TimeAgo } from '../components/common.tsx'
import { useApi, useDebounced, useInterval } from '../hooks.ts'
import { useLiveEvent } from '../live.ts'
import { href } from '../router.ts'
import type { Pool, PoolHolder } from '../types.ts'

export function PoolsPage() {
  const pools = useApi<{ items: Pool[] }>('/pools')
  const reload = useDebounced(pools.reload, 500)
  // A run that starts or ends takes or frees slots; a task's slot moves without a run event: re-read now and then too.
  useLiveEvent('flow-run', reload)
  useLiveEvent('reconnect', pools.reload)
  useInterval(pools.reload, 2000)
  return (
    <div class="page pools">
      <div class="page-head">
        <h1>Pools</h1>
      </div>
      <Card>
        {pools.error ? (
          <ErrorBox error={pools.error} onRetry={pools.reload} />
        ) : !pools.data ? (
          <Loading />
        ) : !pools.data.items.length ? (
          <Empty>
            No pool yet. A flow or task that names one creates it with one slot; <code>rota pool set NAME --slots N</code> sizes it.
          </Empty>
        ) : (
          <div class="table-wrap">
            <table class="table stack pools-table">
              <thead>
                <tr>
                  <th>Pool</th>
                  <th class="num">Held</th>
                  <th>Holders</th>
                  <th>Waiting</th>
                </tr>
              </thead>
              <tbody>
                {pools.data.items.map((p) => (
                  <tr key={p.name} data-pool={p.name} data-held={p.held} data-slots={p.slots}>
                    <td class="stack-title">
                      <strong>{p.name}</strong>
                    </td>
                    <td class="num" data-label="Held" data-testid="pool-held">
                      {p.held} / {p.slots}
                    </td>
                    <td data-label="Holders" data-testid="pool-holders">
                      <Holders items={p.holders} none="nobody" />
                    </td>
                    <td data-label="Waiting" data-testid="pool-waiting">
                      <Holders items={p.waiting} none="nobody" />
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

function Holders({ items, none }: { items: PoolHolder[]; none: string }) {
  if (!items.length) return <span class="muted">{none}</span>
  return (
    <ul class="plain">
      {items.map((h) => (
        <li key={`${h.flowRunId}-${h.taskName ?? ''}`}>
          {h.taskName ? (
            <>
              task <strong>{h.taskName}</strong> of{' '}
            </>
          ) : null}
          <a href={href('runs', h.flowRunId)}>{h.flowRunName}</a> <span class="muted">({h.flowName})</span> <TimeAgo iso={h.since} />
        </li>
      ))}
    </ul>
  )
}
