/**
 * The TypeScript loader of run processes (`rota internal run-child`): Node's module hooks
 * (module.register, run on Node's loader thread) that strip types with esbuild and keep the result
 * in a cache folder, so a run process reads JavaScript it compiled before and never loads a
 * compiler. This file is JavaScript because it runs before any TypeScript can.
 *
 * Why not tsx, which the rest of Rota uses: tsx costs ~0.2 s of CPU in every process it starts (its
 * code and esbuild's are loaded on the loader thread even when its cache answers). For a server or
 * a shared worker that is paid once; for `process` isolation it is paid by every run, and on two
 * cores it capped runs at ~4 a second. This loader loads esbuild only on a cache miss.
 *
 * It does what flows need and no more: `.ts`, `.mts` and `.tsx` files are ES modules; a relative
 * import may name the `.ts` file as `.js` (TypeScript's convention) or leave the extension out.
 * Stack traces point at the TypeScript lines (inline source maps; the process enables them).
 */
import { createHash } from 'node:crypto'
import fs from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

/** Bumped when the compiled form changes (options, this file), so old entries are not reused; esbuild's version is added. */
const FORMAT = 'rota-ts-1'
const TYPESCRIPT = /\.(m?ts|tsx)$/

/** @type {string | undefined} A private folder (the agent checked it), or none: compile in memory. */
let cacheDir
/** @type {string | undefined} The project's tsconfig.json, as text (esbuild reads its compiler options). */
let tsconfig
/** @type {Promise<typeof import('esbuild')> | undefined} */
let esbuild

/** @type {string} What compiled an entry: this file's format and esbuild's version (another esbuild may compile differently). */
let compiler = FORMAT

/** @param {{ cacheDir?: string, tsconfig?: string } | undefined} data */
export function initialize(data) {
  cacheDir = data?.cacheDir || undefined
  tsconfig = data?.tsconfig || undefined
  if (!cacheDir) return
  try {
    const main = createRequire(import.meta.url).resolve('esbuild')
    compiler = `${FORMAT} esbuild ${JSON.parse(fs.readFileSync(path.join(path.dirname(main), '..', 'package.json'), 'utf8')).version}`
  } catch {
    cacheDir = undefined // no way to tell which esbuild compiled an entry: do not keep any
  }
}

/**
 * @param {string} specifier
 * @param {{ parentURL?: string }} context
 * @param {(specifier: string, context?: object) => Promise<{ url: string }>} nextResolve
 */
export async function resolve(specifier, context, nextResolve) {
  try {
    return await nextResolve(specifier, context)
  } catch (err) {
    const code = /** @type {{ code?: string }} */ (err).code
    const fromTypeScript = context.parentURL?.startsWith('file:') && TYPESCRIPT.test(new URL(context.parentURL).pathname)
    if (!fromTypeScript || !/^\.\.?\//.test(specifier) || (code !== 'ERR_MODULE_NOT_FOUND' && code !== 'ERR_UNSUPPORTED_DIR_IMPORT')) throw err
    for (const candidate of alternatives(specifier)) {
      try {
        return await nextResolve(candidate, context)
      } catch {
        // the next one
      }
    }
    throw err
  }
}

/** What a relative import in TypeScript may mean when its literal path does not exist. */
function alternatives(specifier) {
  const js = /\.(m?)js$/.exec(specifier)
  if (js) return [specifier.slice(0, -js[0].length) + `.${js[1]}ts`, ...(js[1] ? [] : [specifier.slice(0, -3) + '.tsx'])]
  if (/\.[cm]?[jt]sx?$/.test(specifier)) return []
  return [`${specifier}.ts`, `${specifier}.tsx`, `${specifier}/index.ts`]
}

/**
 * @param {string} url
 * @param {object} context
 * @param {(url: string, context?: object) => Promise<object>} nextLoad
 */
export async function load(url, context, nextLoad) {
  if (!url.startsWith('file:')) return nextLoad(url, context)
  const file = fileURLToPath(url)
  const ext = TYPESCRIPT.exec(file)
  if (!ext) return nextLoad(url, context)
  const source = fs.readFileSync(file, 'utf8')
  return { format: 'module', source: await compile(file, source, ext[1] === 'tsx' ? 'tsx' : 'ts'), shortCircuit: true }
}

/**
 * One cache entry per source file (named by a hash of its path), whose first line holds the hash of
 * what it was compiled from: an edited file replaces its entry, so the folder grows with the number
 * of files, not of edits.
 * @param {string} file @param {string} source @param {'ts' | 'tsx'} loader
 */
async function compile(file, source, loader) {
  const stamp = `//${createHash('sha256').update(compiler).update('\0').update(tsconfig ?? '').update('\0').update(source).digest('base64url')}\n`
  const entry = cacheDir && path.join(cacheDir, `${createHash('sha256').update(file).digest('base64url')}.js`)
  if (entry) {
    try {
      const cached = fs.readFileSync(entry, 'utf8')
      if (cached.startsWith(stamp)) return cached.slice(stamp.length)
    } catch {
      // not compiled yet
    }
  }
  esbuild ??= import('esbuild')
  const { code } = await (await esbuild).transform(source, {
    loader,
    format: 'esm',
    target: 'node20',
    platform: 'node',
    sourcemap: 'inline',
    sourcefile: file,
    ...(tsconfig ? { tsconfigRaw: tsconfig } : {}),
  })
  if (entry) {
    try {
      // through a temporary name, so a process reading at the same time never sees half of it
      const tmp = `${entry}.${process.pid}.tmp`
      fs.writeFileSync(tmp, stamp + code, { mode: 0o600 })
      fs.renameSync(tmp, entry)
    } catch {
      // a cache that cannot be written costs time, not correctness
    }
  }
  return code
}
