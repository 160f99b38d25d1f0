// Dashboard inbox, in a real browser: an approval request for Ann shows as unread in her tab title
// and inbox with a browser notification (permission granted), opening the inbox reads it, Decide
// leads to the card; her own claim queued behind an agent shows too; a card link opens the card.
import type { Browser } from 'playwright-core'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { connect, type Huddle } from '../client-lib/node.js'
import { assertNoConsoleErrors, newPage, openWorkspace, screenshot, showPanel, textOf, type WatchedPage } from './helpers/browser.js'
import { mintToken } from './helpers/clients.js'
import type { TestServer } from './helpers/server.js'
import { withServerAndBrowser } from './helpers/suite.js'

const WS = 'inbox'
let server: TestServer
let browser: Browser
const pages: WatchedPage[] = []
const clients: Huddle[] = []

test.after(async () => {
  for (const client of clients.splice(0)) await client.close()
})
withServerAndBrowser(test, (started, launched) => {
  server = started
  browser = launched
})

async function client(actor: string, kind: 'human' | 'agent'): Promise<Huddle> {
  const huddle = await connect({ url: server.httpUrl, workspace: WS, token: await mintToken(actor, kind === 'agent' ? 'editor' : 'approver', WS, { kind }) })
  clients.push(huddle)
  return huddle
}

/** Records the page's browser notifications while letting the real ones through. */
async function recordNotifications(watched: WatchedPage): Promise<void> {
  await watched.context.grantPermissions(['notifications'], { origin: server.httpUrl })
  await watched.context.addInitScript(() => {
    const shown: Array<{ title: string; body?: string }> = []
    ;(window as unknown as { shownNotifications: typeof shown }).shownNotifications = shown
    window.Notification = new Proxy(window.Notification, {
      construct(target, args: [string, NotificationOptions?]) {
        shown.push({ title: args[0], ...(args[1]?.body ? { body: args[1].body } : {}) })
        return Reflect.construct(target, args)
      },
    })
  })
}

test('an approval for Ann: unread in the title and the inbox, a notification, read once opened, Decide shows the card', async () => {
  const ann = await newPage(browser)
  pages.push(ann)
  await recordNotifications(ann)
  await openWorkspace(ann, server, WS, await mintToken('ann', 'approver', WS, { name: 'Ann Approver' }))
  assert.not.match(await ann.page.title(), /^\(/)

  const bot = await client('ci-bot', 'agent')
  const handle = await bot.approvals.request({ title: 'Deploy v7', action: 'deploy' })
  await ann.page.waitForFunction(() => document.title.startsWith('(1) '))
  assert.is(await textOf(ann.page, '.nav-item[data-panel="inbox"] .nav-badge'), '1')
  const shown = await ann.page.waitForFunction(() => (window as unknown as { shownNotifications: unknown[] }).shownNotifications[0])
  assert.equal(await shown.jsonValue(), { title: 'Approval requested: Deploy v7', body: 'ci-bot asks: deploy' })

  await showPanel(ann.page, 'inbox')
  const item = `.inbox-item[data-kind="vote"][data-key="${handle.key}"]`
  await ann.page.waitForSelector(item)
  assert.match(await textOf(ann.page, item), /Your vote\s*Deploy v7/)
  await ann.page.waitForFunction(() => !document.title.startsWith('('))
  assert.ok(await ann.page.isHidden('.nav-item[data-panel="inbox"] .nav-badge'), 'nothing unread')
  await screenshot(ann.page, 'inbox')

  await ann.page.click(`${item} button`)
  await ann.page.waitForSelector(`#panel-approvals:not([hidden]) .approval-pending[data-key="${handle.key}"].revealed`)
  await ann.page.click(`.approval-pending[data-key="${handle.key}"] button[data-vote="approve"]`)
  await showPanel(ann.page, 'inbox')
  await ann.page.waitForSelector(item, { state: 'detached' })
})

test('her own claim queued behind an agent shows as waiting; a card link opens the approval', async () => {
  const ann = await newPage(browser)
  pages.push(ann)
  await openWorkspace(ann, server, WS, await mintToken('ann', 'approver', WS, { name: 'Ann Approver' }), '?panel=inbox')
  const bot = await client('ci-bot', 'agent')
  const held = await bot.locks.acquire('deploy-slot')
  const annCli = await client('ann', 'human')
  const queued = annCli.locks.acquire('deploy-slot')
  const waiting = '.inbox-item[data-kind="waiting"]'
  await ann.page.waitForSelector(waiting)
  assert.match(await textOf(ann.page, waiting), /Waiting for a lock\s*deploy-slot/)
  assert.match(await textOf(ann.page, waiting), /held by ci-bot/)
  await held.release()
  await (await queued).release()
  await ann.page.waitForSelector(waiting, { state: 'detached' })

  const handle = await bot.approvals.request({ title: 'Rotate keys', action: 'rotate' })
  const linked = await newPage(browser)
  pages.push(linked)
  await openWorkspace(linked, server, WS, await mintToken('bob', 'approver', WS), `?panel=approvals&approval=${encodeURIComponent(handle.key)}`)
  await linked.page.waitForSelector(`.approval-pending[data-key="${handle.key}"].revealed`)
})

test('no console errors on any page', () => {
  for (const [index, page] of pages.entries()) assertNoConsoleErrors(page, `page ${index + 1}`)
})

test.run()
