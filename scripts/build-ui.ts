/**
 * Bundle the dashboard: src/ui/main.tsx -> dist/ui/{index.html, app.js, app.css}.
 *
 *   npm run build:ui            production build (minified)
 *   npm run build:ui -- --watch rebuild on change (development)
 *
 * The server serves dist/ui at `/`. index.html references the bundle with a content hash
 * (`app.js?v=...`) so a new build is never hidden by a cached old one.
 */
import { createHash } from 'node:crypto'
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import * as esbuild from 'esbuild'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const outdir = path.join(root, 'dist', 'ui')
const watch = process.argv.includes('--watch')

async function writeIndex(): Promise<void> {
  const [js, css, template] = await Promise.all([
    readFile(path.join(outdir, 'app.js')),
    readFile(path.join(outdir, 'app.css')),
    readFile(path.join(root, 'src', 'ui', 'index.html'), 'utf8'),
  ])
  const version = createHash('sha256').update(js).update(css).digest('hex').slice(0, 12)
  await writeFile(path.join(outdir, 'index.html'), template.replaceAll('__VERSION__', version))
}

const options: esbuild.BuildOptions = {
  entryPoints: { app: path.join(root, 'src', 'ui', 'main.tsx') },
  outdir,
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

try {
  await rm(outdir, { recursive: true, force: true })
  await mkdir(outdir, { recursive: true })
  if (watch) {
    const ctx = await esbuild.context(options)
    await ctx.watch()
    console.log(`[build-ui] watching src/ui -> ${path.relative(root, outdir)}`)
  } else {
    const started = performance.now()
    const result = await esbuild.build(options)
    const sizes = Object.entries(result.metafile?.outputs ?? {})
      .map(([file, out]) => `${path.basename(file)} ${(out.bytes / 1024).toFixed(1)} kB`)
      .join(', ')
    console.log(`[build-ui] dist/ui: ${sizes} (${Math.round(performance.now() - started)} ms)`)
  }
} catch (err) {
  // esbuild already printed the located errors; exit non-zero for CI.
  if (!(err instanceof Error && 'errors' in err)) console.error(err)
  process.exitCode = 1
}
