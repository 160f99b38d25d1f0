// Dashboard, in a real browser: the connection state is always visible and the page reconnects by
// itself after a server restart; going offline is shown.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { assertNoConsoleErrors, newPage, openWorkspace, screenshot, textOf, waitLive } from './helpers/browser.js'
import { mintToken } from './helpers/clients.js'
import { withDashboard } from './helpers/suite.js'

const WS = 'relay'
// While the server is down the browser's own requests fail too (reconnects, and the icon it may
// fetch at any moment); those are Chromium's messages, not the page's.
const EXPECTED_WHILE_DOWN = [/WebSocket connection to 'ws:\/\/127\.0\.0\.1:\d+\/relay\?.*' failed/, /Failed to load resource: net::ERR_CONNECTION_REFUSED/]

const dash = withDashboard(test)

test('a server restart shows "Reconnecting…" and the page comes back live by itself', async () => {
  const watched = await newPage(dash.browser)
  dash.pages.push(watched)
  const { page } = watched
  await openWorkspace(watched, dash.server, WS, await mintToken('rey', 'editor', WS, { name: 'Rey Reconnect' }))
  await dash.server.stop()
  await page.waitForSelector('#connection[data-state="reconnecting"]')
  assert.match(await textOf(page, '.banner'), /The server is restarting\. Reconnecting…/)
  assert.ok(await page.isVisible('main.stale'), 'stale content is dimmed')
  await screenshot(page, 'reconnecting')
  await dash.server.restart({ samePort: true })
  await waitLive(page, 15_000)
  assert.ok(await page.isHidden('.banner'))
  assert.ok(await page.isHidden('main.stale'))
})

test('going offline is shown, and coming back online recovers', async () => {
  const watched = dash.pages[0]!
  await watched.context.setOffline(true)
  await watched.page.waitForSelector('#connection[data-state="offline"]')
  assert.match(await textOf(watched.page, '.banner'), /You are offline/)
  await watched.context.setOffline(false)
  await waitLive(watched.page, 15_000)
})

test('no console errors other than refused reconnections while the server was down', () => {
  for (const [index, page] of dash.pages.entries()) assertNoConsoleErrors(page, `page ${index + 1}`, EXPECTED_WHILE_DOWN)
})

test.run()
