/**
 * What a run produced, from its artifacts, each rendered by its kind (src/core/artifacts.ts): a
 * link, a table, a list of files, Markdown, or JSON. The dashboard never guesses from the data.
 */
import { useState } from 'preact/hooks'
import type { Artifact } from '../types.ts'
import { formatNumber } from '../format.ts'
import { Empty, Json } from './common.tsx'
import { Markdown } from './Markdown.tsx'

type Of<K extends Artifact['kind']> = Extract<Artifact, { kind: K }>['data']

const WEB_URL = /^https?:\/\//i

function LinkView({ data }: { data: Of<'link'> }) {
  return (
    <p class="artifact-link">
      {WEB_URL.test(data.url) ? (
        <a href={data.url} target="_blank" rel="noopener noreferrer" data-testid="artifact-link">
          {data.text ?? data.url}
        </a>
      ) : (
        <>
          {data.text ? <strong>{data.text} </strong> : null}
          <code class="break" data-testid="artifact-link">
            {data.url}
          </code>
        </>
      )}
    </p>
  )
}

function cell(value: unknown): string {
  if (value === null || value === undefined) return '—'
  if (typeof value === 'number') return formatNumber(value, Number.isInteger(value) ? 0 : 2)
  if (typeof value === 'string') return value
  if (typeof value === 'boolean') return value ? 'yes' : 'no'
  return JSON.stringify(value)
}

/** Tables can be long (dbt writes one row per model and test): the first rows, the rest on demand. */
const FIRST_ROWS = 50

function TableView({ data }: { data: Of<'table'> }) {
  const [all, setAll] = useState(false)
  const rows = all ? data.rows : data.rows.slice(0, FIRST_ROWS)
  if (data.rows.length === 0) return <Empty>No rows.</Empty>
  return (
    <div>
      <div class="table-wrap">
        <table class="table compact artifact-table" data-testid="artifact-table">
          <thead>
            <tr>
              {data.columns.map((c) => (
                <th key={c}>{c}</th>
              ))}
            </tr>
          </thead>
          <tbody>
            {rows.map((r, i) => (
              <tr key={i}>
                {data.columns.map((c) => (
                  <td key={c} class={typeof r[c] === 'number' ? 'num' : ''} data-column={c}>
                    {cell(r[c])}
                  </td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {data.rows.length > FIRST_ROWS ? (
        <button type="button" class="btn small" onClick={() => setAll(!all)} data-testid="table-toggle">
          {all ? `Show the first ${FIRST_ROWS} rows` : `Show all ${formatNumber(data.rows.length)} rows`}
        </button>
      ) : null}
    </div>
  )
}

function FilesView({ files }: { files: Of<'files'> }) {
  if (files.length === 0) return <Empty>No files.</Empty>
  return (
    <ul class="address-list">
      {files.map((f) => (
        <li key={f}>
          {WEB_URL.test(f) ? (
            <a href={f} target="_blank" rel="noopener noreferrer" data-testid="artifact-file">
              {f}
            </a>
          ) : (
            <code class="break" data-testid="artifact-file">
              {f}
            </code>
          )}
        </li>
      ))}
    </ul>
  )
}

function ArtifactBody({ artifact: a }: { artifact: Artifact }) {
  switch (a.kind) {
    case 'link':
      return <LinkView data={a.data} />
    case 'table':
      return <TableView data={a.data} />
    case 'files':
      return <FilesView files={a.data} />
    case 'markdown':
      return <Markdown text={a.data} />
    case 'json':
      return <Json value={a.data} />
  }
}

export function Artifacts({ items }: { items: Artifact[] }) {
  if (!items.length) return <Empty>This run has produced no artifacts.</Empty>
  return (
    <div class="artifacts">
      {items.map((a) => (
        <div class="artifact" key={a.id} data-artifact={a.key} data-kind={a.kind}>
          <h3>
            {a.key}
            {a.taskName ? <span class="muted"> · {a.taskName}</span> : null}
          </h3>
          {a.description ? (
            <p class="artifact-description" data-testid="artifact-description">
              {a.description}
            </p>
          ) : null}
          <ArtifactBody artifact={a} />
        </div>
      ))}
    </div>
  )
}
