// The document tools of `huddle mcp`, driven by the MCP SDK's client over stdio: list, read,
// write, search/replace edits (exactly one match, else a clear error) and watch.
import type { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { connectPeer, mintToken, waitFor } from './helpers/clients.js'
import { callTool, startMcp } from './helpers/mcp.js'
import type { TestServer } from './helpers/server.js'
import { withServer } from './helpers/suite.js'

const WS = 'mcp-docs'
let server: TestServer
let mcp: Client

withServer(test, (started) => (server = started))

test.before(async () => {
  mcp = await startMcp(server, WS, await mintToken('claude', 'editor', WS, { kind: 'agent' }))
})

test.after(async () => {
  await mcp.close()
})

const call = (name: string, args: Record<string, unknown> = {}) => callTool(mcp, name, args)

test('write_document, read_document and list_documents', async () => {
  const wrote = await call('write_document', { path: 'docs/readme.md', text: 'alpha\nbeta\ngamma\n' })
  assert.ok(wrote.ok, wrote.text)
  assert.is(wrote.json.edits, 1)
  const read = await call('read_document', { path: 'docs/readme.md' })
  assert.is(read.json.text, 'alpha\nbeta\ngamma\n')
  await waitFor(
    async () => ((await call('list_documents')).json.documents as Array<{ path: string }>).some((d) => d.path === 'docs/readme.md'),
    5000,
    'never listed',
  )
  const missing = await call('read_document', { path: 'docs/none.md' })
  assert.not.ok(missing.ok)
  assert.match(missing.text, /^not-found: no document at docs\/none.md/)
})

test('edit_document: exact search/replace, a concurrent human edit kept, ambiguous or missing text refused', async () => {
  const human = await connectPeer(server, `${WS}/docs/readme.md`, { token: await mintToken('ann', 'editor', WS) })
  const body = human.doc.getText('body')
  await waitFor(() => body.length > 0, 5000, 'the human never synced')
  body.insert(body.length, 'delta by ann\n')
  await waitFor(
    async () => ((await call('read_document', { path: 'docs/readme.md' })).json.text as string).includes('delta'),
    5000,
    "the agent never sees ann's line",
  )
  const edited = await call('edit_document', {
    path: 'docs/readme.md',
    edits: [
      { old_string: 'beta', new_string: 'BETA' },
      { old_string: 'gamma\n', new_string: '' },
    ],
  })
  assert.ok(edited.ok, edited.text)
  await waitFor(
    () => body.toString() === 'alpha\nBETA\ndelta by ann\n',
    5000,
    () => `the human has ${JSON.stringify(body.toString())}`,
  )
  await call('write_document', { path: 'docs/twice.md', text: 'x and x' })
  const ambiguous = await call('edit_document', { path: 'docs/twice.md', edits: [{ old_string: 'x', new_string: 'y' }] })
  assert.not.ok(ambiguous.ok)
  assert.match(ambiguous.text, /^invalid-argument: old_string occurs 2 times in docs\/twice.md; add surrounding text to make it unique, or set replace_all/)
  const absent = await call('edit_document', {
    path: 'docs/twice.md',
    edits: [
      { old_string: 'x and x', new_string: 'z' },
      { old_string: 'nothing', new_string: 'y' },
    ],
  })
  assert.match(absent.text, /^invalid-argument: edit 2: old_string was not found in docs\/twice.md; read_document/)
  assert.is((await call('read_document', { path: 'docs/twice.md' })).json.text, 'x and x', 'a failed edit list changes nothing')
  const all = await call('edit_document', { path: 'docs/twice.md', edits: [{ old_string: 'x', new_string: 'y', replace_all: true }] })
  assert.ok(all.ok, all.text)
  assert.is((await call('read_document', { path: 'docs/twice.md' })).json.text, 'y and y')
  human.destroy()
})

test('watch_document returns the next version, or changed: false after its timeout', async () => {
  const quiet = await call('watch_document', { path: 'docs/twice.md', timeout: '200ms' })
  assert.equal([quiet.json.changed, quiet.json.text], [false, 'y and y'])
  const stale = await call('watch_document', { path: 'docs/twice.md', since: 'x and x' })
  assert.equal([stale.json.changed, stale.json.text], [true, 'y and y'])
  const watching = call('watch_document', { path: 'docs/twice.md', since: 'y and y', timeout: '20s' })
  const human = await connectPeer(server, `${WS}/docs/twice.md`, { token: await mintToken('ann', 'editor', WS) })
  await waitFor(() => human.doc.getText('body').length > 0, 5000, 'the human never synced')
  human.doc.getText('body').insert(0, 'and ')
  const seen = await watching
  assert.equal([seen.json.changed, seen.json.text], [true, 'and y and y'])
  human.destroy()
})

test.run()
