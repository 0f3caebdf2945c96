/** Loads flow modules (TypeScript through tsx) and describes them for registration. */
import { createHash } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { isFlow, type FlowDefinition } from './flow.ts'

export class FlowLoadError extends Error {
  override name = 'FlowLoadError'
}

export interface LoadedFlow {
  exportName: string
  flow: FlowDefinition
  /** `relative/path.ts:exportName`, relative to the project root when inside it. */
  entrypoint: string
  version: string
}

export async function loadFlowModule(file: string, projectRoot = process.cwd()): Promise<LoadedFlow[]> {
  const abs = path.resolve(projectRoot, file)
  if (!fs.existsSync(abs)) throw new FlowLoadError(`flow file ${file} does not exist (looked at ${abs})`)
  let mod: Record<string, unknown>
  try {
    mod = (await import(pathToFileURL(abs).href)) as Record<string, unknown>
  } catch (err) {
    throw new FlowLoadError(`could not load ${file}: ${(err as Error).message}`)
  }
  const source = fs.readFileSync(abs)
  const rel = path.relative(projectRoot, abs)
  const location = rel.startsWith('..') || path.isAbsolute(rel) ? abs : rel.split(path.sep).join('/')
  const seen = new Set<FlowDefinition>()
  const flows: LoadedFlow[] = []
  for (const [exportName, value] of Object.entries(mod)) {
    if (!isFlow(value) || seen.has(value)) continue
    seen.add(value)
    const version = createHash('sha256')
      .update(source)
      .update(JSON.stringify({ ...value, fn: undefined }))
      .digest('hex')
      .slice(0, 12)
    flows.push({ exportName, flow: value, entrypoint: `${location}:${exportName}`, version })
  }
  if (flows.length === 0) throw new FlowLoadError(`${file} exports no flow; export one made with defineFlow(...)`)
  return flows
}

/** Loads the flow an entrypoint (`file.ts:exportName`) names. */
export async function loadEntrypoint(entrypoint: string, projectRoot = process.cwd()): Promise<FlowDefinition> {
  const i = entrypoint.lastIndexOf(':')
  const file = i > 0 ? entrypoint.slice(0, i) : entrypoint
  const exportName = i > 0 ? entrypoint.slice(i + 1) : 'default'
  const flows = await loadFlowModule(file, projectRoot)
  const found = flows.find((f) => f.exportName === exportName)
  if (!found) throw new FlowLoadError(`${file} has no flow exported as "${exportName}"`)
  return found.flow
}
