/** Loads flow modules (TypeScript through tsx) and describes them for registration. */
import { createHash } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { isFlow, type FlowDefinition } from './flow.ts'
import { confinedPath, resolveEntrypoint } from '../entrypoint.ts'

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

export interface LoadOptions {
  /**
   * The file must be inside the project root (symbolic links followed): for registration, since
   * agents import flows only from inside their project. `rota run --local` may load any file.
   */
  insideProject?: boolean
}

export async function loadFlowModule(file: string, projectRoot = process.cwd(), options: LoadOptions = {}): Promise<LoadedFlow[]> {
  let abs = path.resolve(projectRoot, file)
  if (!fs.existsSync(abs)) throw new FlowLoadError(`flow file ${file} does not exist (looked at ${abs})`)
  if (options.insideProject) {
    try {
      abs = confinedPath(abs, projectRoot, `flow file ${file}`)
    } catch (err) {
      throw new FlowLoadError(`${(err as Error).message}; move it into the project, or run it here with \`rota run --local ${file}\``)
    }
    projectRoot = fs.realpathSync(projectRoot)
  }
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

/**
 * Loads the flow an entrypoint (`file.ts:exportName`) names, after checking that its file is inside
 * the project root, symbolic links followed (src/entrypoint.ts): nothing outside it is imported.
 */
export async function loadEntrypoint(entrypoint: string, projectRoot = process.cwd()): Promise<FlowDefinition> {
  let file: string
  let exportName: string
  try {
    ;({ path: file, exportName } = resolveEntrypoint(entrypoint, projectRoot))
  } catch (err) {
    throw new FlowLoadError((err as Error).message)
  }
  const flows = await loadFlowModule(file, projectRoot)
  const found = flows.find((f) => f.exportName === exportName)
  if (!found) throw new FlowLoadError(`${file} has no flow exported as "${exportName}"`)
  return found.flow
}
