/**
 * The dashboard in a real Chromium against a real server, agent and flow (test/ui/fixtures/ui-demo-flow.ts):
 * Quick Run with live task states and logs, the schedule switch, agents, the run list, the API key
 * prompt, and phone width. Screenshots of every page go to test-results/screenshots/.
 */
import assert from 'node:assert/strict'
import path from 'node:path'
import { after, before, describe, test } from 'node:test'
import type { Page } from 'playwright-core'
import { ROOT, startHarness, waitForRunState, type Harness } from '../helpers/rota.ts'
import { axeViolations, openPage, screenshot, type BrowserPage } from './browser.ts'
import { buildUi } from './build.ts'

const FLOW = 'ui-demo'
const FLOW_FILE = path.join(ROOT, 'test/ui/fixtures/ui-demo-flow.ts')

/** Texts of the task rows as `name:state`, in table order. */
async function taskStates(page: Page): Promise<string[]> {
  return page.locator('table.task-table tbody tr').evaluateAll((rows) => rows.map((r) => `${r.getAttribute('data-task')}:${r.getAttribute('data-state')}`))
}

describe('dashboard (real browser, server and agent)', { timeout: 240_000 }, () => {
  let h: Harness
  let agentName: string
  let b: BrowserPage

  before(async () => {
    buildUi()
    h = await startHarness()
    await h.register(FLOW_FILE)
    // Scheduled runs would race the Quick Run for the agent and the "last run" cell: switch them off.
    await h.client.setSchedule(FLOW, false)
    agentName = 'ui-test-agent'
    await h.startAgent({ name: agentName, labels: ['ui', 'local-test'] })
    b = await openPage()
  })

  after(async () => {
    await b?.close()
    await h?.close()
  })

  test('the dashboard page loads from the server with API health', async () => {
    const { page } = b
    await page.goto(`${h.server.url}/`)
    await page.getByRole('heading', { name: 'Dashboard' }).waitFor()
    await page.locator('[data-testid=api-status]', { hasText: 'ok' }).waitFor()
    await page.locator('[data-testid=live-status]', { hasText: 'Live' }).waitFor()
    await page.locator(`.agent-list li[data-agent="${agentName}"][data-status=active]`).waitFor()
    await screenshot(page, 'home-empty')
    assert.deepEqual(b.errors, [])
  })

  let runId: string

  test('Quick Run from the Flows page; the run page shows tasks and logs arriving live', async () => {
    const { page } = b
    await page.goto(`${h.server.url}/#/flows`)
    const row = page.locator(`tr[data-flow="${FLOW}"]`)
    await row.waitFor()
    assert.equal((await row.locator('[data-testid=schedule-text]').textContent())?.trim(), 'every 5 minutes')
    await row.locator('[data-testid=quick-run]').click()

    const form = page.locator(`form.quick-run[data-flow="${FLOW}"]`)
    await form.waitFor()
    // A value that is not a number is refused in the form, before it reaches the server.
    await form.locator('input[name=lines]').fill('many')
    await form.locator('button[type=submit]').click()
    await form.locator('.form-error', { hasText: 'is not a number' }).waitFor()
    // Slow enough that the test sees the run while it goes: 8 lines, 700 ms apart.
    await form.locator('input[name=lines]').fill('8')
    await form.locator('input[name=delayMs]').fill('700')
    await form.locator('input[name=greeting]').fill('bom dia')
    await screenshot(page, 'quick-run-form')
    assert.deepEqual(await axeViolations(page), [], 'axe-core on the Quick Run dialog')
    await form.locator('button[type=submit]').click()

    await page.waitForURL(/#\/runs\/[0-9a-f-]{36}$/)
    runId = decodeURIComponent(page.url().split('#/runs/')[1]!)
    // Marks this document: if the page reloaded, the mark would be gone.
    await page.evaluate(() => ((window as unknown as { __rotaMark: number }).__rotaMark = 42))

    // Live: the run reaches `running`, and log lines keep arriving while it runs.
    await page.locator('.flow-run[data-state=running]').waitFor({ timeout: 30_000 })
    await page.locator('.log-line', { hasText: 'fetching batch 2/8' }).waitFor({ timeout: 30_000 })
    const early = await page.locator('.log-line').count()
    await page.locator('tr[data-task="fetch-data"][data-state=running]').waitFor()
    await screenshot(page, 'flow-run-running')
    await page.locator('.log-line', { hasText: 'fetching batch 6/8' }).waitFor({ timeout: 30_000 })
    const later = await page.locator('.log-line').count()
    assert.ok(later > early, `more log lines arrive while the run goes (${early} -> ${later})`)

    // Tasks turn success or skipped, and the run ends in success, all without a reload.
    await page.locator('.flow-run[data-state=success]').waitFor({ timeout: 60_000 })
    await page.locator('tr[data-task="report"][data-state=success]').waitFor()
    assert.deepEqual(await taskStates(page), ['fetch-data:success', 'maybe-export:skipped', 'report:success'])
    assert.equal(await page.evaluate(() => (window as unknown as { __rotaMark?: number }).__rotaMark), 42, 'the page was not reloaded')
    await page.locator('.log-line', { hasText: 'report: 80 rows' }).waitFor()
    await page.locator('.log-line', { hasText: 'bom dia: starting' }).waitFor()

    // The skipped task says why; the Gantt has a bar per task; the artifact is shown.
    await page.locator('tr[data-task="maybe-export"] .sub', { hasText: 'export disabled' }).waitFor()
    assert.equal(await page.locator('.gantt g[data-task]').count(), 3)
    await page.locator('[data-artifact=summary][data-kind=link] [data-testid=artifact-link]', { hasText: 'summary.csv' }).waitFor()
    await page.locator('[data-artifact=summary] [data-testid=artifact-description]', { hasText: '80 rows' }).waitFor()
    // Retry is offered only to runs that did not succeed; cancel only to runs that are not over.
    assert.equal(await page.locator('[data-testid=cancel-run]').count(), 0)

    // Log filters: by level, then by task.
    await page.locator('select[name=level]').selectOption('warn')
    await page.locator('.log-line').first().waitFor()
    assert.deepEqual(await page.locator('.log-line').evaluateAll((ls) => [...new Set(ls.map((l) => l.getAttribute('data-level')))]), ['warn'])
    await page.locator('select[name=level]').selectOption('info')
    await page.locator('select[name=task]').selectOption('report')
    assert.deepEqual(await page.locator('.log-line').evaluateAll((ls) => [...new Set(ls.map((l) => l.getAttribute('data-task')))]), ['report'])
    await page.locator('select[name=task]').selectOption('')
    await screenshot(page, 'flow-run')

    const run = await waitForRunState(h.client, runId)
    assert.equal(run.state, 'success')
    assert.deepEqual(b.errors, [])
  })

  test('the Flows page shows the last run; the schedule switch turns the schedule on and off', async () => {
    const { page } = b
    await page.goto(`${h.server.url}/#/flows`)
    const row = page.locator(`tr[data-flow="${FLOW}"]`)
    await row.locator('.last-run [data-state=success]').waitFor()
    const toggle = row.locator('[data-testid=schedule-toggle]')
    assert.equal(await toggle.getAttribute('aria-checked'), 'false')

    await toggle.click()
    await row.locator('[data-testid=schedule-toggle][aria-checked=true]:not([disabled])').waitFor()
    assert.equal((await h.client.getFlow(FLOW)).scheduleActive, true, 'the server has the schedule on')
    await screenshot(page, 'flows')

    // It stays on after a reload (it is the server's state, not the page's).
    await page.reload()
    await row.locator('[data-testid=schedule-toggle][aria-checked=true]').waitFor()
    await row.locator('[data-testid=schedule-toggle]').click()
    await row.locator('[data-testid=schedule-toggle][aria-checked=false]:not([disabled])').waitFor()
    assert.equal((await h.client.getFlow(FLOW)).scheduleActive, false, 'the server has the schedule off')
    assert.deepEqual(b.errors, [])
  })

  test('the Flow page shows run history, task graph and parameters', async () => {
    const { page } = b
    await page.goto(`${h.server.url}/#/flows/${FLOW}`)
    await page.getByRole('heading', { name: FLOW }).waitFor()
    await page.locator('svg[aria-label="Run durations"] rect[fill]').first().waitFor()
    for (const t of ['fetch-data', 'maybe-export', 'report']) await page.locator(`svg[data-testid=task-dag] g[data-task="${t}"]`).waitFor()
    await page.locator(`tr[data-run="${runId}"]`).waitFor()
    await screenshot(page, 'flow')
    assert.deepEqual(b.errors, [])
  })

  test('the Agents page shows the agent active, with its type and labels', async () => {
    const { page } = b
    await page.goto(`${h.server.url}/#/agents`)
    const row = page.locator(`tr[data-agent="${agentName}"]`)
    await row.waitFor()
    assert.equal(await row.getAttribute('data-status'), 'active')
    assert.equal((await row.locator('[data-testid=agent-status]').textContent())?.trim(), 'active')
    assert.ok(await row.locator('.dot.ok').isVisible(), 'a green dot')
    assert.match((await row.textContent()) ?? '', /local/)
    assert.match((await row.textContent()) ?? '', /ui.*local-test/)
    await screenshot(page, 'agents')
    assert.deepEqual(b.errors, [])
  })

  test('the dashboard and the run list show the runs; a new run appears live', async () => {
    const { page } = b
    await page.goto(`${h.server.url}/#/runs`)
    await page.locator(`tr[data-run="${runId}"][data-state=success]`).waitFor()
    // A run created elsewhere (the API, like the CLI would) shows up without a reload.
    const other = await h.client.createRun(FLOW, { lines: 2, delayMs: 50 })
    await page.locator(`tr[data-run="${other.id}"]`).waitFor({ timeout: 20_000 })
    await page.locator(`tr[data-run="${other.id}"][data-state=success]`).waitFor({ timeout: 30_000 })
    await screenshot(page, 'runs')

    await page.goto(`${h.server.url}/#/`)
    await page.locator('[data-testid=runs-24h]', { hasText: /^\s*[2-9]\d* runs/ }).waitFor()
    await page.locator('svg[aria-label^="Flow runs by state per hour"] rect[fill="#16a34a"]').first().waitFor()
    await screenshot(page, 'home')
    assert.deepEqual(b.errors, [])
  })

  test('pages fit a phone screen', async () => {
    const phone = await openPage({ width: 390, height: 844, isMobile: true })
    try {
      const { page } = phone
      for (const [name, hash] of [
        ['home', '#/'],
        ['flows', '#/flows'],
        ['flow-run', `#/runs/${runId}`],
        ['agents', '#/agents'],
      ] as const) {
        await page.goto(`${h.server.url}/${hash}`)
        await page.locator('.page').waitFor()
        await page.locator('.loading').first().waitFor({ state: 'detached' })
        // Nothing wider than the screen: tables scroll inside their cards, the page does not.
        const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth)
        assert.ok(overflow <= 1, `${name} is ${overflow}px wider than the phone`)
        await screenshot(page, `phone-${name}`)
        assert.deepEqual(await axeViolations(page), [], `axe-core on ${name} at phone width`)
      }
      assert.deepEqual(phone.errors, [])
    } finally {
      await phone.close()
    }
  })
})

describe('dashboard with an API key', { timeout: 120_000 }, () => {
  let h: Harness
  let b: BrowserPage
  const KEY = 'ui-test-key-0123456789'

  before(async () => {
    buildUi()
    h = await startHarness({ overrides: { apiKey: KEY } })
    await h.register(FLOW_FILE)
    b = await openPage()
  })
  after(async () => {
    await b?.close()
    await h?.close()
  })

  test('asks for the key, refuses a wrong one, then sends it on requests and the event stream', async () => {
    const { page } = b
    await page.goto(`${h.server.url}/#/flows`)
    const dialog = page.getByRole('dialog', { name: 'API key needed' })
    await dialog.waitFor()
    await dialog.locator('input[name=apiKey]').fill('wrong-key')
    await dialog.getByRole('button', { name: 'Save key' }).click()
    await dialog.locator('.form-error', { hasText: 'refused' }).waitFor()
    await screenshot(page, 'api-key')
    assert.deepEqual(await axeViolations(page), [], 'axe-core on the API key dialog')

    await dialog.locator('input[name=apiKey]').fill(KEY)
    await dialog.getByRole('button', { name: 'Save key' }).click()
    await dialog.waitFor({ state: 'detached' })
    await page.locator(`tr[data-flow="${FLOW}"]`).waitFor()
    // The event stream authenticates with ?apiKey=: the sidebar says Live.
    await page.locator('[data-testid=live-status]', { hasText: 'Live' }).waitFor()
    assert.equal(await page.evaluate(() => localStorage.getItem('rota.apiKey')), KEY)

    // A reload keeps the key: no prompt again.
    await page.reload()
    await page.locator(`tr[data-flow="${FLOW}"]`).waitFor()
    assert.equal(await page.getByRole('dialog').count(), 0)
    assert.deepEqual(b.errors, [])
  })
})
