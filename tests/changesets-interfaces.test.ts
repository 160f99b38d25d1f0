// Change sets through the CLI (`huddle propose`, `huddle changesets`) and the MCP tools
// (`propose_changes`, `changeset_status`), and the worked example of docs/agents.md: an agent locks
// two documents, proposes their new text with an approval (CLI), a human approves (client
// library), the change lands in both documents for their stock clients, and the agent's MCP
// server reports it applied.
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import type { Huddle } from '../client-lib/node.js'
import { cliEnv } from './fixtures/client-cli.js'
import { connectPeer, mintToken, waitFor } from './helpers/clients.js'
import { callTool, startMcp } from './helpers/mcp.js'
import { ChildScript, runCli, type TestServer } from './helpers/server.js'
import { libraryClients, withServer } from './helpers/suite.js'

const WS = 'cs-interfaces'
let server: TestServer
let agentEnv: Record<string, string>
let mcp: Client
let agent: Huddle
let human: Huddle
const dir = mkdtempSync(join(tmpdir(), 'huddle-cs-'))
const connectAs = libraryClients(test, WS, () => server)
withServer(test, (started) => (server = started))

test.before(async () => {
  agentEnv = await cliEnv(server, WS, 'claude', 'editor', 'agent')
  mcp = await startMcp(server, WS, await mintToken('claude', 'editor', WS, { kind: 'agent' }))
  agent = await connectAs('claude', 'editor', { kind: 'agent' })
  human = await connectAs('hana', 'approver')
})

test.after(async () => {
  await mcp.close()
})

function file(name: string, text: string): string {
  const path = join(dir, name)
  writeFileSync(path, text)
  return path
}

test('huddle propose without an approval, then huddle changesets ID --apply and the list', async () => {
  await agent.docs.write('cli/a.md', 'a1\n')
  const proposed = await runCli(['propose', 'CLI change', `cli/a.md=${file('a.md', 'a2\n')}`, `cli/new.md=${file('new.md', 'fresh\n')}`, '--json'], {
    env: agentEnv,
  })
  assert.is(proposed.code, 0, proposed.stderr)
  const { id, status } = JSON.parse(proposed.stdout) as { id: string; status: string }
  assert.is(status, 'pending')
  const shown = await runCli(['changesets', id], { env: agentEnv })
  assert.is(shown.code, 0, shown.stderr)
  assert.match(shown.stdout, new RegExp(`change set ${id} "CLI change": pending`))
  assert.match(shown.stdout, /-a1\n\+a2/)
  const applied = await runCli(['changesets', id, '--apply'], { env: agentEnv })
  assert.is(applied.code, 0, applied.stderr)
  assert.match(applied.stdout, /: applied/)
  assert.is(await agent.docs.read('cli/a.md'), 'a2\n')
  assert.is(await agent.docs.read('cli/new.md'), 'fresh\n')
  const list = await runCli(['changesets'], { env: agentEnv })
  assert.match(list.stdout, new RegExp(`${id}\\s+applied\\s+claude\\s+cli/a.md cli/new.md\\s+CLI change`))
  const bad = await runCli(['propose', 'Bad', 'no-equals-sign'], { env: agentEnv })
  assert.is(bad.code, 1)
  assert.match(bad.stderr, /is not PATH=FILE/)
})

test('propose_changes and changeset_status over MCP', async () => {
  await agent.docs.write('mcp/x.md', 'x1\n')
  const direct = await callTool(mcp, 'propose_changes', { title: 'MCP direct', docs: { 'mcp/x.md': 'x2\n' } })
  assert.ok(direct.ok, direct.text)
  assert.is(direct.json.status, 'applied', 'without an approval it is applied at once')
  assert.is(await agent.docs.read('mcp/x.md'), 'x2\n')
  const gated = await callTool(mcp, 'propose_changes', { title: 'MCP gated', docs: { 'mcp/x.md': 'x3\n' }, approval: true })
  assert.ok(gated.ok, gated.text)
  assert.is(gated.json.status, 'pending')
  assert.match(String(gated.json.next), /waiting for a human to approve/)
  const id = gated.json.id as string
  const key = (gated.json.approval as { key: string }).key
  await waitFor(() => human.approvals.list().some((approval) => approval.key === key), 5000, 'the human never saw the request')
  await human.approvals.vote(key, 'reject', 'not like this')
  const status = await callTool(mcp, 'changeset_status', { id, wait_ms: 10_000 })
  assert.is(status.json.status, 'rejected')
  assert.is(await agent.docs.read('mcp/x.md'), 'x2\n')
  const missing = await callTool(mcp, 'changeset_status', { id: 'cs-nope' })
  assert.not.ok(missing.ok)
  assert.match(missing.text, /no change set "cs-nope".*lists them/)
})

test('the worked example: locks (library), propose --approval --wait (CLI), approval (library), status (MCP)', async () => {
  await agent.docs.write('guide/intro.md', '# Intro\nOld wording.\n')
  await agent.docs.write('guide/setup.md', '# Setup\nnpm i\n')
  const intro = await connectPeer(server, `${WS}/guide/intro.md`, { token: await mintToken('reader', 'viewer', WS) })
  const setup = await connectPeer(server, `${WS}/guide/setup.md`, { token: await mintToken('reader', 'viewer', WS) })
  // 1. The agent guards both documents: nobody else edits them while the change is reviewed.
  const lock = await agent.locks.acquire(['doc:guide/intro.md', 'doc:guide/setup.md'])
  // 2. It proposes the new text of both with an approval, and waits.
  const proposing = ChildScript.huddle(
    [
      'propose',
      'Reword the guide',
      `guide/intro.md=${file('intro.md', '# Intro\nNew wording.\n')}`,
      `guide/setup.md=${file('setup.md', '# Setup\nnpm install\n')}`,
      '--approval',
      '--wait',
    ],
    agentEnv,
  )
  // 3. A human sees the request with the diff and approves.
  const request = await waitFor(
    () => human.approvals.list().find((approval) => approval.request.title === 'Change set: Reword the guide' && approval.status.state === 'pending'),
    10_000,
    'the human never saw the request',
  )
  const details = request.request.details as { changeset: string; documents: Array<{ path: string; patch: string }> }
  assert.equal(
    details.documents.map((doc) => doc.path),
    ['guide/intro.md', 'guide/setup.md'],
  )
  assert.match(details.documents[1]!.patch, /-npm i\n\+npm install/)
  assert.is(await agent.docs.read('guide/intro.md'), '# Intro\nOld wording.\n', 'nothing lands before the approval')
  await human.approvals.vote(request.key, 'approve')
  // 4. The change lands in both documents; the CLI exits 0 with the status.
  const { code } = await proposing.exit(20_000)
  assert.is(code, 0, proposing.stderr)
  assert.match(proposing.stdout, /change set cs-\S+ "Reword the guide": applied/)
  await waitFor(() => intro.doc.getText('body').toString() === '# Intro\nNew wording.\n', 5000, 'intro.md never changed for its reader')
  await waitFor(() => setup.doc.getText('body').toString() === '# Setup\nnpm install\n', 5000, 'setup.md never changed for its reader')
  // 5. The agent's MCP server sees it applied.
  const status = await callTool(mcp, 'changeset_status', { id: details.changeset })
  assert.is(status.json.status, 'applied')
  assert.match(String(status.json.next), /the documents hold the change/)
  await lock.release()
  intro.destroy()
  setup.destroy()
})

test.run()
