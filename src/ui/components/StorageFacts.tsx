/** What the database holds and for how long (GET /api/health's `storage`): facts for the health card. */
import { TimeAgo } from './common.tsx'
import { formatDurationSeconds } from '../../core/duration.ts'
import type { Storage } from '../types.ts'

export function formatBytes(bytes: number | null): string {
  if (bytes === null) return '—'
  const units = ['B', 'KB', 'MB', 'GB', 'TB']
  let n = bytes
  let i = 0
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024
    i++
  }
  return `${n < 10 && i > 0 ? n.toFixed(1) : Math.round(n)} ${units[i]}`
}

export function StorageFacts({ storage }: { storage: Storage }) {
  const { maxAgeSeconds, keepLast } = storage.retention
  return (
    <>
      <div>
        <dt>Database size</dt>
        <dd data-testid="database-size">{formatBytes(storage.databaseBytes)}</dd>
      </div>
      <div>
        <dt>Oldest run kept</dt>
        <dd data-testid="oldest-run">{storage.oldestRun ? <TimeAgo iso={storage.oldestRun} /> : <span class="muted">none</span>}</dd>
      </div>
      <div>
        <dt>Runs kept</dt>
        <dd>{storage.runs.toLocaleString()}</dd>
      </div>
      <div>
        <dt>Retention</dt>
        <dd data-testid="retention" title="ROTA_RETENTION, ROTA_RETENTION_KEEP_LAST (flows may set their own)">
          {maxAgeSeconds === null ? 'keep all' : `${formatDurationSeconds(maxAgeSeconds)}, newest ${keepLast} kept`}
        </dd>
      </div>
    </>
  )
}
