// Dashboard, in a real browser: a document guarded by someone else's lock `doc:<path>` is shown
// locked (who, since when) and its editor is read-only until the lock is released.
import type { Browser } from 'playwright-core'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { connect } from '../client-lib/node.js'
import { assertNoConsoleErrors, newPage, openWorkspace, textOf } from './helpers/browser.js'
import { mintToken, waitFor } from './helpers/clients.js'
import type { TestServer } from './helpers/server.js'
import { withServerAndBrowser } from './helpers/suite.js'

const WS = 'guard-ui'
let server: TestServer
let browser: Browser

withServerAndBrowser(test, (started, launched) => {
  server = started
  browser = launched
})

test('a guarded document is shown locked and read-only, and editable again once released', async () => {
  const agent = await connect({ url: server.httpUrl, workspace: WS, token: await mintToken('claude', 'editor', WS, { kind: 'agent', name: 'Claude' }) })
  try {
    await agent.docs.write('spec', 'the spec')
    const lock = await agent.locks.acquire('doc:spec')
    const ann = await newPage(browser)
    await openWorkspace(ann, server, WS, await mintToken('ann', 'editor', WS, { name: 'Ann Editor' }), '?panel=documents&doc=spec')
    await ann.page.waitForSelector('.editor-note:has-text("Locked by Claude since")')
    assert.match(await textOf(ann.page, '.editor-note'), /read-only until the lock doc:spec is released/)
    await waitFor(async () => (await ann.page.$('.doc-item .doc-locked')) !== null, 5000, 'the list never shows the lock')
    assert.match(await textOf(ann.page, '.doc-item .doc-locked'), /Claude/)
    await waitFor(async () => (await ann.page.getAttribute('.editor-host .cm-content', 'aria-readonly')) === 'true', 5000, 'the editor stays editable')
    await ann.page.click('.editor-host .cm-content')
    await ann.page.keyboard.type('sneaky ')
    assert.not.match(await textOf(ann.page, '.editor-host .cm-content'), /sneaky/)
    await lock.release()
    await waitFor(async () => (await ann.page.getAttribute('.editor-host .cm-content', 'aria-readonly')) === null, 5000, 'the editor never becomes editable')
    assert.is(await ann.page.isHidden('.editor-note'), true)
    await ann.page.click('.editor-host .cm-content')
    await ann.page.keyboard.press('End')
    await ann.page.keyboard.type(', reviewed')
    await waitFor(async () => (await agent.docs.read('spec')) === 'the spec, reviewed', 5000, "the agent never sees the human's edit")
    assertNoConsoleErrors(ann, 'the guarded document')
  } finally {
    await agent.close()
  }
})

test.run()
