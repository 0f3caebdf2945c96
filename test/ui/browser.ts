/**
 * Launch Debian's Chromium through playwright-core (never `playwright install`: no downloads here).
 * Each page gets its own browser with a fresh profile (`--user-data-dir` through a persistent
 * context), so tests never share storage: the API key lives in localStorage.
 */
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { chromium, type BrowserContext, type Page } from 'playwright-core'

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
export const SCREENSHOT_DIR = path.resolve('test-results', 'screenshots')

const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
]

export interface BrowserPage {
  page: Page
  context: BrowserContext
  /** Uncaught exceptions in the page: a broken bundle should fail a test, not time out. */
  errors: string[]
  close(): Promise<void>
}

/** `args`: extra Chromium flags, e.g. `--host-resolver-rules=MAP evil.test 127.0.0.1` to play DNS rebinding. */
export async function openPage({ width = 1280, height = 860, isMobile = false, args = [] as string[] } = {}): Promise<BrowserPage> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(`Chromium not found at ${CHROMIUM_PATH}: install it with \`apt-get install -y chromium\` (or set CHROMIUM_PATH)`)
  }
  const profile = await mkdtemp(path.join(os.tmpdir(), 'rota-ui-chromium-'))
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: [...ARGS, ...args],
    viewport: { width, height },
    isMobile,
    hasTouch: isMobile,
    deviceScaleFactor: 1,
  })
  const page = context.pages()[0] ?? (await context.newPage())
  page.setDefaultTimeout(15_000)
  const errors: string[] = []
  page.on('pageerror', (err) => {
    errors.push(err.message)
    console.error(`[browser] page error: ${err.message}`)
  })
  // Console errors are logged for the reader but not counted: Chromium logs every 4xx answer
  // (a 401 before the key is entered, a 400 for a bad parameter), which the UI handles on purpose.
  page.on('console', (msg) => {
    if (msg.type() === 'error') console.error(`[browser] console: ${msg.text()}`)
  })
  return {
    page,
    context,
    errors,
    async close() {
      await context.close().catch(() => {})
      await rm(profile, { recursive: true, force: true })
    },
  }
}

export async function screenshot(page: Page, name: string): Promise<string> {
  await mkdir(SCREENSHOT_DIR, { recursive: true })
  const file = path.join(SCREENSHOT_DIR, `${name}.png`)
  await page.screenshot({ path: file, fullPage: true })
  return file
}
