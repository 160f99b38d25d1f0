// Dashboard, in a real browser: an agent proposes a change set of two documents with an approval;
// the approver sees both diffs inside the approval card, approves there, and the change lands in
// both documents.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { connect } from '../client-lib/node.js'
import { assertNoConsoleErrors, newPage, openWorkspace, screenshot, showPanel, textOf } from './helpers/browser.js'
import { mintToken } from './helpers/clients.js'
import { withDashboard } from './helpers/suite.js'

const WS = 'demo'

const dash = withDashboard(test)

test('the approval card of a change set shows its diff; approving there applies both documents', async () => {
  const agent = await connect({ url: dash.server.httpUrl, workspace: WS, token: await mintToken('claude', 'editor', WS, { kind: 'agent', name: 'Claude' }) })
  try {
    await agent.docs.write('guide/intro.md', '# Intro\nOld wording.\n')
    await agent.docs.write('guide/setup.md', '# Setup\nnpm i\n')
    const approver = await newPage(dash.browser)
    dash.pages.push(approver)
    await openWorkspace(approver, dash.server, WS, await mintToken('ann', 'approver', WS, { name: 'Ann Approver' }))
    await showPanel(approver.page, 'approvals')
    const { id } = await agent.changesets.propose({
      title: 'Reword the guide',
      docs: { 'guide/intro.md': '# Intro\nNew wording.\n', 'guide/setup.md': '# Setup\nnpm install\n' },
      approval: true,
    })
    const key = (await agent.changesets.get(id)).approval!.key
    const card = `.approval-pending[data-key="${key}"]`
    await approver.page.waitForSelector(`${card} .changeset-diff[data-changeset="${id}"]`)
    const paths = await approver.page.$$eval(`${card} .changeset-doc`, (sections) => sections.map((section) => (section as HTMLElement).dataset.path))
    assert.equal(paths, ['guide/intro.md', 'guide/setup.md'])
    assert.is(await textOf(approver.page, `${card} .changeset-doc[data-path="guide/setup.md"] del`), '-npm i')
    assert.is(await textOf(approver.page, `${card} .changeset-doc[data-path="guide/setup.md"] ins`), '+npm install')
    assert.match(await textOf(approver.page, card), /Change set: Reword the guide/)
    await screenshot(approver.page, 'changeset-approval')
    await approver.page.click(`${card} button[data-vote="approve"]`)
    const final = await agent.changesets.wait(id, { timeoutMs: 10_000, intervalMs: 100 })
    assert.is(final.status, 'applied')
    assert.is(await agent.docs.read('guide/setup.md'), '# Setup\nnpm install\n')
    assert.is(await agent.docs.read('guide/intro.md'), '# Intro\nNew wording.\n')
    await approver.page.waitForSelector(`.approval-decided[data-key="${key}"] .changeset-diff`)
    assertNoConsoleErrors(approver, 'the approver page')
  } finally {
    await agent.close()
  }
})

test.run()
