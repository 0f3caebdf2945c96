/**
 * Entrypoints: where a registered flow's code is, as `path/inside/project.ts:exportName`. Running a
 * flow imports that file, so an entrypoint is code execution as the agent's user: it must stay
 * inside the project root of whoever imports it.
 *
 * - `parseEntrypoint` checks the text: a relative path, `/` between folders, no `..`, no NUL, an
 *   export name. The server refuses other entrypoints at registration; the Docker launcher checks
 *   it too (it cannot see inside the image).
 * - `resolveEntrypoint` also follows symbolic links: the file's real path must be inside the real
 *   project root. The local launcher checks before starting a process, and the run process (local
 *   or in a container, whose root is /app) checks again right before it imports.
 */
import fs from 'node:fs'
import path from 'node:path'

export class EntrypointError extends Error {
  override name = 'EntrypointError'
}

export interface Entrypoint {
  /** Relative to the project root, `/` between folders. */
  file: string
  exportName: string
}

const EXPORT_NAME = /^[A-Za-z_$][\w$]*$/
const HOW = 'an entrypoint is a file inside the project, relative to its root, and an export: "flows/etl.ts:default" (`rota register` writes it so)'

/** Splits `file.ts:exportName` (the export defaults to `default`) and checks that the file stays inside the project. */
export function parseEntrypoint(entrypoint: string): Entrypoint {
  const refuse = (why: string): never => {
    throw new EntrypointError(`entrypoint ${JSON.stringify(entrypoint.slice(0, 300))} ${why}; ${HOW}`)
  }
  const colon = entrypoint.lastIndexOf(':')
  // A Windows drive ("C:") is not an export separator; it is refused below as an absolute path.
  const hasExport = colon > 0 && !/^[A-Za-z]:[\\/]/.test(entrypoint.slice(colon - 1))
  const file = hasExport ? entrypoint.slice(0, colon) : entrypoint
  const exportName = hasExport ? entrypoint.slice(colon + 1) : 'default'
  if (file.trim() === '') refuse('names no file')
  if (file.includes('\u0000')) refuse('holds a NUL character')
  if (file.startsWith('/') || file.startsWith('\\') || /^[A-Za-z]:/.test(file)) refuse('is an absolute path, which may lead outside the project')
  if (file.includes('\\')) refuse('holds "\\": separate folders with "/"')
  if (file.split('/').includes('..')) refuse('climbs out with ".."')
  if (!EXPORT_NAME.test(exportName)) refuse(`names the export ${JSON.stringify(exportName.slice(0, 100))}, which is not a JavaScript name`)
  return { file: path.posix.normalize(file), exportName }
}

/**
 * The real path of an entrypoint's file, which must be inside the real project root (symbolic links
 * followed: a link inside the project that leads out is refused). Throws EntrypointError.
 */
export function resolveEntrypoint(entrypoint: string, projectRoot: string): Entrypoint & { path: string } {
  const parsed = parseEntrypoint(entrypoint)
  return { ...parsed, path: confinedPath(parsed.file, projectRoot, `entrypoint ${JSON.stringify(entrypoint)}`) }
}

/** The real path of `file` (relative to the project root, or absolute), which must be inside the real project root. */
export function confinedPath(file: string, projectRoot: string, what = `flow file ${file}`): string {
  const root = fs.realpathSync(projectRoot)
  const lexical = path.resolve(root, file)
  let real: string
  try {
    real = fs.realpathSync(lexical)
  } catch {
    throw new EntrypointError(`${what}: ${lexical} does not exist in the project (${root})`)
  }
  if (!isInside(real, root)) {
    const how = isInside(lexical, root) ? `a symbolic link leads out of the project, to ${real}` : `it is outside the project`
    throw new EntrypointError(`${what} is refused: ${how} (the project root is ${root}); agents import flows only from inside the project`)
  }
  return real
}

function isInside(file: string, root: string): boolean {
  const rel = path.relative(root, file)
  return rel !== '' && rel !== '..' && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel)
}
