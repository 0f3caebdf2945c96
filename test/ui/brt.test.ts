/**
 * The BRT page in a real Chromium against the real pipeline: the simulator serves GPS, the brt-gps
 * flow runs on a real agent (capture, buffer, write-csv, upload, load, dbt on DuckDB), and the page
 * reads /api/brt. Before the window closes the map is empty and the buffer is filling; once it closes
 * the vehicles appear on the map without a reload.
 */
import assert from 'node:assert/strict'
import path from 'node:path'
import { after, before, describe, test } from 'node:test'
import { startSimulator, type Simulator } from '../../pipelines/brt/simulator.ts'
import { ROOT, startHarness, waitForRunState, type Harness } from '../helpers/rota.ts'
import { axeViolations, openPage, screenshot, type BrowserPage } from './browser.ts'
import { buildUi } from './build.ts'

const FLOW = 'brt-gps'
const PARAMS = { capturesPerFile: 2, maxBufferMinutes: 15 }
const VEHICLES = 60

describe('BRT page (real pipeline with the simulator)', { timeout: 420_000 }, () => {
  let sim: Simulator
  let h: Harness
  let b: BrowserPage
  const savedEnv = { ...process.env }

  before(async () => {
    buildUi()
    sim = await startSimulator({ vehicles: VEHICLES, seed: 7 })
    h = await startHarness()
    // Flow-run processes inherit the agent's environment: the lake under the harness's home (where
    // the server's /api/brt routes read) and the simulator as the GPS API.
    process.env.ROTA_HOME = h.config.home
    process.env.BRT_API_URL = sim.url
    process.env.BRT_API_TIMEOUT_SECONDS = '5'
    delete process.env.LAKE_URL
    delete process.env.WAREHOUSE
    await h.register(path.join(ROOT, 'pipelines/brt/flow.ts'))
    // Runs are started by the test, one at a time, not by the every-minute schedule.
    await h.client.setSchedule(FLOW, false)
    await h.startAgent({ name: 'brt-ui-agent' })
    b = await openPage({ width: 1280, height: 900 })
  })

  after(async () => {
    await b?.close()
    await h?.close()
    await sim?.close()
    for (const k of ['ROTA_HOME', 'BRT_API_URL', 'BRT_API_TIMEOUT_SECONDS', 'LAKE_URL', 'WAREHOUSE']) {
      if (savedEnv[k] === undefined) delete process.env[k]
      else process.env[k] = savedEnv[k]
    }
  })

  test('the map fills with vehicles once a window closes; speeds, captures and buffer are shown', async () => {
    const { page } = b
    const first = await h.client.createRun(FLOW, PARAMS)
    const r1 = await waitForRunState(h.client, first.id, undefined, 120_000)
    assert.equal(r1.state, 'success', r1.stateMessage ?? '')

    await page.goto(`${h.server.url}/#/brt`)
    await page.locator('[data-testid=buffer]', { hasText: '1/2' }).waitFor()
    await page.locator('table.captures-table tbody tr').first().waitFor()
    assert.equal(await page.locator('circle[data-vehicle]').count(), 0, 'no positions in gold before the first window')
    await screenshot(page, 'brt-buffering')

    // The second capture closes the window: CSV, upload, load, dbt. The page refreshes by itself.
    await page.evaluate(() => ((window as unknown as { __rotaMark: number }).__rotaMark = 7))
    const second = await h.client.createRun(FLOW, PARAMS)
    const r2 = await waitForRunState(h.client, second.id, undefined, 300_000)
    assert.equal(r2.state, 'success', r2.stateMessage ?? '')
    await page.locator('circle[data-vehicle]').first().waitFor({ timeout: 30_000 })
    assert.equal(await page.evaluate(() => (window as unknown as { __rotaMark?: number }).__rotaMark), 7, 'no reload')

    const dots = await page.locator('circle[data-vehicle]').count()
    assert.ok(dots > VEHICLES / 2 && dots <= VEHICLES, `${dots} vehicles drawn of ${VEHICLES} simulated`)
    const shown = Number((await page.locator('[data-testid=vehicle-count]').textContent())?.replace(/\D/g, ''))
    assert.ok(shown >= dots, `the count (${shown}) covers the dots (${dots})`)
    // Every dot is inside the drawn box of Rio.
    const box = await page.locator('.brt-map svg').boundingBox()
    const inside = await page.locator('circle[data-vehicle]').evaluateAll((cs) =>
      cs.every((c) => {
        const svg = (c as SVGCircleElement).ownerSVGElement!
        const x = Number(c.getAttribute('cx'))
        const y = Number(c.getAttribute('cy'))
        return x >= 0 && y >= 0 && x <= svg.width.baseVal.value && y <= svg.height.baseVal.value
      }),
    )
    assert.ok(box && inside, 'dots are drawn inside the map')

    await page.locator('table.speeds-table tbody tr[data-line]').first().waitFor()
    await page.locator('[data-testid=buffer]', { hasText: /^0\/2$/ }).waitFor()
    assert.ok((await page.locator('table.captures-table tbody tr').count()) >= 2)
    // Each "Moving" bar is as wide as its share of the track (they were all one width).
    const bars = await page.locator('table.speeds-table .bar-cell[data-share]').evaluateAll((cells) =>
      cells.map((c) => ({
        share: Number(c.getAttribute('data-share')),
        ratio: (c.querySelector('.bar') as HTMLElement).getBoundingClientRect().width / (c.querySelector('.bar-track') as HTMLElement).getBoundingClientRect().width,
      })),
    )
    assert.ok(bars.length > 0)
    for (const bar of bars) assert.ok(Math.abs(bar.ratio - bar.share) < 0.02, `a bar for ${bar.share} of vehicles moving is ${bar.ratio.toFixed(3)} of its track`)
    // Captures: the feed's repeats are drawn as repeats, apart from invalid and stale rows.
    const caps = (await h.client.request<{ items: { capturedAt: string; vehicles: number; invalidPositions: number; stale: number; duplicates: number }[] }>('GET', '/api/brt/captures?limit=60')).items
    for (const c of caps) {
      const g = page.locator(`svg g[data-capture="${c.capturedAt}"]`)
      assert.equal(await g.locator('rect[data-part=flagged]').count(), c.invalidPositions + c.stale > 0 ? 1 : 0, `flagged rows of ${c.capturedAt}`)
      assert.equal(await g.locator('rect[data-part=repeated]').count(), c.duplicates > 0 && c.invalidPositions + c.stale < c.vehicles ? 1 : 0, `repeats of ${c.capturedAt}`)
    }
    assert.match((await page.locator('.legend-line').textContent()) ?? '', /repeated/)
    assert.deepEqual(await axeViolations(page), [], 'axe-core: no serious accessibility violation on the BRT page')
    await screenshot(page, 'brt')

    // The run that closed the window shows what it produced: lake files and dbt results.
    await page.goto(`${h.server.url}/#/runs/${second.id}`)
    await page.locator('.flow-run[data-state=success]').waitFor()
    for (const t of ['capture', 'buffer', 'write-csv', 'upload', 'load', 'dbt']) await page.locator(`tr[data-task="${t}"][data-state=success]`).waitFor()
    await page.locator('[data-artifact=brt-files][data-kind=files] [data-testid=artifact-file]').first().waitFor()
    await page.locator('[data-artifact=csv][data-kind=link] [data-testid=artifact-link]').waitFor()
    await page.locator('[data-artifact=dbt-results][data-kind=table] [data-testid=artifact-table] td[data-column=status]').first().waitFor()
    const tests = (await page.locator('[data-artifact=dbt-results] [data-testid=artifact-description]').textContent()) ?? ''
    const m = /(\d+)\/(\d+) tests passed/.exec(tests)
    assert.ok(m && Number(m[2]) > 0 && m[1] === m[2], `all dbt tests pass: "${tests}"`)
    // dbt's lines come without dbt's own (UTC) clock: one time per line, in the viewer's zone.
    const dbtLines = await page.locator('.log-line[data-task=dbt] .log-msg').allTextContents()
    assert.ok(dbtLines.some((l) => /START|OK|PASS/.test(l)), `dbt's lines are in the log: ${dbtLines.slice(0, 3).join(' | ')}`)
    assert.deepEqual(dbtLines.filter((l) => /^\s*\d{2}:\d{2}:\d{2}/.test(l)), [])
    await screenshot(page, 'flow-run-brt')

    // And the first run, which only buffered, shows its skipped tasks.
    await page.goto(`${h.server.url}/#/runs/${first.id}`)
    await page.locator('tr[data-task="write-csv"][data-state=skipped]').waitFor()

    const phone = await openPage({ width: 390, height: 844, isMobile: true })
    try {
      await phone.page.goto(`${h.server.url}/#/brt`)
      await phone.page.locator('circle[data-vehicle]').first().waitFor()
      const overflow = await phone.page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth)
      assert.ok(overflow <= 1, `the BRT page is ${overflow}px wider than the phone`)
      await screenshot(phone.page, 'phone-brt')
    } finally {
      await phone.close()
    }
    assert.deepEqual(b.errors, [])
  })
})
