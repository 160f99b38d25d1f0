// Dashboard, in a real browser: two editors type in the same document and see each other's text,
// cursor and typing; a viewer gets it read-only; the document list shows it.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { assertNoConsoleErrors, newPage, openWorkspace, screenshot, textOf, type WatchedPage } from './helpers/browser.js'
import { connectPeer, mintToken, waitFor } from './helpers/clients.js'
import { withDashboard } from './helpers/suite.js'

const WS = 'team'

const dash = withDashboard(test)

/** Waits until the editor shows exactly `expected`; fails showing what it shows. */
async function waitText(watched: WatchedPage, expected: string, who: string): Promise<void> {
  let last = ''
  await waitFor(
    async () => (last = await editorText(watched)) === expected,
    5000,
    () => `${who} never saw ${JSON.stringify(expected)}; the editor shows ${JSON.stringify(last)}`,
  )
}

/** The document text as the editor shows it, without other people's cursor labels. */
const editorText = (watched: WatchedPage) =>
  watched.page.$$eval('.editor-host .cm-line', (lines) =>
    lines
      .map((line) => {
        const copy = line.cloneNode(true) as HTMLElement
        copy.querySelectorAll('.cm-ySelectionCaret, .cm-widgetBuffer, .cm-placeholder').forEach((node) => node.remove())
        return (copy.textContent ?? '').replace(/[\u200b\u2060]/g, '')
      })
      .join('\n'),
  )

test('two editors type in one document and see each other; a viewer reads only', async () => {
  const ann = await newPage(dash.browser)
  const bea = await newPage(dash.browser)
  dash.pages.push(ann, bea)
  await openWorkspace(ann, dash.server, WS, await mintToken('ann', 'editor', WS, { name: 'Ann Editor' }), '?panel=documents&doc=notes/plan')
  await openWorkspace(bea, dash.server, WS, await mintToken('bea', 'editor', WS, { name: 'Bea Editor' }))
  await bea.page.click('.nav-item[data-panel="documents"]')
  // Bea finds the document in the list (Ann registered it when she opened it) and opens it
  await bea.page.click('.doc-link[data-path="notes/plan"]')
  assert.match(bea.page.url(), /panel=documents&doc=notes%2Fplan/)
  await bea.page.waitForSelector('.editor-pane[data-path="notes/plan"] .cm-content')
  await ann.page.waitForSelector('.editor-pane .conn:has-text("Live")')
  await bea.page.waitForSelector('.editor-pane .conn:has-text("Live")')

  // Ann types (with a new line and a correction), Bea sees it
  await ann.page.click('.editor-host .cm-content')
  await ann.page.keyboard.type('Plan for Q3')
  await ann.page.keyboard.press('Enter')
  await ann.page.keyboard.type('- ship the dashboardd')
  await ann.page.keyboard.press('Backspace')
  await waitText(bea, 'Plan for Q3\n- ship the dashboard', 'Bea')
  // Ann's cursor is shown to Bea, in Ann's colour, with her name
  await bea.page.waitForSelector('.cm-ySelectionCaret:has-text("Ann Editor")')

  // Bea types at the end; Ann sees the text, Bea's cursor and that she is typing
  await bea.page.click('.editor-host .cm-content')
  await bea.page.keyboard.press('Control+End')
  await bea.page.keyboard.press('Enter')
  await bea.page.keyboard.type('- write the docs')
  await ann.page.waitForSelector('.typing:has-text("Bea Editor is typing")')
  await waitText(ann, 'Plan for Q3\n- ship the dashboard\n- write the docs', 'Ann')
  await ann.page.waitForSelector('.cm-ySelectionCaret:has-text("Bea Editor")')
  assert.ok(await ann.page.isVisible('.editor-peers .avatar'), 'Ann sees who else is in the document')
  // Ann's presence says which document she has open
  await bea.page.waitForSelector('.doc-item .doc-here')
  await screenshot(ann.page, 'editor')

  // a stock client reading Y.Text "body" gets the same text
  const reader = await connectPeer(dash.server, `${WS}/notes/plan`, { token: await mintToken('reader', 'viewer', WS) })
  assert.is(reader.doc.getText('body').toString(), 'Plan for Q3\n- ship the dashboard\n- write the docs')
  reader.destroy()

  // a viewer gets the document read-only, and typing changes nothing (and is never sent)
  const vic = await newPage(dash.browser, { viewport: { width: 390, height: 844 } })
  dash.pages.push(vic)
  await openWorkspace(vic, dash.server, WS, await mintToken('vic', 'viewer', WS, { name: 'Vic Viewer' }), '?panel=documents&doc=notes/plan')
  await vic.page.waitForSelector('.editor-note:has-text("Read-only")')
  await waitFor(async () => (await editorText(vic)).includes('write the docs'), 5000, 'the viewer never saw the text')
  await vic.page.click('.editor-host .cm-content')
  await vic.page.keyboard.type('vandalism')
  await vic.page.waitForTimeout(300)
  assert.not.match(await editorText(vic), /vandalism/)
  assert.not.match(await editorText(ann), /vandalism/)
  assert.is(await vic.page.getAttribute('#connection', 'data-state'), 'live')
  assert.match(await textOf(vic.page, '.editor-pane .conn'), /Live/)
  await screenshot(vic.page, 'editor-viewer-narrow')
})

test('opening a document by path; bad paths are explained', async () => {
  const ann = dash.pages[0]!
  await ann.page.fill('.open-form input', '../etc')
  await ann.page.click('.open-form button[type="submit"]')
  assert.match(await textOf(ann.page, '.open-form .form-error'), /bad document path segment/)
  await ann.page.fill('.open-form input', 'retro/2024-q3')
  await ann.page.click('.open-form button[type="submit"]')
  await ann.page.waitForSelector('.editor-pane[data-path="retro/2024-q3"] .cm-content')
  await ann.page.waitForSelector('.doc-link[data-path="retro/2024-q3"]')
  await dash.pages[1]!.page.waitForSelector('.doc-link[data-path="retro/2024-q3"]')
  // back to the previous document with the browser's back button
  await ann.page.goBack()
  await ann.page.waitForSelector('.editor-pane[data-path="notes/plan"]')
})

test('no console errors on any page', () => {
  for (const [index, page] of dash.pages.entries()) assertNoConsoleErrors(page, `page ${index + 1}`)
})

test('a document written by another client, never opened in a dashboard, is listed with its writer', async () => {
  const writer = await connectPeer(dash.server, `${WS}/reports/weekly`, { token: await mintToken('ci-bot', 'editor', WS, { kind: 'agent' }) })
  writer.doc.getText('body').insert(0, 'written by an agent')
  const reader = await newPage(dash.browser)
  dash.pages.push(reader)
  await openWorkspace(reader, dash.server, WS, await mintToken('rae', 'viewer', WS, { name: 'Rae Viewer' }), '?panel=documents')
  await waitFor(async () => (await reader.page.$('.doc-link[data-path="reports/weekly"]')) !== null, 10_000, 'the stored document in the list')
  // who wrote it comes from the server's attribution, not from whoever opened it in a dashboard
  await reader.page.waitForSelector('.doc-link[data-path="reports/weekly"] .doc-meta[data-last-editor="ci-bot"]')
  assert.match(await textOf(reader.page, '.doc-link[data-path="reports/weekly"]'), /edited by ci-bot/)
  assertNoConsoleErrors(reader, 'the document list')
})

test.run()
