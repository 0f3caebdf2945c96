/**
 * Bundle the dashboard: src/ui/main.tsx and the dashboard modules of the project's plugins
 * (package.json "rota.plugins") -> dist/ui/{index.html, app.js, app.css}.
 *
 *   npm run build:ui            production build (minified); also run by `npm install` (prepare)
 *   npm run build:ui -- --watch rebuild on change (development)
 *
 * The entry is generated: it imports every plugin's dashboard module and hands them to
 * `startDashboard`, so a plugin adds pages without touching src/ui. The server serves dist/ui at
 * `/`. index.html references the bundle with a content hash (`app.js?v=...`) so a new build is
 * never hidden by a cached old one; each file gets a Brotli (.br) and a gzip (.gz) copy, which the
 * server sends to browsers that take them.
 */
import { createHash } from 'node:crypto'
import { brotliCompressSync, constants as zlibConstants, gzipSync } from 'node:zlib'
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import * as esbuild from 'esbuild'
import { loadPlugins, projectPluginFiles } from '../src/plugin.ts'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')

export interface BuildDashboardOptions {
  /** The project root (its package.json lists the plugins). */
  root?: string
  /** Where the bundle goes; default `<root>/dist/ui`. */
  outdir?: string
  /** Plugin modules, relative to root; default the project's `rota.plugins`. */
  plugins?: readonly string[]
  watch?: boolean
}

/** The generated entry: the dashboard, started with every plugin's pages. */
export async function dashboardEntry(root: string, plugins: readonly string[]): Promise<string> {
  const modules = (await loadPlugins(root, plugins)).flatMap((p) => (p.dashboard ? [p.dashboard] : []))
  const lines = [`import { startDashboard } from ${JSON.stringify(path.join(ROOT, 'src/ui/main.tsx'))}`]
  modules.forEach((m, i) => lines.push(`import plugin${i} from ${JSON.stringify(m)}`))
  lines.push(`startDashboard([${modules.map((_, i) => `plugin${i}`).join(', ')}])`)
  return lines.join('\n')
}

export async function buildDashboard(options: BuildDashboardOptions = {}): Promise<{ outdir: string; sizes: string }> {
  const root = options.root ?? ROOT
  const outdir = options.outdir ?? path.join(root, 'dist', 'ui')
  const watch = options.watch ?? false
  const contents = await dashboardEntry(root, options.plugins ?? projectPluginFiles(root))

  const writeIndex = async (): Promise<void> => {
    const [js, css, template] = await Promise.all([
      readFile(path.join(outdir, 'app.js')),
      readFile(path.join(outdir, 'app.css')),
      readFile(path.join(ROOT, 'src', 'ui', 'index.html'), 'utf8'),
    ])
    const version = createHash('sha256').update(js).update(css).digest('hex').slice(0, 12)
    const html = template.replaceAll('__VERSION__', version)
    await writeFile(path.join(outdir, 'index.html'), html)
    // Compressed once here rather than on every request: the server sends the .br or .gz copy the browser takes.
    if (!watch) {
      for (const [name, data] of [['app.js', js], ['app.css', css], ['index.html', Buffer.from(html)]] as const) {
        await writeFile(path.join(outdir, `${name}.br`), brotliCompressSync(data, { params: { [zlibConstants.BROTLI_PARAM_QUALITY]: 11 } }))
        await writeFile(path.join(outdir, `${name}.gz`), gzipSync(data, { level: 9 }))
      }
    }
  }

  const buildOptions: esbuild.BuildOptions = {
    stdin: { contents, resolveDir: root, sourcefile: 'rota-dashboard-entry.tsx', loader: 'tsx' },
    outfile: path.join(outdir, 'app.js'),
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: ['chrome109', 'firefox115', 'safari16'],
    minify: !watch,
    sourcemap: watch ? 'inline' : false,
    legalComments: 'none',
    jsx: 'automatic',
    jsxImportSource: 'preact',
    define: { 'process.env.NODE_ENV': JSON.stringify(watch ? 'development' : 'production') },
    logLevel: 'warning',
    metafile: true,
    plugins: [
      {
        name: 'write-index',
        setup(build) {
          build.onEnd(async (result) => {
            if (result.errors.length) return
            await writeIndex()
            if (watch) console.log(`[build-ui] rebuilt ${new Date().toLocaleTimeString()}`)
          })
        },
      },
    ],
  }

  await rm(outdir, { recursive: true, force: true })
  await mkdir(outdir, { recursive: true })
  if (watch) {
    const ctx = await esbuild.context(buildOptions)
    await ctx.watch()
    return { outdir, sizes: 'watching' }
  }
  const result = await esbuild.build(buildOptions)
  const sizes = Object.entries(result.metafile?.outputs ?? {})
    .map(([file, out]) => `${path.basename(file)} ${(out.bytes / 1024).toFixed(1)} kB`)
    .join(', ')
  return { outdir, sizes }
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  const watch = process.argv.includes('--watch')
  try {
    const started = performance.now()
    const { outdir, sizes } = await buildDashboard({ watch })
    const where = path.relative(ROOT, outdir)
    console.log(watch ? `[build-ui] watching src/ui and the plugins' pages -> ${where}` : `[build-ui] ${where}: ${sizes} (${Math.round(performance.now() - started)} ms)`)
  } catch (err) {
    // esbuild already printed the located errors; exit non-zero for CI.
    if (!(err instanceof Error && 'errors' in err)) console.error(err)
    process.exitCode = 1
  }
}
