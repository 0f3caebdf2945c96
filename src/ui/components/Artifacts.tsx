import type { Artifact, CsvArtifact, DbtResult } from '../types.ts'
import { formatDuration, formatNumber } from '../format.ts'
import { Empty, Json, stateColor } from './common.tsx'

function isCsv(data: unknown): data is CsvArtifact {
  return typeof data === 'object' && data !== null && typeof (data as CsvArtifact).lakeUrl === 'string'
}
function dbtResults(data: unknown): DbtResult[] | null {
  const r = (data as { results?: unknown } | null)?.results
  return Array.isArray(r) ? (r as DbtResult[]) : null
}

/** dbt statuses mapped onto our badge colours. */
function dbtState(status: string): string {
  if (status === 'pass' || status === 'success') return 'success'
  if (status === 'fail' || status === 'error' || status === 'runtime error') return 'failed'
  if (status === 'warn') return 'retrying'
  if (status === 'skipped') return 'skipped'
  return status
}

function DbtTable({ results }: { results: DbtResult[] }) {
  const tests = results.filter((r) => r.resourceType === 'test')
  const passed = tests.filter((r) => r.status === 'pass').length
  return (
    <div>
      <p class="dbt-summary">
        {results.filter((r) => r.resourceType !== 'test').length} models ·{' '}
        <strong data-testid="dbt-tests">
          {passed}/{tests.length} tests passed
        </strong>
      </p>
      <div class="table-wrap">
        <table class="table dbt-table">
          <thead>
            <tr>
              <th>Node</th>
              <th>Type</th>
              <th>Status</th>
              <th class="num">Time</th>
            </tr>
          </thead>
          <tbody>
            {results.map((r) => (
              <tr key={r.uniqueId} data-status={r.status}>
                <td>
                  <code>{r.name}</code>
                  {r.message && r.status !== 'pass' && r.status !== 'success' ? <div class="sub">{r.message}</div> : null}
                </td>
                <td>{r.resourceType}</td>
                <td>
                  <span class="badge" style={{ '--c': stateColor(dbtState(r.status)) }}>
                    {r.status}
                  </span>
                </td>
                <td class="num">{r.executionTime === null ? '—' : formatDuration(r.executionTime * 1000)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </div>
  )
}

export function Artifacts({ items }: { items: Artifact[] }) {
  if (!items.length) return <Empty>This run has produced no artifacts.</Empty>
  return (
    <div class="artifacts">
      {items.map((a) => {
        const results = dbtResults(a.data)
        return (
          <div class="artifact" key={a.key} data-artifact={a.key}>
            <h3>{a.key}</h3>
            {isCsv(a.data) ? (
              <dl class="facts">
                <div class="wide">
                  <dt>Lake address</dt>
                  <dd>
                    <code class="break" data-testid="csv-url">
                      {a.data.lakeUrl}
                    </code>
                  </dd>
                </div>
                <div>
                  <dt>Rows written</dt>
                  <dd data-testid="csv-rows">{formatNumber(a.data.rows)}</dd>
                </div>
                {a.data.captures !== undefined ? (
                  <div>
                    <dt>Captures</dt>
                    <dd>{formatNumber(a.data.captures)}</dd>
                  </div>
                ) : null}
              </dl>
            ) : results ? (
              <DbtTable results={results} />
            ) : (
              <Json value={a.data} />
            )}
          </div>
        )
      })}
    </div>
  )
}
