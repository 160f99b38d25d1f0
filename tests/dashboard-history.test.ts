// Dashboard, in a real browser: the history panel beside the editor lists versions with their
// authors (the agent marked as one), shows blame and the changes since a version by author, and
// restores a version after a confirmation, which every connected client sees. The documents list
// names the last editor from the server's attribution.
import type { Browser } from 'playwright-core'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { assertNoConsoleErrors, newPage, openWorkspace, screenshot, type WatchedPage } from './helpers/browser.js'
import { connectPeer, mintToken, type Peer, waitFor } from './helpers/clients.js'
import type { TestServer } from './helpers/server.js'
import { withServerAndBrowser } from './helpers/suite.js'

const WS = 'histdash'
let server: TestServer
let browser: Browser
let page: WatchedPage

withServerAndBrowser(test, (started, launched) => {
  server = started
  browser = launched
})

async function label(token: string, name: string): Promise<number> {
  const response = await fetch(`${server.httpUrl}/api/workspaces/${WS}/docs/notes/hist/versions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ label: name }),
  })
  return ((await response.json()) as { id: number }).id
}

test('history panel: authors, blame, changes by author, restore with confirmation; the list names the last editor', async () => {
  const annToken = await mintToken('ann', 'editor', WS, { name: 'Ann Writer' })
  const botToken = await mintToken('bot', 'editor', WS, { name: 'Helper Bot', kind: 'agent' })
  const ann = await connectPeer(server, `${WS}/notes/hist`, { token: annToken })
  const bot = await connectPeer(server, `${WS}/notes/hist`, { token: botToken })
  const sees = (peer: Peer, text: string) => waitFor(() => peer.doc.getText('body').toString() === text, 5000, `a client to read ${JSON.stringify(text)}`)
  ann.doc.getText('body').insert(0, 'Plan: ship history\n')
  await sees(bot, 'Plan: ship history\n')
  const v1 = await label(annToken, 'draft')
  const body = bot.doc.getText('body')
  body.insert(body.length, 'Agent: tests written\n')
  await sees(ann, 'Plan: ship history\nAgent: tests written\n')
  const v2 = await label(botToken, 'agent pass')

  page = await newPage(browser)
  await openWorkspace(page, server, WS, await mintToken('cat', 'editor', WS, { name: 'Cat Reviewer' }), '?panel=documents&doc=notes/hist')
  await page.page.waitForSelector(`.history-item[data-version="${v2}"] .history-actor[data-kind="agent"][data-actor="bot"]`)
  assert.ok(
    await page.page.isVisible(`.history-item[data-version="${v1}"] .history-actor[data-kind="human"][data-actor="ann"]`),
    "Ann's version names her as a human",
  )
  await page.page.waitForSelector('.doc-link[data-path="notes/hist"] .doc-meta[data-last-editor="bot"]')

  await page.page.click('.history-pane button[data-action="blame"]')
  await page.page.waitForSelector('.blame-line[data-actor="bot"]')
  const blamed = await page.page.$$eval('.blame-line', (rows) => rows.map((row) => row.getAttribute('data-actor')))
  assert.equal(blamed, ['ann', 'bot'])

  await page.page.click(`.history-item[data-version="${v1}"] button[data-action="diff"]`)
  await page.page.waitForSelector('.diff-change.diff-added[data-actors="bot"] ins')
  await screenshot(page.page, 'history')

  await page.page.click(`.history-item[data-version="${v1}"] button[data-action="restore"]`)
  await page.page.waitForSelector('dialog[open]')
  await page.page.click('dialog button[value="ok"]')
  await sees(ann, 'Plan: ship history\n')
  await sees(bot, 'Plan: ship history\n')
  await page.page.waitForSelector('.history-status:has-text("Restored version")')
  await page.page.waitForSelector('.history-item .history-actor[data-actor="cat"]')
  assertNoConsoleErrors(page, 'the history panel')
  ann.destroy()
  bot.destroy()
})

test.after(async () => {
  await page?.page.close()
})

test.run()
