/**
 * A web page in the user's real browser (Chromium) tries to drive a key-less Rota server on
 * loopback, the two ways the issue reproduced: a page on another origin posting to the API (a form
 * and a no-cors fetch: both reach the server, the browser only hides the answer), and DNS rebinding
 * (a name of the page's own that resolves to 127.0.0.1, which makes the API same-origin to the page).
 * Both are refused by the server, and nothing changes; the dashboard itself is covered by dashboard.test.ts.
 */
import assert from 'node:assert/strict'
import http from 'node:http'
import { after, before, describe, test } from 'node:test'
import { startHarness, type Harness } from '../helpers/rota.ts'
import { openPage, type BrowserPage } from './browser.ts'

describe('a web page cannot drive a key-less server (real browser)', { timeout: 120_000 }, () => {
  let h: Harness
  let page: BrowserPage
  let attacker: http.Server
  let attackerUrl: string
  let port: number

  before(async () => {
    h = await startHarness()
    await h.register('test/fixtures/hello.ts')
    port = h.server.port
    attacker = http.createServer((req, res) => {
      res.setHeader('content-type', 'text/html')
      res.end(String(new URL(req.url ?? '/', 'http://x').searchParams.get('html') ?? ''))
    })
    await new Promise<void>((resolve) => attacker.listen(0, '127.0.0.1', resolve))
    attackerUrl = `http://127.0.0.1:${(attacker.address() as { port: number }).port}`
    page = await openPage({ args: [`--host-resolver-rules=MAP rebound.test 127.0.0.1`] })
  })
  after(async () => {
    await page?.close()
    attacker?.close()
    await h?.close()
  })

  /** Statuses of the answers the browser got from the Rota server while `act` ran. */
  async function answers(act: () => Promise<void>): Promise<number[]> {
    const statuses: number[] = []
    const onResponse = (r: { url(): string; status(): number }) => {
      if (new URL(r.url()).port === String(port)) statuses.push(r.status())
    }
    page.page.on('response', onResponse)
    try {
      await act()
      await new Promise((r) => setTimeout(r, 1500))
    } finally {
      page.page.off('response', onResponse)
    }
    return statuses
  }

  test('a page on another origin posts a form and a no-cors fetch: refused, the run is not cancelled', async () => {
    const run = await h.client.createRun('hello', {}) // no agent: it stays scheduled
    const target = `http://127.0.0.1:${port}/api/flow-runs/${run.id}/cancel`
    const html = `<form id="f" method="POST" enctype="text/plain" action="${target}" target="sink"><input name="x" value="y"></form>
      <iframe name="sink"></iframe>
      <script>
        fetch(${JSON.stringify(target)}, { method: 'POST', mode: 'no-cors', headers: { 'content-type': 'text/plain' }, body: '{}' })
        document.getElementById('f').submit()
      </script>`
    const statuses = await answers(async () => {
      await page.page.goto(`${attackerUrl}/?html=${encodeURIComponent(html)}`)
    })
    assert.ok(statuses.length >= 1, 'the browser sent the requests')
    for (const s of statuses) assert.ok(s === 403 || s === 415, `answered ${s}`)
    assert.equal((await h.client.getRun(run.id)).state, 'scheduled', 'the run was not cancelled')
  })

  test('DNS rebinding: a foreign Host is refused, for the dashboard and for API writes', async () => {
    const before = (await h.client.listRuns({ flow: 'hello' })).items.length
    const res = await page.page.goto(`http://rebound.test:${port}/`)
    assert.equal(res?.status(), 403, 'the dashboard is not served under a foreign name')
    const write = await page.page.evaluate(async () => {
      const r = await fetch('/api/flows/hello/runs', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"parameters":{}}' })
      return { status: r.status, body: await r.text() }
    })
    assert.equal(write.status, 403)
    assert.match(write.body, /loopback address/)
    assert.equal((await h.client.listRuns({ flow: 'hello' })).items.length, before, 'no run was created')
  })

  test('the dashboard on its own origin still writes (same-origin JSON)', async () => {
    await page.page.goto(`http://127.0.0.1:${port}/`)
    const write = await page.page.evaluate(async () => {
      const r = await fetch('/api/flows/hello/runs', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"parameters":{}}' })
      return r.status
    })
    assert.equal(write, 201)
  })
})
