// Dashboard, in a real browser: locks taken by agents appear with holder, mode and fencing token,
// waiters in order; an admin force-releases with a confirmation; released locks disappear.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import type { OutcomeValue } from '../shared/coordination.js'
import { assertNoConsoleErrors, newPage, openWorkspace, screenshot, showPanel, textOf } from './helpers/browser.js'
import { connectPeer, mintToken, newSession, waitFor } from './helpers/clients.js'
import { withDashboard } from './helpers/suite.js'

const WS = 'ops'

const dash = withDashboard(test)

test('locks appear with holders, tokens and the queue, and disappear on release; admins force-release', async () => {
  const admin = await newPage(dash.browser)
  const viewer = await newPage(dash.browser, { viewport: { width: 390, height: 844 } })
  dash.pages.push(admin, viewer)
  await openWorkspace(admin, dash.server, WS, await mintToken('ada', 'admin', WS, { name: 'Ada Admin' }), '?panel=locks')
  await openWorkspace(viewer, dash.server, WS, await mintToken('vic', 'viewer', WS, { name: 'Vic Viewer' }), '?panel=locks')
  await admin.page.waitForSelector('#panel-locks:not([hidden]) .empty:not([hidden])')

  const s1 = newSession()
  const s2 = newSession()
  const bot1 = await connectPeer(dash.server, WS, { token: await mintToken('build-bot', 'editor', WS, { kind: 'agent', name: 'Build bot' }), session: s1 })
  const bot2 = await connectPeer(dash.server, WS, { token: await mintToken('test-bot', 'editor', WS, { kind: 'agent', name: 'Test bot' }), session: s2 })
  bot1.doc.getMap('claims').set(`${s1}:c1`, { resources: ['db'], mode: 'exclusive', note: 'migrating' })

  // the holder appears, with its fencing token
  const card = '.lock[data-resource="db"]'
  await admin.page.waitForSelector(`${card} .holder[data-actor="build-bot"]`)
  const holderText = await textOf(admin.page, `${card} .holder`)
  assert.match(holderText, /Build bot/)
  assert.match(holderText, /exclusive/)
  assert.is(await textOf(admin.page, `${card} .holder .token`), '#1')
  await viewer.page.waitForSelector(`${card} .holder[data-actor="build-bot"]`)

  // a second agent waits in the queue
  bot2.doc.getMap('claims').set(`${s2}:c1`, { resources: ['db'], mode: 'exclusive' })
  await admin.page.waitForSelector(`${card} .waiter[data-actor="test-bot"]`)
  assert.match(await textOf(admin.page, `${card} .waiter`), /Test bot.*exclusive.*waiting \d+ s/)
  assert.match(await textOf(admin.page, '.nav-item[data-panel="locks"]'), /Locks\s*1/)
  // viewers get no force-release button
  assert.equal(await viewer.page.$$(`${card} button`), [])
  await screenshot(admin.page, 'locks')
  await screenshot(viewer.page, 'locks-narrow')

  // the holder releases: the waiter gets it with the next token
  bot1.doc.getMap('claims').delete(`${s1}:c1`)
  await admin.page.waitForSelector(`${card} .holder[data-actor="test-bot"]`)
  assert.is(await textOf(admin.page, `${card} .holder .token`), '#2')
  assert.ok(await admin.page.isHidden(`${card} .queue-block`), 'the queue is empty again')

  // an admin force-releases, after confirming, with a reason
  await admin.page.click(`${card} button:has-text("Force release")`)
  await admin.page.waitForSelector('dialog[open]')
  await screenshot(admin.page, 'locks-force-release')
  await admin.page.fill('dialog[open] input', 'stuck test run')
  await admin.page.click('dialog[open] button[value="ok"]')
  await admin.page.waitForSelector(card, { state: 'detached' })
  await viewer.page.waitForSelector(card, { state: 'detached' })
  await admin.page.waitForSelector('.toast:has-text("Released db")')
  const outcome = await waitFor(() => bot2.doc.getMap('outcomes').get(`${s2}:c1`) as OutcomeValue | undefined, 5000, 'the holder never got an outcome')
  assert.is(outcome.state, 'revoked')
  assert.match(outcome.reason ?? '', /stuck test run/)
  assert.ok(await admin.page.isVisible('#panel-locks .empty'), 'no locks left')
  await showPanel(admin.page, 'activity')
  assert.match(await textOf(admin.page, '.event[data-type="revoke"]'), /Test bot @test-bot lost db: force-released by Ada Admin: stuck test run/)
  assert.match(await textOf(admin.page, '.event[data-type="grant"]'), /Test bot @test-bot got db \(exclusive\) · token #2/)

  // a lock released by its holder disappears too
  bot1.doc.getMap('claims').set(`${s1}:c2`, { resources: ['cache'], mode: 'shared' })
  await viewer.page.waitForSelector('.lock[data-resource="cache"] .holder[data-actor="build-bot"]')
  bot1.doc.getMap('claims').delete(`${s1}:c2`)
  await viewer.page.waitForSelector('.lock[data-resource="cache"]', { state: 'detached' })
  bot1.destroy()
  bot2.destroy()
})

test('no console errors on any page', () => {
  for (const [index, page] of dash.pages.entries()) assertNoConsoleErrors(page, `page ${index + 1}`)
})

test.run()
