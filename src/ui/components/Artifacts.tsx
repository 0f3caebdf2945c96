/**
 * What a run produced, from its artifacts. Known shapes get a readable view (a CSV's lake address and
 * rows, a list of lake files, dbt node results); anything else is shown as JSON.
 */
import { useState } from 'preact/hooks'
import type { Artifact, CsvArtifact, DbtResult } from '../types.ts'
import { formatDuration, formatNumber } from '../format.ts'
import { Empty, Json, stateColor } from './common.tsx'

interface DbtArtifact {
  command?: string
  elapsedS?: number
  counts?: Record<string, number>
  failed?: boolean
  error?: string
  results: DbtResult[]
}

function isCsv(data: unknown): data is CsvArtifact {
  return typeof data === 'object' && data !== null && typeof (data as CsvArtifact).lakeUrl === 'string'
}
function isDbt(data: unknown): data is DbtArtifact {
  return typeof data === 'object' && data !== null && Array.isArray((data as DbtArtifact).results)
}
function isAddressList(data: unknown): data is string[] {
  return Array.isArray(data) && data.length > 0 && data.every((x) => typeof x === 'string')
}

/** dbt statuses mapped onto our badge colours. */
function dbtState(status: string): string {
  if (status === 'pass' || status === 'success') return 'success'
  if (status === 'fail' || status === 'error' || status === 'runtime error') return 'failed'
  if (status === 'warn') return 'retrying'
  if (status === 'skipped') return 'skipped'
  return status
}

function seconds(r: DbtResult): number | null {
  const s = r.executionTimeS ?? r.executionTime
  return typeof s === 'number' ? s : null
}

function DbtView({ data }: { data: DbtArtifact }) {
  const results = data.results
  const tests = results.filter((r) => r.resourceType === 'test')
  const passed = tests.filter((r) => r.status === 'pass').length
  const others = results.length - tests.length
  // Dozens of passing tests drown the interesting rows: show models and problems, the rest on demand.
  const [showAll, setShowAll] = useState(false)
  const interesting = (r: DbtResult) => r.resourceType !== 'test' || (r.status !== 'pass' && r.status !== 'success')
  const shown = showAll ? results : results.filter(interesting)
  const hidden = results.length - shown.length
  return (
    <div>
      <p class="dbt-summary">
        {data.command ? <code>{data.command}</code> : null}
        {data.elapsedS !== undefined ? <span class="muted"> · {formatDuration(data.elapsedS * 1000)}</span> : null}
        {' · '}
        {others} models/seeds ·{' '}
        <strong data-testid="dbt-tests" class={passed < tests.length ? 'error-text' : ''}>
          {passed}/{tests.length} tests passed
        </strong>
      </p>
      {data.error ? <p class="error-text">{data.error}</p> : null}
      <div class="table-wrap">
        <table class="table dbt-table">
          <thead>
            <tr>
              <th>Node</th>
              <th class="hide-sm">Type</th>
              <th>Status</th>
              <th class="num">Time</th>
            </tr>
          </thead>
          <tbody>
            {shown.map((r) => {
              const s = seconds(r)
              return (
                <tr key={r.uniqueId} data-status={r.status} data-type={r.resourceType}>
                  <td>
                    <code class="break">{r.name}</code>
                    {r.message && r.status !== 'pass' && r.status !== 'success' ? <div class="sub">{r.message}</div> : null}
                    {r.failures ? <div class="sub error-text">{r.failures} failing rows</div> : null}
                  </td>
                  <td class="hide-sm">{r.resourceType}</td>
                  <td>
                    <span class="badge" style={{ '--c': stateColor(dbtState(r.status)) }}>
                      {r.status}
                    </span>
                  </td>
                  <td class="num">{s === null ? '—' : formatDuration(s * 1000)}</td>
                </tr>
              )
            })}
          </tbody>
        </table>
      </div>
      {hidden > 0 || showAll ? (
        <button type="button" class="btn small" onClick={() => setShowAll(!showAll)} data-testid="dbt-toggle">
          {showAll ? 'Hide passing tests' : `Show ${hidden} passing tests`}
        </button>
      ) : null}
    </div>
  )
}

export function Artifacts({ items }: { items: Artifact[] }) {
  if (!items.length) return <Empty>This run has produced no artifacts.</Empty>
  return (
    <div class="artifacts">
      {items.map((a) => (
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
          ) : isDbt(a.data) ? (
            <DbtView data={a.data} />
          ) : isAddressList(a.data) ? (
            <ul class="address-list">
              {a.data.map((addr) => (
                <li key={addr}>
                  <code class="break" data-testid="lake-address">
                    {addr}
                  </code>
                </li>
              ))}
            </ul>
          ) : (
            <Json value={a.data} />
          )}
        </div>
      ))}
    </div>
  )
}
