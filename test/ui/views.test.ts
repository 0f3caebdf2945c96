/**
 * The dashboard tells the truth and has the views a person needs to debug (issue 13), in a real
 * Chromium against a real server and agent running test/fixtures/truth-flows.ts: a cancelled run's
 * task ends with it; two flows of one file keep their own tasks; a failed task's stack trace (at
 * the TypeScript line); the task graph from data flow and the Gantt's attempts; a late run says why;
 * the runs page's filters (in the URL), past and upcoming, duration chart and bulk actions; absolute
 * times with their zone at phone width and the display zone; 404 page, tab titles, dark mode,
 * cache headers and compression; axe-core on every page. Screenshots go to test-results/screenshots/.
 */
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import { after, before, describe, test } from 'node:test'
import type { Page } from 'playwright-core'
import { ROOT, startHarness, waitFor, waitForRunState, type Harness } from '../helpers/rota.ts'
import type { FlowRun } from '../../src/client/index.ts'
import { axeViolations, openPage, screenshot, type BrowserPage } from './browser.ts'
import { buildUi } from './build.ts'
import { UI_ONCE } from './once.ts'

const FIXTURE = path.join(ROOT, 'test/fixtures/truth-flows.ts')
const UI_DEMO = path.join(ROOT, 'test/ui/fixtures/ui-demo-flow.ts')
/** How long a run may take to end on a busy 2-core machine (CI runs one test file at a time, but shares the cores). */
const RUN_MS = 120_000
const THROW_LINE = fs.readFileSync(FIXTURE, 'utf8').split('\n').findIndex((l) => l.includes('// THROW-HERE')) + 1

async function rows(page: Page, selector = 'table.runs-table tbody tr'): Promise<{ id: string; state: string }[]> {
  return page.locator(selector).evaluateAll((rs) => rs.map((r) => ({ id: r.getAttribute('data-run') ?? '', state: r.getAttribute('data-state') ?? '' })))
}

async function noOverflow(page: Page, what: string): Promise<void> {
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth)
  assert.ok(overflow <= 1, `${what} is ${overflow}px wider than the screen`)
}

/** Every axis label of the page's charts lies inside its chart (none cut at the left edge). */
async function axisLabelsInside(page: Page): Promise<void> {
  const cut = await page.locator('svg text.axis').evaluateAll((ts) =>
    ts.filter((t) => (t as SVGTextElement).getBBox().x < -0.5 || (t as SVGTextElement).getBBox().x + (t as SVGTextElement).getBBox().width > (t as SVGTextElement).ownerSVGElement!.width.baseVal.value + 0.5).map((t) => t.textContent),
  )
  assert.deepEqual(cut, [], 'axis labels cut by the chart edge')
}

describe('dashboard views (real browser, server and agent)', { timeout: 900_000, skip: UI_ONCE }, () => {
  let h: Harness
  let b: BrowserPage
  let gpuRun: string

  before(async () => {
    buildUi()
    h = await startHarness()
    await h.register(FIXTURE)
    await h.register(UI_DEMO)
    await h.client.setSchedule('ui-demo', false)
    // Created first: no agent has the label gpu, so it is late (15 s) by the time the test looks.
    gpuRun = (await h.client.createRun('gpu-only', {})).id
    await h.startAgent({ name: 'views-agent', labels: ['views'], concurrency: 6 })
    b = await openPage({ timezoneId: 'America/Sao_Paulo' })
  })
  after(async () => {
    await b?.close()
    await h?.close()
  })

  test('a cancelled run: cancel asks first, and its running task ends cancelled with it', async () => {
    const { page } = b
    const run = await h.client.createRun('hanging', { seconds: 600 })
    // The first run of the agent starts cold (a fresh process loads the flow file): up to a minute on a busy machine.
    // The task hangs for 10 minutes: long enough to outlast a slow machine; the cancel ends it.
    await waitFor('the hang task running', async () => ((await h.client.taskRuns(run.id)).items.some((t) => t.state === 'running') ? true : undefined), 60_000)
    await page.goto(`${h.server.url}/#/runs/${run.id}`)
    await page.locator('tr[data-task="hang"][data-state=running]').waitFor()
    // The tab says which run this is, not its id.
    await waitFor('the run title', async () => ((await page.title()) === `${run.name} · hanging · Runs · Rota` ? true : undefined), 5000)

    await page.locator('[data-testid=cancel-run]').click()
    const dialog = page.getByRole('dialog', { name: `Cancel ${run.name}?` })
    await dialog.waitFor()
    // The safe choice has the focus; Escape closes without cancelling.
    assert.equal(await page.evaluate(() => document.activeElement?.getAttribute('data-choice')), 'cancel')
    await screenshot(page, 'views-cancel-confirm')
    await page.keyboard.press('Escape')
    await dialog.waitFor({ state: 'detached' })
    assert.equal(await page.evaluate(() => document.activeElement?.getAttribute('data-testid')), 'cancel-run', 'the focus goes back to the button')
    assert.equal((await h.client.getRun(run.id)).state, 'running')

    await page.locator('[data-testid=cancel-run]').click()
    await dialog.getByRole('button', { name: 'Cancel the run' }).click()
    await page.locator('.flow-run[data-state=cancelled]').waitFor({ timeout: 30_000 })
    const task = page.locator('tr[data-task="hang"]')
    await page.locator('tr[data-task="hang"][data-state=cancelled]').waitFor({ timeout: 10_000 })
    assert.match((await task.locator('.sub').first().textContent()) ?? '', /flow run was cancelled/)
    // The task's duration stops with the run: it does not keep growing.
    const d1 = await task.locator('td.num').last().textContent()
    await page.waitForTimeout(1500)
    assert.equal(await task.locator('td.num').last().textContent(), d1)
    await screenshot(page, 'views-cancelled-run')
    assert.deepEqual(b.errors, [])
  })

  test('a failed task shows its stack trace, collapsed, at the TypeScript line that threw', async () => {
    const { page } = b
    const run = await h.client.createRun('ledger', { total: 7 })
    assert.equal((await waitForRunState(h.client, run.id, undefined, RUN_MS)).state, 'failed')
    await page.goto(`${h.server.url}/#/runs/${run.id}`)
    const row = page.locator('tr[data-task="balance"][data-state=failed]')
    await row.waitFor()
    const stack = row.locator('[data-testid=stack-trace]')
    assert.equal(await stack.evaluate((d) => (d as HTMLDetailsElement).open), false, 'collapsed at first')
    assert.equal(await stack.locator('pre').isVisible(), false)
    await stack.locator('summary').click()
    const text = (await stack.locator('pre').textContent()) ?? ''
    assert.match(text, /LedgerError: ledger does not balance: off by 7/)
    assert.ok(text.includes(`truth-flows.ts:${THROW_LINE}:`), `the stack names truth-flows.ts:${THROW_LINE}:\n${text}`)
    await screenshot(page, 'views-stack-trace')
    assert.deepEqual(b.errors, [])
  })

  test('two flows of one file keep their own tasks', async () => {
    const { page } = b
    const one = await h.client.createRun('deliveries', {})
    const two = await h.client.createRun('stocktake', {})
    await waitForRunState(h.client, one.id, undefined, RUN_MS)
    await waitForRunState(h.client, two.id, undefined, RUN_MS)
    await page.goto(`${h.server.url}/#/runs/${two.id}`)
    await page.locator('tr[data-task="reorder"][data-state=success]').waitFor()
    const tasks = await page.locator('table.task-table tbody tr').evaluateAll((rs) => rs.map((r) => `${r.getAttribute('data-task')}:${r.getAttribute('data-state')}`))
    assert.deepEqual(tasks, ['count-stock:success', 'reorder:success'])
    await page.goto(`${h.server.url}/#/flows/deliveries`)
    await page.locator('svg[data-testid=task-dag] g[data-task="deliver"]').waitFor()
    assert.deepEqual(await page.locator('svg[data-testid=task-dag] g[data-task]').evaluateAll((gs) => gs.map((g) => g.getAttribute('data-task'))), ['pick-up', 'deliver'])
    assert.deepEqual(b.errors, [])
  })

  test('the task graph draws the data flow (parallel branches, a map fan-out); the Gantt shows attempts', async () => {
    const { page } = b
    const run = await h.client.createRun('fan-out', { n: 4 })
    assert.equal((await waitForRunState(h.client, run.id, undefined, RUN_MS)).state, 'success')
    await page.goto(`${h.server.url}/#/runs/${run.id}`)
    const dag = page.locator('svg[data-testid=task-dag]')
    await dag.locator('g[data-task="join"][data-state=success]').waitFor()
    const nodes = Object.fromEntries(
      await dag.locator('g[data-task]').evaluateAll((gs) => gs.map((g) => [g.getAttribute('data-task'), { layer: Number(g.getAttribute('data-layer')), count: Number(g.getAttribute('data-count')) }])),
    ) as Record<string, { layer: number; count: number }>
    assert.equal(nodes.square?.count, 4, 'the map over four rows is one node "× 4"')
    assert.match((await dag.locator('g[data-task="square"] text.node-label').textContent()) ?? '', /square × 4/)
    assert.equal(nodes.left?.layer, nodes.right?.layer, 'left and right run side by side')
    assert.ok(nodes.extract!.layer < nodes.left!.layer && nodes.left!.layer < nodes.join!.layer)
    const edges = (await dag.locator('path.edge').evaluateAll((ps) => ps.map((p) => `${p.getAttribute('data-from')}>${p.getAttribute('data-to')}`))).sort()
    for (const e of ['extract>left', 'extract>right', 'extract>list-rows', 'list-rows>square', 'square>join', 'left>join', 'right>join']) assert.ok(edges.includes(e), `edge ${e} in ${edges.join(' ')}`)
    assert.ok(!edges.includes('left>right'), 'no edge between parallel branches')
    await screenshot(page, 'views-task-graph')

    const wobble = await h.client.createRun('wobble', {})
    assert.equal((await waitForRunState(h.client, wobble.id, undefined, RUN_MS)).state, 'success')
    await page.goto(`${h.server.url}/#/runs/${wobble.id}`)
    const bar = page.locator('.gantt g[data-task="wobbly"]')
    await bar.waitFor()
    assert.equal(await bar.getAttribute('data-attempts'), '3')
    assert.deepEqual(await bar.locator('g[data-attempt]').evaluateAll((gs) => gs.map((g) => g.getAttribute('data-state'))), ['failed', 'failed', 'success'])
    // Each retry logs the failure that caused it.
    await page.locator('.log-line', { hasText: 'wobble 1' }).first().waitFor()
    await page.locator('.log-line', { hasText: 'wobble 2' }).first().waitFor()
    await screenshot(page, 'views-gantt-attempts')
    assert.deepEqual(b.errors, [])
  })

  test('a late run says why: no agent has its labels', async () => {
    const { page } = b
    // Opened before it is late: the page sees it turn late by itself (it asks again while the run waits).
    await page.goto(`${h.server.url}/#/runs/${gpuRun}`)
    await page.locator('.flow-run[data-state=scheduled]').waitFor()
    await waitFor('the gpu run late', async () => ((await h.client.getRun(gpuRun)).late ? true : undefined), 30_000)
    const reason = page.locator('[data-testid=late-reason]')
    await reason.waitFor({ timeout: 20_000 })
    assert.match((await reason.textContent()) ?? '', /no active agent has the labels gpu.*rota agent start --label gpu/)
    await screenshot(page, 'views-late-reason')
    assert.deepEqual(b.errors, [])
  })

  test('the runs page: several states and flows, search and dates in the URL; duration chart; bulk cancel and retry', async () => {
    const { page } = b
    const failed = [await h.client.createRun('ledger', { total: 1 }), await h.client.createRun('ledger', { total: 2 })]
    for (const r of failed) await waitForRunState(h.client, r.id, undefined, RUN_MS)
    const hanging = [await h.client.createRun('hanging', { seconds: 600 }), await h.client.createRun('hanging', { seconds: 600 })]
    for (const r of hanging) await waitForRunState(h.client, r.id, ['running'], RUN_MS)

    // The run history's y axis: with runs that have gone on for 1 min 40 s (the browser's clock moved
    // on), the labels are whole ("2 min"), not cut at the chart's edge ("min 40 s").
    const later = await openPage()
    try {
      await later.page.clock.setFixedTime(Date.now() + 100_000)
      await later.page.goto(`${h.server.url}/#/flows/hanging`)
      await later.page.locator('svg[aria-label="Run durations"] text[data-testid=duration-label]', { hasText: '2 min' }).waitFor()
      await axisLabelsInside(later.page)
      await screenshot(later.page, 'views-run-history-axis')
    } finally {
      await later.close()
    }

    await page.goto(`${h.server.url}/#/runs?state=failed,running&flow=ledger,hanging`)
    await page.locator(`tr[data-run="${hanging[1]!.id}"]`).waitFor()
    const shown = await rows(page)
    assert.ok(shown.length >= 4)
    assert.ok(
      shown.every((r) => r.state === 'failed' || r.state === 'running'),
      `only failed and running runs: ${shown.map((r) => r.state).join(', ')}`,
    )
    assert.equal(await page.locator('details[data-filter=state] summary').getAttribute('aria-label'), 'States: failed, running')
    // The duration chart plots the runs that match.
    await page.locator('svg[data-testid=duration-scatter] a[data-run] circle').first().waitFor()
    await axisLabelsInside(page)
    await screenshot(page, 'views-runs-filtered')

    // A checkbox in the menu changes the URL (so Back and a bookmark keep it).
    await page.locator('details[data-filter=state] summary').click()
    await page.locator('details[data-filter=state] input[value=running]').uncheck()
    await page.waitForURL(/state=failed(&|$)/)
    await waitFor('only failed rows', async () => ((await rows(page)).every((r) => r.state === 'failed') ? true : undefined), 10_000)
    await page.goBack()
    await page.waitForURL(/state=failed%2Crunning|state=failed,running/)

    // Search by name.
    await page.goto(`${h.server.url}/#/runs?q=${encodeURIComponent(failed[0]!.name)}`)
    await waitFor('the searched run alone', async () => {
      const r = await rows(page)
      return r.length === 1 && r[0]!.id === failed[0]!.id ? true : undefined
    })
    assert.equal(await page.locator('input[type=search]').inputValue(), failed[0]!.name)

    // Dates: days of the display zone; a range in the future has nothing, today has the runs.
    const today = await page.evaluate(() => new Intl.DateTimeFormat('en-CA', { timeZone: 'America/Sao_Paulo' }).format(new Date()))
    await page.goto(`${h.server.url}/#/runs?from=2099-01-01`)
    await page.locator('.runs-list', { hasText: 'No runs match.' }).waitFor()
    await page.goto(`${h.server.url}/#/runs?from=${today}&to=${today}&flow=ledger`)
    await page.locator(`tr[data-run="${failed[0]!.id}"]`).waitFor()
    assert.equal(await page.locator('input[name=from]').inputValue(), today)

    // Bulk cancel: two running and one failed selected; the failed one is left alone.
    await page.goto(`${h.server.url}/#/runs?flow=hanging,ledger`)
    for (const r of [...hanging, failed[0]!]) await page.locator(`tr[data-run="${r.id}"] input[type=checkbox]`).check()
    await page.locator('[data-testid=bulk-bar]', { hasText: '3 selected' }).waitFor()
    await page.locator('[data-testid=bulk-cancel]', { hasText: 'Cancel 2' }).click()
    const confirm = page.getByRole('dialog', { name: 'Cancel 2 runs?' })
    await confirm.waitFor()
    await confirm.locator('p.muted', { hasText: '1 of the selected runs have already ended' }).waitFor()
    await screenshot(page, 'views-bulk-cancel')
    await confirm.getByRole('button', { name: 'Cancel 2' }).click()
    await page.locator('[data-testid=bulk-result]', { hasText: '2 runs cancelled' }).waitFor()
    for (const r of hanging) assert.equal((await waitForRunState(h.client, r.id, ['cancelled'], RUN_MS)).state, 'cancelled')
    for (const r of hanging) await page.locator(`tr[data-run="${r.id}"][data-state=cancelled]`).waitFor({ timeout: 10_000 })

    // Bulk retry of both failed runs: two new runs.
    const before = (await h.client.listRuns({ flow: 'ledger', limit: 100 })).items.length
    await page.goto(`${h.server.url}/#/runs?state=failed&flow=ledger`)
    await page.locator(`tr[data-run="${failed[1]!.id}"]`).waitFor()
    for (const r of failed) await page.locator(`tr[data-run="${r.id}"] input[type=checkbox]`).check()
    await page.locator('[data-testid=bulk-retry]', { hasText: 'Retry 2' }).click()
    await page.getByRole('dialog', { name: 'Retry 2 runs?' }).getByRole('button', { name: 'Retry 2' }).click()
    await page.locator('[data-testid=bulk-result]', { hasText: '2 runs retried as new runs' }).waitFor()
    assert.equal((await h.client.listRuns({ flow: 'ledger', limit: 100 })).items.length, before + 2)
    assert.deepEqual(b.errors, [])
  })

  test('upcoming runs apart from past ones; a paused schedule drops them from the open page at once', async () => {
    const { page } = b
    await h.client.setSchedule('ui-demo', true)
    const upcoming = await waitFor('upcoming runs of ui-demo', async () => {
      const items = (await h.client.listRuns({ flow: 'ui-demo', when: 'upcoming' })).items
      return items.length ? items : undefined
    })
    await page.goto(`${h.server.url}/#/runs?tab=upcoming`)
    await page.locator(`tr[data-run="${upcoming[0]!.id}"][data-state=scheduled]`).waitFor()
    assert.match((await page.locator('table.runs-table thead').textContent()) ?? '', /Scheduled/)
    await page.evaluate(() => ((window as unknown as { __rotaMark: number }).__rotaMark = 1))
    await page.getByRole('tab', { name: 'Past and running' }).click()
    await page.waitForURL((u) => !u.hash.includes('tab=upcoming'))
    await page.locator('table.runs-table tbody tr').first().waitFor()
    assert.equal(await page.locator(`tr[data-run="${upcoming[0]!.id}"]`).count(), 0, 'an upcoming run is not among the past ones')

    await page.getByRole('tab', { name: 'Upcoming' }).click()
    await page.locator(`tr[data-run="${upcoming[0]!.id}"]`).waitFor()
    await h.client.setSchedule('ui-demo', false)
    await page.locator(`tr[data-run="${upcoming[0]!.id}"]`).waitFor({ state: 'detached', timeout: 10_000 })
    assert.equal(await page.evaluate(() => (window as unknown as { __rotaMark?: number }).__rotaMark), 1, 'without a reload')
    assert.deepEqual(b.errors, [])
  })

  test('absolute times with their zone at phone width; a tap switches to relative; the display zone is a setting', async () => {
    const phone = await openPage({ width: 390, height: 844, isMobile: true, timezoneId: 'America/Sao_Paulo' })
    try {
      const { page } = phone
      const run = await h.client.createRun('deliveries', {})
      await waitForRunState(h.client, run.id, undefined, RUN_MS)
      await page.goto(`${h.server.url}/#/runs/${run.id}`)
      const started = page.locator('.facts dd', { has: page.locator('time') }).nth(1)
      await started.locator('time[data-mode=absolute]').waitFor()
      assert.match((await started.textContent()) ?? '', /^\s*\d{2}:\d{2}:\d{2}\s*GMT-3\s*$/)
      assert.equal(await page.locator('[data-testid=log-zone]').textContent(), 'GMT-3')
      await noOverflow(page, 'the run page')
      await screenshot(page, 'views-phone-absolute-times')

      await started.locator('button.time-toggle').tap()
      await page.locator('time[data-mode=relative]').first().waitFor()
      assert.match((await started.textContent()) ?? '', /ago|just now|s$/)
      await started.locator('button.time-toggle').tap()
      await started.locator('time[data-mode=absolute]').waitFor()

      // The zone setting: UTC, then every time on the page says UTC.
      await page.locator('[data-testid=time-prefs]').click()
      const dialog = page.getByRole('dialog', { name: 'Time display' })
      await dialog.waitFor()
      assert.ok(await dialog.evaluate((d) => d.contains(document.activeElement)), 'the dialog takes the focus')
      await dialog.locator('select[name=zone]').selectOption('UTC')
      await dialog.locator('input[name=otherZone]').fill('Mars/Olympus')
      await dialog.getByRole('button', { name: 'Use this zone' }).click()
      await dialog.locator('.form-error', { hasText: 'not a time zone this browser knows' }).waitFor()
      await screenshot(page, 'views-phone-time-settings')
      await dialog.getByRole('button', { name: 'Done' }).click()
      assert.match((await started.textContent()) ?? '', /UTC/)
      assert.equal(await page.locator('[data-testid=log-zone]').textContent(), 'UTC')
      assert.equal(await page.evaluate(() => localStorage.getItem('rota.timeZone')), 'UTC')
      await noOverflow(page, 'the run page in UTC')
      for (const hash of ['#/', '#/runs', '#/flows/deliveries', '#/agents']) {
        await page.goto(`${h.server.url}/${hash}`)
        await page.locator('.page').waitFor()
        await page.locator('.loading').first().waitFor({ state: 'detached' })
        await noOverflow(page, hash)
        assert.deepEqual(await axeViolations(page), [], `axe-core on ${hash} at phone width`)
      }
      await screenshot(page, 'views-phone-agents')
      assert.deepEqual(phone.errors, [])
    } finally {
      await phone.close()
    }
  })

  test('a 404 page for an unknown page and an unknown run', async () => {
    const { page } = b
    await page.goto(`${h.server.url}/#/nowhere`)
    await page.locator('[data-testid=not-found] h1', { hasText: 'Page not found' }).waitFor()
    assert.equal(await page.title(), 'Page not found · Rota')
    await page.goto(`${h.server.url}/#/runs/00000000-0000-4000-8000-000000000000`)
    await page.locator('[data-testid=not-found] h1', { hasText: 'Run not found' }).waitFor()
    await page.locator('[data-testid=not-found] a', { hasText: 'See all runs' }).waitFor()
    await screenshot(page, 'views-404')
    assert.deepEqual(b.errors, [])
  })

  test('dark mode follows the system', async () => {
    const dark = await openPage({ colorScheme: 'dark' })
    try {
      await dark.page.goto(`${h.server.url}/#/runs`)
      await dark.page.locator('table.runs-table tbody tr').first().waitFor()
      const bg = await dark.page.evaluate(() => getComputedStyle(document.body).backgroundColor)
      const [r, g, bl] = (bg.match(/\d+/g) ?? []).map(Number)
      assert.ok(r! + g! + bl! < 150, `a dark background (${bg})`)
      await screenshot(dark.page, 'views-dark-runs')
      assert.deepEqual(await axeViolations(dark.page), [], 'axe-core in dark mode')
      assert.deepEqual(dark.errors, [])
    } finally {
      await dark.close()
    }
  })

  test('static assets: Cache-Control, ETag and compression', async () => {
    const index = await fetch(`${h.server.url}/`, { headers: { 'accept-encoding': 'br, gzip' } })
    assert.equal(index.status, 200)
    assert.equal(index.headers.get('content-encoding'), 'br')
    assert.equal(index.headers.get('cache-control'), 'no-cache')
    const html = await index.text()
    const etag = index.headers.get('etag')
    assert.ok(etag)
    assert.equal((await fetch(`${h.server.url}/`, { headers: { 'if-none-match': etag } })).status, 304)
    const js = /app\.js\?v=[0-9a-f]+/.exec(html)?.[0]
    assert.ok(js, 'index.html names the bundle with its hash')
    const bundle = await fetch(`${h.server.url}/${js}`, { headers: { 'accept-encoding': 'gzip' } })
    assert.equal(bundle.status, 200)
    assert.equal(bundle.headers.get('content-encoding'), 'gzip')
    assert.match(bundle.headers.get('cache-control') ?? '', /max-age=31536000, immutable/)
    assert.ok((await bundle.text()).length > 10_000, 'the bundle decompresses')
    const plain = await fetch(`${h.server.url}/app.css`, { headers: { 'accept-encoding': 'identity' } })
    assert.equal(plain.headers.get('content-encoding'), null)
    assert.match(plain.headers.get('cache-control') ?? '', /max-age=300/)
  })

  test('a run an agent claimed ahead of its time shows "Starting at HH:MM", not a stuck pending run', async () => {
    const { page } = b
    // A run due in 50 s, and an agent that claims runs up to a minute ahead (the most an agent may).
    const due = new Date(Date.now() + 50_000).toISOString()
    const run = await h.client.request<FlowRun>('POST', '/api/flows/deliveries/runs', { parameters: {}, scheduledStartTime: due })
    await h.startAgent({ name: 'views-prefetch', labels: ['views'], prefetchMs: 60_000 })
    const claimed = await waitFor('the run claimed ahead of its time', async () => {
      const r = await h.client.getRun(run.id)
      return r.state === 'pending' ? r : undefined
    })
    assert.ok(Date.parse(claimed.scheduledStartTime) > Date.now() + 10_000, 'claimed well before its time')
    const at = await page.evaluate((iso) => new Intl.DateTimeFormat('en-US', { hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23', timeZone: 'America/Sao_Paulo' }).format(new Date(iso)), due)
    await page.goto(`${h.server.url}/#/`)
    const item = page.locator(`.run-list li[data-run="${run.id}"]`)
    await item.locator('[data-state=starting]', { hasText: `Starting at ${at}` }).waitFor()
    assert.equal(await item.getByText(/pending/i).count(), 0, 'not shown as pending')
    await screenshot(page, 'views-starting-at')
    await page.goto(`${h.server.url}/#/runs/${run.id}`)
    await page.locator('[data-testid=starting-at]', { hasText: at }).waitFor()
    await page.locator('[data-testid=run-state] [data-state=starting]').waitFor()
    assert.deepEqual(b.errors, [])
  })

  test('axe-core finds no serious accessibility violation on any page', async () => {
    const { page } = b
    const runs = (await h.client.listRuns({ flow: 'fan-out', limit: 1 })).items
    const found: string[] = []
    for (const hash of ['#/', '#/flows', '#/flows/fan-out', '#/runs', `#/runs/${runs[0]!.id}`, '#/agents', '#/nowhere']) {
      await page.goto(`${h.server.url}/${hash}`)
      await page.locator('.page').waitFor()
      await page.locator('.loading').first().waitFor({ state: 'detached' })
      found.push(...(await axeViolations(page)).map((v) => `${hash}: ${v}`))
    }
    // A dialog too.
    await page.locator('[data-testid=time-prefs]').click()
    await page.getByRole('dialog', { name: 'Time display' }).waitFor()
    found.push(...(await axeViolations(page)).map((v) => `time settings: ${v}`))
    assert.deepEqual(found, [])
  })
})
