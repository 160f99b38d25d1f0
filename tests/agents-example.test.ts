// The worked example of docs/agents.md, as it is documented: an agent (over MCP) locks two
// documents, asks for approval of its edit, a human (client library) approves, the agent edits
// both under the locks while a colleague's edit is held back by the guard, and the CLI reads the
// result, with the colleague's kept edit applied after the release.
import type { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { connect, type Huddle } from '../client-lib/node.js'
import { mintToken, waitFor } from './helpers/clients.js'
import { callTool, startMcp } from './helpers/mcp.js'
import { runCli, type TestServer } from './helpers/server.js'
import { withServer } from './helpers/suite.js'
import { cliEnv } from './fixtures/client-cli.js'

const WS = 'example'
let server: TestServer
let mcp: Client
const humans: Huddle[] = []

withServer(test, (started) => (server = started))

test.before(async () => {
  mcp = await startMcp(server, WS, await mintToken('claude', 'editor', WS, { kind: 'agent' }))
})

test.after(async () => {
  await mcp.close()
  await Promise.all(humans.map((human) => human.close()))
})

async function call(name: string, args: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
  const { ok, text } = await callTool(mcp, name, args)
  if (!ok) throw new Error(`${name}: ${text}`)
  return JSON.parse(text)
}

test('lock two documents, get approval, edit both under the locks, release', async () => {
  const ann = await connect({ url: server.httpUrl, workspace: WS, token: await mintToken('ann', 'approver', WS, { name: 'Ann' }) })
  const bob = await connect({ url: server.httpUrl, workspace: WS, token: await mintToken('bob', 'editor', WS, { name: 'Bob' }) })
  humans.push(ann, bob)
  await bob.docs.write('api.md', '# API\n\nGET /v1/items\n')
  await bob.docs.write('CHANGELOG.md', '# Changelog\n')

  // 1. The agent locks both documents (all or none).
  const lock = await call('acquire_lock', { resources: ['doc:api.md', 'doc:CHANGELOG.md'], note: 'renaming v1 to v2', wait: '10s' })
  // 2. Bob keeps typing in api.md: the guard refuses it, his library keeps it.
  await waitFor(() => bob.locks.list().some((info) => info.resource === 'doc:api.md' && info.holders.length > 0), 5000, 'bob never sees the lock')
  const bobs = await bob.docs.open('api.md')
  bobs.insert(bobs.text.length, '\nBob: please keep v1 working until June.\n')
  await waitFor(() => bobs.conflict, 5000, 'bob is never refused')
  assert.match(bobs.conflict!.reason, /^doc:api.md is locked by claude/)
  // 3. The agent asks for approval, showing what it will change.
  const edits = [{ old_string: 'GET /v1/items', new_string: 'GET /v2/items' }]
  const asked = await call('request_approval', {
    title: 'Rename the items API to v2',
    action: 'edit-documents',
    details: { 'api.md': edits, 'CHANGELOG.md': '+ v2 of the items API' },
  })
  // 4. Ann approves through the client library.
  await waitFor(() => ann.approvals.list().some((info) => info.key === asked.key), 5000, 'ann never sees the request')
  await ann.approvals.vote(asked.id as string, 'approve', 'looks right')
  const decided = await call('await_approval', { id: asked.id, timeout: '10s' })
  assert.is(decided.state, 'approved')
  // 5. The agent edits both documents, still holding the locks, then releases them.
  await call('edit_document', { path: 'api.md', edits })
  await call('edit_document', { path: 'CHANGELOG.md', edits: [{ old_string: '# Changelog\n', new_string: '# Changelog\n\n- v2 of the items API\n' }] })
  await call('release_lock', { lock_id: lock.lock_id })
  // 6. Bob's kept edit goes in once the lock is free; the CLI reads both documents.
  await waitFor(() => bobs.conflict === null, 5000, "bob's edit is never retried")
  await bobs.saved()
  bobs.close()
  const env = await cliEnv(server, WS, 'reader', 'viewer')
  const api = await runCli(['doc', 'cat', 'api.md'], { env })
  assert.is(api.stdout, '# API\n\nGET /v2/items\n\nBob: please keep v1 working until June.\n', api.stderr)
  const changelog = await runCli(['doc', 'cat', 'CHANGELOG.md'], { env })
  assert.is(changelog.stdout, '# Changelog\n\n- v2 of the items API\n', changelog.stderr)
})

test.run()
