// `huddle mcp` driven by the MCP SDK's own client over stdio, as an agent host would run it:
// the tools are listed and called; locks taken through MCP belong to its session and are released
// as soon as the MCP session ends (well before the 15 s lease grace period).
import type { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { connect, type Huddle } from '../client-lib/node.js'
import { mintToken, waitFor } from './helpers/clients.js'
import { callTool, startMcp } from './helpers/mcp.js'
import type { TestServer } from './helpers/server.js'
import { withServer } from './helpers/suite.js'

const WS = 'mcp'
let server: TestServer
let mcp: Client
let human: Huddle
const TOOLS = [
  'acquire_lock',
  'await_approval',
  'cancel_approval',
  'changeset_status',
  'document_blame',
  'document_diff',
  'document_history',
  'edit_document',
  'list_approvals',
  'list_documents',
  'list_locks',
  'list_online',
  'propose_changes',
  'read_document',
  'release_lock',
  'request_approval',
  'revert_document',
  'set_presence',
  'watch_document',
  'write_document',
]

withServer(test, async (started) => {
  server = started
  human = await connect({ url: server.httpUrl, workspace: WS, token: await mintToken('bob', 'approver', WS) })
  mcp = await startAgent()
  return async () => {
    await mcp.close()
    await human.close()
  }
})

async function startAgent(token?: string): Promise<Client> {
  return startMcp(server, WS, token ?? (await mintToken('claude', 'editor', WS, { kind: 'agent' })))
}

const call = (name: string, args: Record<string, unknown> = {}, client = mcp) => callTool(client, name, args)

test('lists its tools with descriptions and input schemas', async () => {
  const { tools } = await mcp.listTools()
  assert.equal(tools.map((t) => t.name).sort(), TOOLS)
  const acquire = tools.find((t) => t.name === 'acquire_lock')!
  assert.match(acquire.description!, /fencing token/)
  assert.equal(acquire.inputSchema.required, ['resources'])
})

test('acquire_lock, list_locks and release_lock; a busy lock times out with who holds it', async () => {
  const got = await call('acquire_lock', { resources: ['db'], note: 'migrating', wait: '5s' })
  assert.ok(got.ok, got.text)
  assert.type(got.json.token, 'number')
  const listed = await call('list_locks')
  assert.equal(
    (listed.json.mine as Array<{ lock_id: string }>).map((l) => l.lock_id),
    [got.json.lock_id],
  )
  await waitFor(() => human.locks.list().some((l) => l.resource === 'db' && l.holders[0]?.actor === 'claude'), 3000, 'the human sees the agent hold db')

  const theirs = await human.locks.acquire('cache')
  const busy = await call('acquire_lock', { resources: ['cache'], wait: '200ms' })
  assert.not.ok(busy.ok)
  assert.match(busy.text, /^timeout: timed out waiting for cache \(cache held by bob\)/)
  await theirs.release()

  const released = await call('release_lock', { lock_id: got.json.lock_id })
  assert.ok(released.ok, released.text)
  assert.is((await call('release_lock', { lock_id: got.json.lock_id })).ok, false, 'nothing left to release')
  const bad = await call('acquire_lock', { resources: ['has space'] })
  assert.match(bad.text, /^invalid-argument: bad lock resource "has space"/)
})

test('request_approval then await_approval: decided by a human through the library', async () => {
  const requested = await call('request_approval', { title: 'Deploy v3', action: 'deploy', details: { env: 'prod' } })
  assert.ok(requested.ok, requested.text)
  assert.is(requested.json.state, 'pending')
  const id = requested.json.id as string
  const pending = await call('list_approvals', { state: 'pending' })
  assert.ok((pending.json.approvals as Array<{ id: string }>).some((a) => a.id === id))
  const waiting = call('await_approval', { id, timeout: '10s' })
  await human.approvals.vote(id, 'approve', 'go')
  const decided = await waiting
  assert.is(decided.json.state, 'approved')
  assert.is(decided.json.summary, 'approved by bob')
  const early = await call('await_approval', { id: (await call('request_approval', { title: 'Later', action: 'x' })).json.id, timeout: '100ms' })
  assert.is(early.json.state, 'pending', 'a timeout returns the current state')
  const cancelled = await call('cancel_approval', { id: early.json.id, reason: 'not needed' })
  assert.is(cancelled.json.state, 'cancelled')
})

test('set_presence and list_online', async () => {
  const set = await call('set_presence', { activity: 'reviewing', viewing: 'PR 42' })
  assert.ok(set.ok, set.text)
  await waitFor(() => human.presence.list().find((m) => m.actor === 'claude')?.activity === 'reviewing', 3000, 'the human sees the agent reviewing')
  const online = await call('list_online')
  const members = online.json.online as Array<{ actor: string; kind: string }>
  assert.equal(
    members.map((m) => [m.actor, m.kind]),
    [
      ['bob', 'human'],
      ['claude', 'agent'],
    ],
  )
})

test('locks taken through MCP are released when the MCP session ends', async () => {
  const agent = await startAgent()
  const got = await call('acquire_lock', { resources: ['deploy'] }, agent)
  assert.ok(got.ok, got.text)
  const waiting = human.locks.acquire('deploy', { waitMs: 10_000 })
  await waitFor(() => human.locks.list().find((l) => l.resource === 'deploy')?.queue.length === 1, 3000, 'the human waits')
  const closedAt = Date.now()
  await agent.close()
  const lock = await waiting
  assert.ok(Date.now() - closedAt < 5000, 'released at the end of the session, not after the grace period')
  assert.ok(lock.token > (got.json.token as number))
  await lock.release()
})

test("a bad token reaches the agent as each tool's error, with what to do", async () => {
  const broken = await startAgent('not-a-token')
  try {
    assert.is((await broken.listTools()).tools.length, TOOLS.length)
    const result = await call('list_locks', {}, broken)
    assert.not.ok(result.ok)
    assert.match(result.text, /^unauthorized: the token is not a JWT \(three parts separated by dots\): mint one with `huddle token/)
  } finally {
    await broken.close()
  }
})

test.run()
