// Dashboard, in a real browser: the connection state is always visible and the page reconnects by
// itself after a server restart; going offline is shown.
import type { Browser } from 'playwright-core'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { assertNoConsoleErrors, newPage, openWorkspace, screenshot, textOf, waitLive, type WatchedPage } from './helpers/browser.js'
import { mintToken } from './helpers/clients.js'
import type { TestServer } from './helpers/server.js'
import { withServerAndBrowser } from './helpers/suite.js'

const WS = 'relay'
let server: TestServer
let browser: Browser
const pages: WatchedPage[] = []
// While the server is down the browser's own requests fail too (reconnects, and the icon it may
// fetch at any moment); those are Chromium's messages, not the page's.
const EXPECTED_WHILE_DOWN = [/WebSocket connection to 'ws:\/\/127\.0\.0\.1:\d+\/relay\?.*' failed/, /Failed to load resource: net::ERR_CONNECTION_REFUSED/]

withServerAndBrowser(test, (started, launched) => {
  server = started
  browser = launched
})

test('a server restart shows "Reconnecting…" and the page comes back live by itself', async () => {
  const watched = await newPage(browser)
  pages.push(watched)
  const { page } = watched
  await openWorkspace(watched, server, WS, await mintToken('rey', 'editor', WS, { name: 'Rey Reconnect' }))
  await server.stop()
  await page.waitForSelector('#connection[data-state="reconnecting"]')
  assert.match(await textOf(page, '.banner'), /The server is restarting\. Reconnecting…/)
  assert.ok(await page.isVisible('main.stale'), 'stale content is dimmed')
  await screenshot(page, 'reconnecting')
  await server.restart({ samePort: true })
  await waitLive(page, 15_000)
  assert.ok(await page.isHidden('.banner'))
  assert.ok(await page.isHidden('main.stale'))
})

test('going offline is shown, and coming back online recovers', async () => {
  const watched = pages[0]!
  await watched.context.setOffline(true)
  await watched.page.waitForSelector('#connection[data-state="offline"]')
  assert.match(await textOf(watched.page, '.banner'), /You are offline/)
  await watched.context.setOffline(false)
  await waitLive(watched.page, 15_000)
})

test('no console errors other than refused reconnections while the server was down', () => {
  for (const [index, page] of pages.entries()) assertNoConsoleErrors(page, `page ${index + 1}`, EXPECTED_WHILE_DOWN)
})

test.run()
