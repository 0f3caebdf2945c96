/**
 * The Automations page in a real Chromium against a real server, agent and webhook receiver: make one
 * with the form (and see a bad URL refused with the server's message), switch it off and on, watch
 * it fire, read its firing history, delete it; the health card shows the database's size and the
 * retention. Screenshots go to test-results/screenshots/.
 */
import assert from 'node:assert/strict'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, test } from 'node:test'
import { startHarness, waitFor, waitForRunState, type Harness } from '../helpers/rota.ts'
import { openPage, screenshot, type BrowserPage } from './browser.ts'
import { buildUi } from './build.ts'

describe('automations page (real browser, server, agent and receiver)', { timeout: 180_000 }, () => {
  let h: Harness
  let b: BrowserPage
  let receiver: http.Server
  let hook = ''
  const received: { authorization: string | undefined; body: Record<string, unknown> }[] = []

  before(async () => {
    buildUi()
    receiver = http.createServer((req, res) => {
      let data = ''
      req.on('data', (d: Buffer) => (data += d.toString()))
      req.on('end', () => {
        received.push({ authorization: req.headers.authorization, body: JSON.parse(data) as Record<string, unknown> })
        res.end('ok')
      })
    })
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve))
    hook = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/slack`
    h = await startHarness({ server: { automations: { everyMs: 300, deliverEveryMs: 100 } } })
    await h.register('test/fixtures/ops.ts')
    await h.startAgent()
    b = await openPage()
  })

  after(async () => {
    await b?.close()
    await h?.close()
    await new Promise((resolve) => receiver?.close(resolve))
  })

  test('make one with the form, switch it, see it fire, read its history, delete it', async () => {
    const { page } = b
    page.on('dialog', (d) => void d.accept())
    await page.goto(`${h.server.url}/#/automations`)
    await page.getByRole('heading', { name: 'Automations' }).waitFor()
    await page.getByText('No automations yet').waitFor()

    await page.getByTestId('new-automation').click()
    const form = page.locator('form.automation-form')
    await form.locator('input[name=name]').fill('failures to chat')
    await form.locator('select[name=flow]').selectOption('ops-flaky')
    // failed and crashed are chosen already
    assert.equal(await form.locator('input[name=state-failed]').isChecked(), true)
    await form.locator('input[name=url]').fill('ftp://example.org/hook')
    await form.getByRole('button', { name: 'Create' }).click()
    await form.locator('.form-error', { hasText: 'must be an http(s) URL' }).waitFor()

    await form.locator('input[name=url]').fill(hook)
    await form.locator('textarea[name=headers]').fill('Authorization: Bearer chat-secret')
    await form.locator('input[name=minGap]').fill('0')
    await screenshot(page, 'automation-form')
    await form.getByRole('button', { name: 'Create' }).click()
    const row = page.locator('tr[data-automation="failures to chat"]')
    await row.waitFor()
    assert.match(await row.innerText(), /a run of ops-flaky is failed or crashed/)
    assert.ok(!(await page.content()).includes('chat-secret'), 'the header value is never shown')

    // Off: a failure fires nothing. On again: the next one is delivered.
    await row.getByTestId('automation-toggle').click()
    await waitFor('disabled', async () => ((await h.client.getAutomation('failures to chat')).enabled ? undefined : true))
    await waitForRunState(h.client, (await h.client.createRun('ops-flaky', { fail: true })).id)
    await new Promise((r) => setTimeout(r, 1000))
    assert.equal(received.length, 0)
    await row.getByTestId('automation-toggle').click()
    await waitFor('enabled', async () => ((await h.client.getAutomation('failures to chat')).enabled ? true : undefined))
    const failed = await waitForRunState(h.client, (await h.client.createRun('ops-flaky', { fail: true, message: 'chat me' })).id)
    await waitFor('the delivery', () => (received.length > 0 ? true : undefined))
    assert.equal(received[0]?.authorization, 'Bearer chat-secret')
    assert.equal(received[0]?.body.flowRunId, failed.id)

    // The history: delivered, HTTP 200, a link to the run.
    await row.locator('a.flow-name').click()
    await page.getByRole('heading', { name: 'failures to chat' }).waitFor()
    const firing = page.locator('table.firings-table tbody tr').first()
    await firing.locator('[data-testid=firing-status][data-status=delivered]').waitFor()
    assert.equal((await firing.getByTestId('firing-http').innerText()).trim(), '200')
    assert.match(await firing.innerText(), /chat me/)
    assert.equal(await firing.locator(`a[href="#/runs/${failed.id}"]`).count(), 1)
    assert.match(await page.getByTestId('automation-action').innerText(), /headers: Authorization \(values hidden\)/)
    await screenshot(page, 'automation-history')

    // Deleted from its page: back to the list, empty again.
    await page.getByTestId('automation-delete').click()
    await page.getByText('No automations yet').waitFor()
    assert.equal((await h.client.listAutomations()).items.length, 0)
    assert.deepEqual(b.errors, [])
  })

  test('the health card shows the database size, the oldest run and the retention', async () => {
    const { page } = b
    await page.goto(`${h.server.url}/#/`)
    await page.getByTestId('database-size').waitFor()
    assert.match(await page.getByTestId('database-size').innerText(), /^\d+(\.\d)? (KB|MB|GB)$/)
    assert.match(await page.getByTestId('retention').innerText(), /^30d, newest 100 kept$/)
    // Times show absolute with their zone by default, relative after a tap (the dashboard's time setting).
    assert.match(await page.getByTestId('oldest-run').innerText(), /ago|just now|\d{1,2}:\d{2}/)
    await screenshot(page, 'home-storage')
    assert.deepEqual(b.errors, [])
  })
})
