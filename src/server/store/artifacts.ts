/** SQL for artifacts: what runs keep for people to read, with their kind (src/core/artifacts.ts). */
import type { Queryable } from '../db/index.ts'
import type { ArtifactKind } from '../../core/artifacts.ts'

export interface ArtifactRow {
  id: number
  key: string
  kind: ArtifactKind
  description: string | null
  taskName: string | null
  data: unknown
  createdAt: Date
}

const ARTIFACT_COLUMNS = `id, key, kind, description, task_name as "taskName", data, created_at as "createdAt"`

export interface NewArtifact {
  key: string
  kind: ArtifactKind
  data: unknown
  description?: string | null | undefined
  taskName?: string | null | undefined
}

export async function insertArtifact(db: Queryable, flowRunId: string, a: NewArtifact): Promise<ArtifactRow> {
  const rows = await db.query<ArtifactRow>(
    `insert into rota_artifacts (flow_run_id, key, kind, data, description, task_name) values ($1, $2, $3, $4::jsonb, $5, $6)
     returning ${ARTIFACT_COLUMNS}`,
    [flowRunId, a.key, a.kind, JSON.stringify(a.data ?? null), a.description ?? null, a.taskName ?? null],
  )
  const row = rows[0] as ArtifactRow
  return { ...row, id: Number(row.id) }
}

export async function listArtifacts(db: Queryable, flowRunId: string): Promise<ArtifactRow[]> {
  const rows = await db.query<ArtifactRow>(`select ${ARTIFACT_COLUMNS} from rota_artifacts where flow_run_id = $1 order by id`, [flowRunId])
  return rows.map((r) => ({ ...r, id: Number(r.id) }))
}
