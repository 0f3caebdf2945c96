/**
 * Launch Debian's Chromium through playwright-core (never `playwright install`: no downloads here).
 * Each page gets its own browser with a fresh profile (`--user-data-dir` through a persistent
 * context), so tests never share storage: the API key lives in localStorage.
 */
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises'
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
export async function openPage({
  width = 1280,
  height = 860,
  isMobile = false,
  args = [] as string[],
  timezoneId = undefined as string | undefined,
  colorScheme = 'light' as 'light' | 'dark',
} = {}): Promise<BrowserPage> {
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
    locale: 'en-US',
    colorScheme,
    ...(timezoneId ? { timezoneId } : {}),
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

/**
 * The accessibility check of a page: axe-core (pinned in package.json) injected into it, run on the
 * whole document. Returns the serious and critical violations, one line each (rule, impact, where).
 */
export async function axeViolations(page: Page): Promise<string[]> {
  const source = await readFile(path.resolve('node_modules/axe-core/axe.min.js'), 'utf8')
  await page.addScriptTag({ content: source })
  const result = (await page.evaluate(async () => {
    const axe = (window as unknown as { axe: { run(ctx: Document, opts: unknown): Promise<{ violations: { id: string; impact: string | null; help: string; nodes: { target: unknown[]; failureSummary?: string }[] }[] }> } }).axe
    return axe.run(document, { resultTypes: ['violations'] })
  })) as { violations: { id: string; impact: string | null; help: string; nodes: { target: unknown[]; failureSummary?: string }[] }[] }
  return result.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .flatMap((v) => v.nodes.slice(0, 5).map((n) => `${v.id} (${v.impact}): ${v.help} at ${JSON.stringify(n.target)} ${n.failureSummary?.split('\n').slice(0, 2).join(' ') ?? ''}`))
}
