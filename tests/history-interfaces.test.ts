// Document history through every client interface against a real server: the client library
// (huddle.docs), the CLI (huddle history/diff/blame/revert) and the MCP tools an agent uses
// (document_history, document_diff, document_blame, revert_document). Each revert must reach the
// connected stock y-websocket client.
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { connect, type Huddle, HuddleError } from '../client-lib/node.js'
import { connectPeer, mintToken, type Peer, waitFor } from './helpers/clients.js'
import { startMcp } from './helpers/mcp.js'
import { runCli, type TestServer } from './helpers/server.js'
import { withServer } from './helpers/suite.js'

const WS = 'histui'
let server: TestServer
let ann: Huddle
let annPeer: Peer
let botPeer: Peer
let annToken: string
let botToken: string

withServer(test, (started) => (server = started), { args: ['--history-quiet', '1h', '--history-max', '2h'] })

const textOf = (peer: Peer) => peer.doc.getText('body').toString()
const seen = (text: string) =>
  waitFor(
    () => textOf(annPeer) === text && textOf(botPeer) === text,
    5000,
    () => `both clients to read ${JSON.stringify(text)}; ann has ${JSON.stringify(textOf(annPeer))}`,
  )

test.before(async () => {
  annToken = await mintToken('ann', 'editor', WS, { name: 'Ann' })
  botToken = await mintToken('bot', 'editor', WS, { name: 'Bot', kind: 'agent' })
  ann = await connect({ url: server.httpUrl, workspace: WS, token: annToken })
  annPeer = await connectPeer(server, `${WS}/plan`, { token: annToken })
  botPeer = await connectPeer(server, `${WS}/plan`, { token: botToken })
  annPeer.doc.getText('body').insert(0, 'goal: ship\n')
  await seen('goal: ship\n')
  assert.is(await ann.docs.label('plan', 'first draft'), 1)
  const body = botPeer.doc.getText('body')
  body.insert(body.length, 'step: agent wrote this\n')
  await seen('goal: ship\nstep: agent wrote this\n')
  assert.is(await ann.docs.label('plan', 'agent step'), 2)
})

test.after(async () => {
  await ann.close()
})

test('client library: history, version, diff, blame, revert, last edits; bad input is a HuddleError', async () => {
  const versions = await ann.docs.history('plan')
  assert.equal(
    versions.map((v) => [v.id, v.label, v.actors.map((a) => `${a.name}/${a.kind}`)]),
    [
      [2, 'agent step', ['Bot/agent']],
      [1, 'first draft', ['Ann/human']],
    ],
  )
  assert.is((await ann.docs.version('plan', 1)).text, 'goal: ship\n')
  const diff = await ann.docs.diff('plan', { from: 1 })
  assert.is(diff.to, 'current')
  assert.match(diff.patch, /^\+step: agent wrote this$/m)
  assert.equal(
    diff.changes.map((c) => [c.op, c.actors]),
    [['added', ['bot']]],
  )
  const blame = await ann.docs.blame('plan')
  assert.equal(
    blame.map((line) => [line.text, line.actor, line.kind]),
    [
      ['goal: ship', 'ann', 'human'],
      ['step: agent wrote this', 'bot', 'agent'],
    ],
  )
  const edits = await ann.docs.lastEdits()
  assert.equal(
    edits.map((e) => [e.path, e.lastEdit?.actor, e.lastEdit?.kind]),
    [['plan', 'bot', 'agent']],
  )
  const missing = await ann.docs.version('plan', 99).catch((error: unknown) => error)
  assert.instance(missing, HuddleError)
  assert.is((missing as HuddleError).code, 'not-found')
  assert.match(String(await ann.docs.history('bad path').catch((error: Error) => error.message)), /path segment/)
  const after = await ann.docs.revert('plan', 1)
  assert.is(after, 3)
  await seen('goal: ship\n')
})

test('CLI: huddle history, diff, blame and revert', async () => {
  const env = { HUDDLE_URL: server.httpUrl, HUDDLE_WORKSPACE: WS, HUDDLE_TOKEN: annToken }
  const history = await runCli(['history', 'plan'], { env })
  assert.is(history.code, 0, history.stderr)
  assert.match(history.stdout, /^\s+3 .* revert\s+Ann$/m)
  assert.match(history.stdout, /^\s+2 .*Bot \(agent\) "agent step"$/m)
  const diff = await runCli(['diff', 'plan', '--from', '2', '--to', '3'], { env })
  assert.is(diff.code, 0, diff.stderr)
  assert.match(diff.stdout, /^-step: agent wrote this$/m)
  const back = await runCli(['revert', 'plan', '2'], { env })
  assert.is(back.code, 0, back.stderr)
  assert.match(back.stdout, /holds version 2 again \(recorded as version 4\)/)
  await seen('goal: ship\nstep: agent wrote this\n')
  const blame = await runCli(['blame', 'plan', '--json'], { env })
  assert.is(blame.code, 0, blame.stderr)
  assert.equal(
    JSON.parse(blame.stdout).lines.map((line: { actor: string }) => line.actor),
    ['ann', 'ann'],
    "the revert rewrote the agent's line as ann",
  )
  const refused = await runCli(['revert', 'plan', '77'], { env })
  assert.is(refused.code, 1)
  assert.match(refused.stderr, /no version 77.*versions near it/)
  const viewer = await runCli(['revert', 'plan', '1'], { env: { ...env, HUDDLE_TOKEN: await mintToken('vic', 'viewer', WS) } })
  assert.is(viewer.code, 1)
  assert.match(viewer.stderr, /needs role editor/)
})

test('MCP: an agent reads the history, diff and blame, and reverts', async () => {
  const mcp = await startMcp(server, WS, botToken)
  try {
    const call = async (name: string, args: Record<string, unknown>) => {
      const result = (await mcp.callTool({ name, arguments: args })) as CallToolResult
      const text = (result.content[0] as { text: string }).text
      assert.ok(!result.isError, `${name}: ${text}`)
      return JSON.parse(text) as Record<string, any>
    }
    const { versions } = await call('document_history', { path: 'plan' })
    assert.equal(
      versions.map((v: { id: number }) => v.id),
      [4, 3, 2, 1],
    )
    const { lines } = await call('document_blame', { path: 'plan' })
    assert.equal(
      lines.map((line: { text: string }) => line.text),
      ['goal: ship', 'step: agent wrote this'],
    )
    const diff = await call('document_diff', { path: 'plan', from: 1, to: 2 })
    assert.match(diff.patch, /^\+step: agent wrote this$/m)
    const reverted = await call('revert_document', { path: 'plan', version: 1 })
    assert.is(reverted.version, 5)
    await seen('goal: ship\n')
    const bad = (await mcp.callTool({ name: 'revert_document', arguments: { path: 'plan', version: 50 } })) as CallToolResult
    assert.ok(bad.isError)
    assert.match((bad.content[0] as { text: string }).text, /no version 50/)
  } finally {
    await mcp.close()
  }
})

test.run()
