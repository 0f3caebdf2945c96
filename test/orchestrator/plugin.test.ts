/**
 * A second plugin (test/fixtures/plugin) adds a route, a command and a dashboard page without
 * touching src/: the route is mounted under /api/echo behind the core's checks and documented, the
 * command joins `rota`, the page joins the dashboard's navigation and reads the route.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { freshDatabase, ROOT, testConfig, type TestDatabase } from '../helpers/rota.ts'
import { startServer, type RunningServer } from '../../src/server/index.ts'
import { loadPlugins, pluginEnvNames, type LoadedPlugin } from '../../src/plugin.ts'
import { buildProgram } from '../../src/cli/main.ts'
import { buildDashboard } from '../../scripts/build-ui.ts'
import { openPage } from '../ui/browser.ts'

const PLUGINS = ['pipelines/brt/plugin.ts', 'test/fixtures/plugin/plugin.ts']

let db: TestDatabase
let plugins: LoadedPlugin[]
let server: RunningServer
let keyed: RunningServer
const uiDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rota-plugin-ui-'))

before(async () => {
  plugins = await loadPlugins(ROOT, PLUGINS)
  await buildDashboard({ outdir: uiDir, plugins: PLUGINS })
  db = await freshDatabase()
  server = await startServer(testConfig(db), { plugins, uiDir, env: {}, log: () => undefined })
})
after(async () => {
  await server?.close()
  await keyed?.close()
  await db?.drop()
  fs.rmSync(uiDir, { recursive: true, force: true })
})

describe('a second plugin', () => {
  it('adds a route under /api/<name>, validated, documented, in the core error shape', async () => {
    const ok = await fetch(`${server.url}/api/echo/greeting?name=rota`)
    assert.equal(ok.status, 200)
    assert.deepEqual(await ok.json(), { greeting: 'hello, rota', name: 'rota' })
    const bad = await fetch(`${server.url}/api/echo/greeting?name=${'x'.repeat(30)}`)
    assert.equal(bad.status, 400)
    assert.match(((await bad.json()) as { error: { message: string } }).error.message, /name/)
    const doc = (await (await fetch(`${server.url}/api/openapi.json`)).json()) as { paths: Record<string, unknown>; components: { schemas: Record<string, unknown> } }
    assert.ok(doc.paths['/api/echo/greeting'], 'documented')
    assert.ok(doc.paths['/api/brt/vehicles'], 'beside the first plugin')
    assert.ok(doc.components.schemas.EchoGreeting)
  })

  it("sits behind the core's API key check", async () => {
    const other = await freshDatabase()
    try {
      keyed = await startServer(testConfig(other, { apiKey: 'plugin-test-key-1234' }), { plugins, env: {}, log: () => undefined })
      assert.equal((await fetch(`${keyed.url}/api/echo/greeting`)).status, 401)
      assert.equal((await fetch(`${keyed.url}/api/echo/greeting`, { headers: { 'x-api-key': 'plugin-test-key-1234' } })).status, 200)
    } finally {
      await keyed?.close()
      await other.drop()
    }
  })

  it('adds a command to `rota` and its environment names to what run containers get', async () => {
    const program = await buildProgram(plugins)
    assert.ok(program.commands.some((c) => c.name() === 'brt'))
    const lines: string[] = []
    const log = console.log
    console.log = (...args: unknown[]) => void lines.push(args.join(' '))
    try {
      await program.parseAsync(['node', 'rota', 'echo', 'hello', 'plugins'])
    } finally {
      console.log = log
    }
    assert.deepEqual(lines, ['echo: hello plugins'])
    assert.ok(pluginEnvNames(plugins).includes('ECHO_VOICE'))
    assert.ok(pluginEnvNames(plugins).includes('LAKE_URL'))
  })

  it('adds a page to the dashboard, which reads its route', async () => {
    const b = await openPage()
    try {
      await b.page.goto(`${server.url}/#/echo`)
      await b.page.locator('[data-testid=echo-greeting]', { hasText: 'hello, dashboard' }).waitFor()
      const nav = await b.page.locator('nav.sidebar a').allTextContents()
      // Plugin pages come after every built-in page, in the order the plugins were loaded.
      const names = nav.map((t) => t.replace(/^\W+/, '').trim()).filter(Boolean)
      assert.deepEqual(names.slice(-2), ['BRT data', 'Echo'])
      assert.ok(names.slice(0, -2).includes('Agents'), names.join(', '))
      assert.deepEqual(b.errors, [])
    } finally {
      await b.close()
    }
  })

  it('a plugin that is not one is refused with a message that names it', async () => {
    await assert.rejects(loadPlugins(ROOT, ['test/fixtures/hello.ts']), /plugin test\/fixtures\/hello.ts must export default definePlugin/)
    await assert.rejects(loadPlugins(ROOT, ['test/fixtures/no-such-plugin.ts']), /does not exist/)
  })
})
