/**
 * The TypeScript loader of run processes (src/agent/ts-hooks.mjs): it resolves what TypeScript
 * writes and Node does not (`./x.js` for x.ts, `./x`, `./dir`), compiles once into a private
 * cache, never serves a stale entry after an edit, and keeps stack traces on the TypeScript lines.
 * No database: it runs in the PGlite pass only.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import fc from 'fast-check'
import { DB_KIND } from '../helpers/rota.ts'

const ROOT = path.resolve(import.meta.dirname, '../..')
const HOOKS = pathToFileURL(path.join(ROOT, 'src/agent/ts-hooks.mjs')).href

interface Hooks {
  initialize(data: { cacheDir?: string; tsconfig?: string }): void
  load(url: string, context: object, next: (url: string, context?: object) => Promise<object>): Promise<{ format?: string; source?: string }>
}

function project(files: Record<string, string>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rota-ts-hooks-'))
  for (const [name, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true })
    fs.writeFileSync(path.join(dir, name), text)
  }
  return dir
}

/** Runs `main.ts` of `dir` in a Node process with the loader registered, as `rota internal run-child` does. */
function runWithHooks(dir: string, cacheDir: string | undefined): { status: number | null; stdout: string; stderr: string } {
  const register = `import { register } from 'node:module'
register(${JSON.stringify(HOOKS)}, import.meta.url, { data: { cacheDir: ${JSON.stringify(cacheDir)} } })
process.setSourceMapsEnabled(true)
await import(${JSON.stringify(pathToFileURL(path.join(dir, 'main.ts')).href)})`
  const res = spawnSync(process.execPath, ['--input-type=module', '-e', register], { cwd: dir, encoding: 'utf8', timeout: 60_000 })
  return { status: res.status, stdout: res.stdout, stderr: res.stderr }
}

describe('the run processes\' TypeScript loader', { skip: DB_KIND === 'pglite' ? false : 'no database: once, in the PGlite pass' }, () => {
  it('loads what TypeScript writes, caches it privately, recompiles an edited file, and reports TypeScript lines', () => {
    const dir = project({
      'main.ts': [
        "import { value } from './dep.js'", // TypeScript's way of naming dep.ts
        "import { other } from './other'", // no extension
        "import { inner } from './dir'", // a folder's index.ts
        "import type { Shape } from './types.ts'",
        'enum Color { Red = 1, Green }', // not only types to strip: an enum compiles to code
        'const shape: Shape = { n: value + other + inner + Color.Green }',
        'console.log(JSON.stringify(shape))',
        'function fail(): never {',
        "  throw new Error('on line 9')",
        '}',
        'try { fail() } catch (err) { console.log((err as Error).stack?.split("\\n")[1]) }',
      ].join('\n'),
      'dep.ts': 'export const value: number = 1\n',
      'other.ts': 'export const other: number = 10\n',
      'dir/index.ts': 'export const inner: number = 100\n',
      'types.ts': 'export interface Shape { n: number }\n',
    })
    const cache = fs.mkdtempSync(path.join(os.tmpdir(), 'rota-ts-cache-'))
    try {
      const first = runWithHooks(dir, cache)
      assert.equal(first.status, 0, first.stderr)
      const [json, frame] = first.stdout.trim().split('\n')
      assert.deepEqual(JSON.parse(json as string), { n: 1 + 10 + 100 + 2 })
      // the frame names main.ts at line 9, the TypeScript source's line (source maps), not the compiled one
      assert.match(frame as string, /main\.ts:9:\d+/)

      // one entry per file loaded (types.ts was only a type import: erased, never loaded), private to this user
      const entries = fs.readdirSync(cache)
      assert.equal(entries.length, 4, `one entry per file: ${entries.join(', ')}`)
      for (const e of entries) assert.equal(fs.statSync(path.join(cache, e)).mode & 0o777, 0o600)
      const before = new Map(entries.map((e) => [e, fs.readFileSync(path.join(cache, e), 'utf8')]))

      // a second process reads the cache: the entries are unchanged, the result the same
      const second = runWithHooks(dir, cache)
      assert.equal(second.stdout, first.stdout)
      for (const [e, text] of before) assert.equal(fs.readFileSync(path.join(cache, e), 'utf8'), text)

      // an edit replaces its file's entry: the new value, never the cached one, and no new entry
      fs.writeFileSync(path.join(dir, 'dep.ts'), 'export const value: number = 5\n')
      const third = runWithHooks(dir, cache)
      assert.deepEqual(JSON.parse(third.stdout.split('\n')[0] as string), { n: 5 + 10 + 100 + 2 })
      assert.equal(fs.readdirSync(cache).length, 4)

      // without a cache folder it still works (compiled in memory)
      const uncached = runWithHooks(dir, undefined)
      assert.equal(uncached.stdout, third.stdout)
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
      fs.rmSync(cache, { recursive: true, force: true })
    }
  })

  it('a syntax error names the file and line, and a missing import stays a clear error', () => {
    const dir = project({ 'main.ts': "import { x } from './missing.js'\nconsole.log(x)\n", 'bad.ts': 'export const = 1\n' })
    try {
      const missing = runWithHooks(dir, undefined)
      assert.notEqual(missing.status, 0)
      assert.match(missing.stderr, /Cannot find module .*missing\.js/)
      fs.writeFileSync(path.join(dir, 'main.ts'), "import './bad.ts'\n")
      const bad = runWithHooks(dir, undefined)
      assert.notEqual(bad.status, 0)
      assert.match(bad.stderr, /bad\.ts:1:\d+/)
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  })

  it('whatever a file is edited to, a load gives its latest content, never a cached older one (property)', async () => {
    const hooks = (await import(HOOKS)) as Hooks
    const cache = fs.mkdtempSync(path.join(os.tmpdir(), 'rota-ts-cache-'))
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rota-ts-edit-'))
    hooks.initialize({ cacheDir: cache })
    const file = path.join(dir, 'value.ts')
    const url = pathToFileURL(file).href
    const notTypeScript = async () => assert.fail('a .ts file is compiled by the loader, not passed on')
    try {
      await fc.assert(
        fc.asyncProperty(fc.array(fc.oneof(fc.string(), fc.integer(), fc.constantFrom('', '\u2028', '*/', '`${x}`', '\\')), { minLength: 1, maxLength: 6 }), async (edits) => {
          for (const value of edits) {
            fs.writeFileSync(file, `type T = string | number\nexport const value: T = ${JSON.stringify(value)}\n`)
            const { format, source } = await hooks.load(url, {}, notTypeScript)
            assert.equal(format, 'module')
            const mod = (await import(`data:text/javascript;base64,${Buffer.from(source as string).toString('base64')}`)) as { value: unknown }
            assert.deepEqual(mod.value, value)
          }
          assert.equal(fs.readdirSync(cache).length, 1)
        }),
        { numRuns: 40 },
      )
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
      fs.rmSync(cache, { recursive: true, force: true })
    }
  })
})
