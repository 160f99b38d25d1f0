// Dashboard, in a real browser: an agent asks for approval, an approver approves it in one
// browser, and a viewer in another browser sees the decision live, without vote buttons.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import * as Y from 'yjs'
import type { ApprovalStatus } from '../shared/coordination.js'
import { assertNoConsoleErrors, newPage, openWorkspace, screenshot, showPanel, textOf } from './helpers/browser.js'
import { connectPeer, mintToken, newSession, waitFor } from './helpers/clients.js'
import { withDashboard } from './helpers/suite.js'

const WS = 'demo'

const dash = withDashboard(test)

test('an approver approves an agent request; a viewer sees the decision live and cannot vote', async () => {
  const approver = await newPage(dash.browser)
  const viewer = await newPage(dash.browser)
  dash.pages.push(approver, viewer)
  await openWorkspace(approver, dash.server, WS, await mintToken('ann', 'approver', WS, { name: 'Ann Approver' }))
  await openWorkspace(viewer, dash.server, WS, await mintToken('vic', 'viewer', WS, { name: 'Vic Viewer' }))
  // the token in the fragment is kept for the tab and removed from the address bar
  assert.not.match(approver.page.url(), /token=/)
  assert.ok(await approver.page.evaluate(() => sessionStorage.getItem('huddle.token')), 'the token is kept in sessionStorage')
  await showPanel(viewer.page, 'approvals')

  // an agent (a stock y-websocket client) requests an approval
  const session = newSession()
  const agent = await connectPeer(dash.server, WS, { token: await mintToken('ci-bot', 'editor', WS, { kind: 'agent', name: 'CI bot' }), session })
  // `viewing` is the agent's own string: one that names an Object.prototype member shows as itself
  agent.provider.awareness.setLocalState({ status: 'active', activity: 'deploying', viewing: 'constructor' })
  const key = `${session}:deploy-42`
  agent.doc.transact(() => {
    const approval = new Y.Map<unknown>()
    agent.doc.getMap('approvals').set(key, approval)
    approval.set('request', {
      title: 'Deploy v2.3 to production',
      action: 'deploy',
      requester: 'ci-bot',
      details: { service: 'api', version: '2.3.0', changes: 14 },
      expiresAt: Date.now() + 10 * 60_000,
    })
  })

  // the approver, looking at Presence, is told: title bar count and a toast with a way there
  await approver.page.waitForFunction(() => document.title.startsWith('(1) '), null, { timeout: 8000 })
  await approver.page.waitForSelector('.toast:has-text("Deploy v2.3 to production")')
  await approver.page.waitForSelector('.person[data-actor="ci-bot"][data-kind="agent"]')
  const agentRow = await textOf(approver.page, '.person[data-actor="ci-bot"]')
  assert.match(agentRow, /deploying/)
  assert.match(agentRow, /on constructor/)
  assert.not.match(agentRow, /function|native code/)
  await screenshot(approver.page, 'presence')
  await approver.page.click('.toast button:has-text("View")')
  await approver.page.waitForSelector('#panel-approvals:not([hidden])')
  const card = `.approval-pending[data-key="${key}"]`
  await approver.page.waitForSelector(`${card} button[data-vote="approve"]`)
  const cardText = await textOf(approver.page, card)
  assert.match(cardText, /Deploy v2\.3 to production/)
  assert.match(cardText, /deploy/)
  assert.match(cardText, /CI bot/)
  assert.match(cardText, /expires in 9 min/)
  assert.match(cardText, /0 so far, 1 more needed/)

  // the viewer sees the same request but no vote buttons, and why
  await viewer.page.waitForSelector(card)
  assert.ok(await viewer.page.isHidden(`${card} .vote-form`), 'a viewer must not get vote buttons')
  assert.match(await textOf(viewer.page, `${card} .vote-note`), /You cannot vote: Your role is viewer/)
  await screenshot(approver.page, 'approvals-pending')

  // approve with a reason
  await approver.page.fill(`${card} textarea`, 'Checked the changelog; ship it')
  await approver.page.click(`${card} button[data-vote="approve"]`)

  // the viewer sees the decision live (no reload), with who decided
  const decided = `.approval-decided[data-key="${key}"][data-state="approved"]`
  await viewer.page.waitForSelector(decided)
  assert.match(await textOf(viewer.page, decided), /Approved by Ann Approver/)
  assert.match(await textOf(viewer.page, decided), /Checked the changelog; ship it/)
  assert.equal(await viewer.page.$$(`${decided} button`), [])
  await approver.page.waitForFunction(() => !document.title.startsWith('('))
  await screenshot(viewer.page, 'approvals-decided')

  // and the agent got the server's decision
  const status = await waitFor(
    () => {
      const value = (agent.doc.getMap('approvals').get(key) as Y.Map<unknown> | undefined)?.get('status') as ApprovalStatus | undefined
      return value?.state === 'approved' ? value : null
    },
    5000,
    'the agent never saw the approval decided',
  )
  assert.equal(status.by, ['ann'])

  // the activity feed shows the request, vote and decision; filters work
  await showPanel(viewer.page, 'activity')
  await viewer.page.waitForSelector('.event[data-type="decision"]')
  await viewer.page.selectOption('#panel-activity select[aria-label="Filter by kind"]', 'approvals')
  const types = await viewer.page.$$eval('#panel-activity .event', (rows) => rows.map((row) => (row as HTMLElement).dataset.type))
  assert.equal(types, ['decision', 'vote', 'request'])
  await viewer.page.selectOption('#panel-activity select[aria-label="Filter by kind"]', '')
  await viewer.page.selectOption('#panel-activity select[aria-label="Filter by actor"]', 'ci-bot')
  const actors = await viewer.page.$$eval('#panel-activity .event .actor', (rows) => [...new Set(rows.map((row) => (row as HTMLElement).title.split(' ')[0]))])
  assert.equal(actors, ['ci-bot'])
  await viewer.page.selectOption('#panel-activity select[aria-label="Filter by actor"]', '')
  await screenshot(viewer.page, 'activity')

  // a request limited to other approvers explains why Ann cannot vote; a rejection needs one voter
  const restricted = `${session}:restricted`
  const risky = `${session}:risky`
  agent.doc.transact(() => {
    for (const [key, request] of [
      [restricted, { title: 'Rotate the signing key', action: 'rotate-key', requester: 'ci-bot', approvers: ['lead', 'admin'] }],
      [risky, { title: 'Drop the old table', action: 'migrate', requester: 'ci-bot', details: 'DROP TABLE legacy_users' }],
    ] as const) {
      const approval = new Y.Map<unknown>()
      agent.doc.getMap('approvals').set(key, approval)
      approval.set('request', request)
    }
  })
  await approver.page.waitForSelector(`.approval-pending[data-key="${risky}"] button[data-vote="reject"]`)
  assert.match(
    await textOf(approver.page, `.approval-pending[data-key="${restricted}"] .vote-note`),
    /You cannot vote: Only lead or any admin may vote on this/,
  )
  assert.ok(await approver.page.isHidden(`.approval-pending[data-key="${restricted}"] .vote-form`))
  await approver.page.fill(`.approval-pending[data-key="${risky}"] textarea`, 'Not before the backup is verified')
  await approver.page.click(`.approval-pending[data-key="${risky}"] button[data-vote="reject"]`)
  const rejected = `.approval-decided[data-key="${risky}"][data-state="rejected"]`
  await showPanel(viewer.page, 'approvals')
  await viewer.page.waitForSelector(rejected)
  assert.match(await textOf(viewer.page, `${rejected} .decision`), /Rejected by Ann Approver: Not before the backup is verified/)
  // the title counts what waits for Ann: she cannot vote on the restricted request
  await approver.page.waitForFunction(() => !document.title.startsWith('('))
  await screenshot(approver.page, 'approvals-mixed')
  agent.destroy()
})

test('no console errors on any page', () => {
  for (const [index, page] of dash.pages.entries()) assertNoConsoleErrors(page, `page ${index + 1}`)
})

test.run()
