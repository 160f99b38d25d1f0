// Real-browser helpers for the dashboard tests: playwright-core driving Debian's Chromium (no
// browser downloads here), pages that record console errors, and screenshots under
// test-output/screenshots/.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core'
import { ROOT, type TestServer } from './server.js'

export const CHROMIUM = process.env.HUDDLE_CHROMIUM ?? '/usr/bin/chromium'
export const OUTPUT_DIR = join(ROOT, 'test-output')
export const SCREENSHOT_DIR = join(OUTPUT_DIR, 'screenshots')

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

/**
 * Launches Chromium headless. Fails (never skips) when it is missing or the dashboard is not built,
 * saying what to do. Playwright gives every launch a fresh temporary user-data-dir.
 */
export async function launchBrowser(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `the dashboard tests need Chromium at ${CHROMIUM}, which is missing: install it with \`apt-get install -y chromium\` (or point HUDDLE_CHROMIUM at a Chromium binary)`,
    )
  }
  if (!existsSync(join(ROOT, 'dist', 'dashboard', 'main.js'))) {
    throw new Error('the dashboard is not built (dist/dashboard/main.js is missing): run `npm run build`')
  }
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS, timeout: 30_000 })
}

export interface WatchedPage {
  page: Page
  context: BrowserContext
  /** console errors and uncaught exceptions, in order */
  errors: string[]
  /** every console message, for failure reports */
  log: string[]
}

export interface PageOptions {
  viewport?: { width: number; height: number }
}

/** A new browser context (its own storage, like another person's browser) with one page. */
export async function newPage(browser: Browser, options: PageOptions = {}): Promise<WatchedPage> {
  const context = await browser.newContext({ viewport: options.viewport ?? { width: 1280, height: 860 }, colorScheme: 'light', reducedMotion: 'reduce' })
  context.setDefaultTimeout(8000)
  const page = await context.newPage()
  const watched: WatchedPage = { page, context, errors: [], log: [] }
  page.on('console', (message) => {
    const location = message.location()
    const text = `[${message.type()}] ${message.text()}${location.url ? ` (${location.url}:${location.lineNumber})` : ''}`
    watched.log.push(text)
    if (message.type() === 'error') watched.errors.push(text)
  })
  page.on('pageerror', (error) => {
    watched.errors.push(`[uncaught] ${error.stack ?? error.message}`)
  })
  return watched
}

/** Opens the workspace page with a token in the fragment, as a CLI-printed link would. */
export async function openWorkspace(watched: WatchedPage, server: TestServer, workspace: string, token: string, query = ''): Promise<void> {
  await watched.page.goto(`${server.httpUrl}/w/${workspace}${query}#token=${token}`)
  await waitLive(watched.page)
}

/** Waits until the page's coordination connection is live (synced). */
export async function waitLive(page: Page, timeoutMs = 10_000): Promise<void> {
  await page.waitForSelector('#connection[data-state="live"]', { timeout: timeoutMs })
}

/** Shows a panel through the navigation, as a user would. */
export async function showPanel(page: Page, panel: string): Promise<void> {
  await page.click(`.nav-item[data-panel="${panel}"]`)
  await page.waitForSelector(`#panel-${panel}:not([hidden])`)
}

/** Saves a full-page screenshot as test-output/screenshots/<name>.png and returns its path. */
export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(SCREENSHOT_DIR, { recursive: true })
  // keeps the output out of git without touching the repository's .gitignore
  const ignore = join(OUTPUT_DIR, '.gitignore')
  if (!existsSync(ignore)) writeFileSync(ignore, '*\n')
  const path = join(SCREENSHOT_DIR, `${name}.png`)
  await page.screenshot({ path, fullPage: true, animations: 'disabled' })
  return path
}

/** Fails with every console error a page logged (optionally ignoring expected ones). */
export function assertNoConsoleErrors(watched: WatchedPage, what: string, allowed: RegExp[] = []): void {
  const errors = watched.errors.filter((error) => !allowed.some((pattern) => pattern.test(error)))
  if (errors.length > 0) throw new Error(`${what} logged console errors:\n  ${errors.join('\n  ')}`)
}

/** The text of an element, trimmed (empty when it is missing). */
export async function textOf(page: Page, selector: string): Promise<string> {
  const element = await page.$(selector)
  return element ? ((await element.textContent()) ?? '').trim() : ''
}
