/**
 * The registry of published bronze CSVs: one small CSV in the lake (`_manifests/brt_gps/bronze_files.csv`,
 * columns `file,dt,published_at`), declared to dbt as an external table next to bronze itself.
 *
 * Why it exists: silver reads only the bronze files it has not processed yet, by name and by `dt`,
 * so the warehouse must know which files exist without reading them. DuckDB could list a folder,
 * BigQuery cannot list GCS from SQL; a registry written where the files are published works for
 * both and is read in one small request. Entries are added by `upload` (after the copy) and by
 * `rota brt replay`, removed by lake retention; every change is idempotent (a set of file names,
 * rewritten whole under a lake lock), so a crash between a publication and its entry is repaired
 * by `reconcileRegistry` (which `rota brt build` runs).
 */
import type { Lake } from './lake.ts'
import { BRONZE_PREFIX, BRONZE_REGISTRY, LOCKS, bronzeFileId } from './lake-keys.ts'

export interface RegistryEntry {
  /** Relative to `bronze/brt_gps/`: `dt=YYYY-MM-DD/brt_gps_<windowId>.csv`. */
  readonly file: string
  readonly dt: string
  readonly publishedAt: string
}

export const REGISTRY_HEADER = 'file,dt,published_at\n'
const LINE = /^(dt=(\d{4}-\d{2}-\d{2})\/[A-Za-z0-9_.-]+\.csv),(\d{4}-\d{2}-\d{2}),([0-9TZ:.-]+)$/

export async function readRegistry(lake: Lake): Promise<RegistryEntry[]> {
  const data = await lake.get(BRONZE_REGISTRY)
  if (data === undefined) return []
  const entries: RegistryEntry[] = []
  for (const [i, line] of data.toString('utf8').split('\n').entries()) {
    if (i === 0 || line === '') continue
    const m = LINE.exec(line)
    if (!m || m[2] !== m[3]) throw new Error(`${lake.address(BRONZE_REGISTRY)} line ${i + 1} is damaged ("${line.slice(0, 120)}"); run \`rota brt build\` to rebuild it from the lake`)
    entries.push({ file: m[1]!, dt: m[3]!, publishedAt: m[4]! })
  }
  return entries
}

function serialize(entries: Iterable<RegistryEntry>): string {
  const sorted = [...entries].sort((a, b) => a.file.localeCompare(b.file))
  return REGISTRY_HEADER + sorted.map((e) => `${e.file},${e.dt},${e.publishedAt}\n`).join('')
}

async function update(lake: Lake, change: (entries: Map<string, RegistryEntry>) => boolean): Promise<void> {
  const release = await lake.lock(LOCKS.registry)
  try {
    const entries = new Map((await readRegistry(lake)).map((e) => [e.file, e]))
    const existed = await lake.exists(BRONZE_REGISTRY)
    if (change(entries) || !existed) await lake.put(BRONZE_REGISTRY, serialize(entries.values()), { contentType: 'text/csv; charset=utf-8' })
  } finally {
    await release()
  }
}

/** Makes sure the registry exists (an empty one has its header), so the external table always has its file. */
export async function ensureRegistry(lake: Lake): Promise<void> {
  if (!(await lake.exists(BRONZE_REGISTRY))) await update(lake, () => false)
}

/** Adds bronze CSV keys (`bronze/brt_gps/dt=…/x.csv`); keys already there keep their entry. Returns how many were new. */
export async function registerBronzeFiles(lake: Lake, keys: readonly string[], now: Date = new Date()): Promise<number> {
  let added = 0
  await update(lake, (entries) => {
    for (const key of keys) {
      const { file, dt } = bronzeFileId(key)
      if (entries.has(file)) continue
      entries.set(file, { file, dt, publishedAt: now.toISOString() })
      added++
    }
    return added > 0
  })
  return added
}

/** Removes entries (relative file ids). */
export async function unregisterBronzeFiles(lake: Lake, files: readonly string[]): Promise<void> {
  await update(lake, (entries) => files.map((f) => entries.delete(f)).some(Boolean))
}

/** Makes the registry match the lake: registers published CSVs it misses, drops entries whose file is gone. */
export async function reconcileRegistry(lake: Lake, now: Date = new Date()): Promise<{ added: number; removed: number }> {
  const published = (await lake.list(BRONZE_PREFIX)).filter((k) => k.endsWith('.csv')).map(bronzeFileId)
  const present = new Set(published.map((p) => p.file))
  let added = 0
  let removed = 0
  await update(lake, (entries) => {
    for (const p of published) {
      if (entries.has(p.file)) continue
      entries.set(p.file, { ...p, publishedAt: now.toISOString() })
      added++
    }
    for (const file of [...entries.keys()]) {
      if (present.has(file)) continue
      entries.delete(file)
      removed++
    }
    return added + removed > 0
  })
  return { added, removed }
}
