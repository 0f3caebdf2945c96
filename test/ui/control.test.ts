/**
 * Flow control on the dashboard (issue 12), in a real Chromium against a real server and agent:
 * Quick Run with a priority, a parent's child runs, the Pools page (who holds, who waits), and the
 * backfill form (its count, and no second run for a time that has one).
 */
import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { after, before, describe, test } from 'node:test'
import { startHarness, waitFor, waitForRunState, type Harness } from '../helpers/rota.ts'
import { openPage, screenshot, type BrowserPage } from './browser.ts'
import { buildUi } from './build.ts'

describe('flow control on the dashboard (real browser, server and agent)', { timeout: 180_000 }, () => {
  let h: Harness
  let b: BrowserPage
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rota-ui-control-'))

  before(async () => {
    buildUi()
    h = await startHarness()
    await h.register('test/fixtures/control.ts')
    await h.client.setSchedule('minutely', false)
    await h.startAgent({ name: 'ui-control-agent', concurrency: 4 })
    b = await openPage()
  })
  after(async () => {
    await b?.close()
    await h?.close()
    fs.rmSync(tmp, { recursive: true, force: true })
  })

  test('Quick Run takes a priority (and refuses one that is not a whole number); the run page lists its child runs', async () => {
    const { page } = b
    await page.goto(`${h.server.url}/#/flows/parent`)
    await page.locator('[data-testid=quick-run]').click()
    const form = page.locator('form.quick-run[data-flow="parent"]')
    await form.locator('input[name="(priority)"]').fill('1.5')
    await form.locator('button[type=submit]').click()
    await form.locator('.form-error', { hasText: 'a whole number' }).waitFor()
    await form.locator('input[name="(priority)"]').fill('7')
    await form.locator('button[type=submit]').click()
    await page.waitForURL(/#\/runs\/[0-9a-f-]{36}$/)
    const id = decodeURIComponent(page.url().split('#/runs/')[1] as string)
    assert.equal((await h.client.getRun(id)).priority, 7)
    await page.locator('[data-testid=run-priority]', { hasText: '7' }).waitFor()
    assert.equal((await waitForRunState(h.client, id)).state, 'success')
    const children = page.locator('[data-testid=child-runs] tr[data-run]')
    await waitFor('two child runs on the page', async () => ((await children.count()) === 2 ? true : undefined), 20_000)
    const childId = (await children.first().getAttribute('data-run')) as string
    await page.goto(`${h.server.url}/#/runs/${childId}`)
    await page.locator('[data-testid=run-parent]').click()
    await page.waitForURL(new RegExp(`#/runs/${id}$`))
    await screenshot(page, 'control-parent-run')
    assert.deepEqual(b.errors, [])
  })

  test('the Pools page shows who holds a slot and who waits', async () => {
    const { page } = b
    await h.client.setPool('shared', 1)
    const f = path.join(tmp, 'pool.txt')
    const holder = await h.client.createRun('pool-flow', { file: f, ms: 4000 })
    await waitForRunState(h.client, holder.id, ['running'])
    const waiter = await h.client.createRun('pool-task', { file: f, ms: 100 })
    await page.goto(`${h.server.url}/#/pools`)
    const row = page.locator('tr[data-pool="shared"]')
    await row.locator('[data-testid=pool-held]', { hasText: '1 / 1' }).waitFor()
    await row.locator('[data-testid=pool-holders] a', { hasText: holder.name }).waitFor()
    await row.locator('[data-testid=pool-waiting]', { hasText: `task pooled of ${waiter.name}` }).waitFor({ timeout: 20_000 })
    await screenshot(page, 'control-pools')
    await Promise.all([holder.id, waiter.id].map((id) => waitForRunState(h.client, id)))
    await row.locator('[data-testid=pool-held]', { hasText: '0 / 1' }).waitFor()
    assert.deepEqual(b.errors, [])
  })

  test('the backfill form creates one run per schedule time, and none for a time that has one', async () => {
    const { page } = b
    const MIN = 60_000
    const from = new Date(Math.floor(Date.now() / MIN) * MIN - 30 * MIN)
    const to = new Date(from.getTime() + 2 * MIN)
    const fill = async () => {
      await page.goto(`${h.server.url}/#/flows/minutely`)
      await page.locator('[data-testid=backfill]').click()
      const form = page.locator('form.backfill[data-flow="minutely"]')
      await form.locator('input[name=from]').fill(from.toISOString())
      await form.locator('input[name=to]').fill(to.toISOString())
      await form.locator('input[name=maxActive]').fill('1')
      await form.locator('button[type=submit]').click()
      const text = (await page.locator('[data-testid=backfill-result]').textContent())?.replace(/\s+/g, ' ').trim()
      await page.locator('.backfill-done button', { hasText: 'Close' }).click()
      return text
    }
    assert.equal(await fill(), 'Created 3 runs for 3 schedule times, at most 1 at once.')
    assert.equal(await fill(), 'Created 0 runs for 3 schedule times (3 already had a run), at most 1 at once.')
    const runs = (await h.client.listRuns({ flow: 'minutely', limit: 50 })).items
    assert.deepEqual(runs.map((r) => r.scheduledStartTime).sort(), [0, 1, 2].map((m) => new Date(from.getTime() + m * MIN).toISOString()))
    await Promise.all(runs.map((r) => waitForRunState(h.client, r.id)))
    // a bad range is refused with the server's reason
    await page.goto(`${h.server.url}/#/flows/minutely`)
    await page.locator('[data-testid=backfill]').click()
    const form = page.locator('form.backfill[data-flow="minutely"]')
    await form.locator('input[name=from]').fill(to.toISOString())
    await form.locator('input[name=to]').fill(from.toISOString())
    await form.locator('button[type=submit]').click()
    await form.locator('.form-error', { hasText: 'the range starts after it ends' }).waitFor()
    await screenshot(page, 'control-backfill')
    assert.deepEqual(b.errors, [])
  })
})
