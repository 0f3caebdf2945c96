#!/usr/bin/env -S node --max-semi-space-size=4
// --max-semi-space-size=4 (MB): V8 grows its young generation to 32 MB under load and keeps it. With 4
// a PGlite server's peak is ~30 MB lower (bench:memory 210 -> 181 MB; the throughput benchmark
// ~223 -> ~200 MB) for the same CPU a run (2 cost ~25% more on PGlite under overload). It can only
// be set on Node's command line: this line, `npm start`, the image's NODE_OPTIONS and the
// benchmarks (bench/proc.ts reads this line) carry it.
// The `rota` command. Flows are TypeScript: tsx loads them (and Rota itself) without a build step;
// run processes use a lighter loader of their own.
import v8 from 'node:v8'
import { runInNewContext } from 'node:vm'

const [command, subcommand] = process.argv.slice(2)
const serves = command === 'up' || (command === 'server' && subcommand === 'start')
if (serves && !process.env.DATABASE_URL?.trim()) {
  // The embedded database. PGlite's PostgreSQL is WebAssembly: V8 compiles it with Liftoff, then
  // recompiles hot functions with TurboFan, whose compile buffers stay in malloc's thread arenas
  // (about 60 MB of the idle server) for queries that Liftoff runs nearly as fast at Rota's sizes.
  v8.setFlagsFromString('--liftoff-only')
  // Loaded before tsx: tsx rewrites the dynamic imports of every ES module it loads, with a source
  // map, and keeps the result for the life of the process; for PGlite's bundle that is ~40 MB.
  await import('@electric-sql/pglite')
}
if (command === 'internal' && subcommand === 'run-child') {
  // The hot path of every flow run: a loader of its own (src/agent/ts-hooks.mjs says why not tsx's),
  // and none of the CLI's imports.
  const { register: registerHooks } = await import('node:module')
  const { readFileSync } = await import('node:fs')
  let tsconfig
  try {
    tsconfig = readFileSync('tsconfig.json', 'utf8')
  } catch {
    // esbuild's defaults
  }
  registerHooks('../src/agent/ts-hooks.mjs', import.meta.url, { data: { cacheDir: process.env.ROTA_TS_CACHE, tsconfig } })
  process.setSourceMapsEnabled(true)
  const { runChild, waitForRun } = await import('../src/agent/child.ts')
  // A warm spare (ROTA_WARM=1) has loaded everything and waits for its run over IPC.
  const env = process.env.ROTA_WARM === '1' ? await waitForRun() : process.env
  process.exitCode = await runChild(env, process.cwd())
  process.disconnect?.()
} else if (command === 'internal' && subcommand === 'shared-worker') {
  ;(await import('tsx/esm/api')).register()
  // One of a shared agent's warm workers: many flow runs at once, until the agent goes away.
  const { startWorker } = await import('../src/agent/worker.ts')
  startWorker(process.cwd())
} else {
  ;(await import('tsx/esm/api')).register()
  const { main } = await import('../src/cli/main.ts')
  await main(process.argv)
  if (serves) {
    // The server is up. Starting it left garbage that an idle server never allocates enough to
    // collect (a new PGlite database unpacks its 40 MB template through JavaScript buffers): collect
    // it now. V8 also keeps its young generation at the 32 MB that loading grew it to, and shrinks
    // it only in a collection that follows a few quiet seconds: collect once more a little later.
    collectGarbage()
    setTimeout(collectGarbage, 10_000).unref()
  }
}

function collectGarbage() {
  v8.setFlagsFromString('--expose-gc')
  const gc = runInNewContext('gc')
  v8.setFlagsFromString('--no-expose-gc')
  gc()
}
