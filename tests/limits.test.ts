// Bad input closes only the connection that sent it, with the documented code and a reason
// (docs/design.md §2, §7): bad room names, oversized messages, floods, and broken frames of every kind.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import * as Y from 'yjs'
import {
  type CloseInfo,
  connectPeer,
  expectRefusal,
  mintToken,
  type Peer,
  queryAwarenessFrame,
  rawConnect,
  syncStep1Frame,
  syncStep2Frame,
  textUpdate,
  updateFrame,
  waitFor,
} from './helpers/clients.js'
import { LogThrottle } from '../server/net/rate-limit.js'
import type { TestServer } from './helpers/server.js'
import { withServer } from './helpers/suite.js'

const MAX_MESSAGE = 8192
const RATE = 20
const BURST = 40

let server: TestServer
let token: string
let bystanders: Peer[] = []

withServer(test, (started) => (server = started), { args: ['--max-message', String(MAX_MESSAGE), '--rate', String(RATE), '--burst', String(BURST)] })
test.before(async () => {
  token = await mintToken('tester', 'editor', '*')
  // Two well-behaved clients on the document under attack; they must never notice anything.
  bystanders = [
    await connectPeer(server, 'lim/doc', { token: await mintToken('by1', 'editor', 'lim') }),
    await connectPeer(server, 'lim/doc', { token: await mintToken('by2', 'editor', 'lim') }),
  ]
  bystanders[0]!.doc.getText('text').insert(0, 'calm')
  await waitFor(() => bystanders[1]!.doc.getText('text').toString() === 'calm', 5000, 'bystanders never synced')
})

async function sendAndExpectClose(frames: Array<Uint8Array | string>, room = 'lim/doc'): Promise<CloseInfo> {
  const raw = await rawConnect(server, room, { token })
  for (const frame of frames) raw.send(frame)
  return raw.waitClose(5000, `a refusal after sending ${frames.length} frame(s)`)
}

function assertClose(close: CloseInfo, code: number, what: string): void {
  assert.is(close.code, code, `${what}: expected ${code}, got ${close.code} (${close.reason})`)
  assert.ok(close.reason.length > 0, `${what}: the close carries a reason`)
}

test('bad room names → 4400 with a reason', async () => {
  const names = [
    '', // no room at all
    'UPPER', // workspaces are lower case
    '-starts-with-dash',
    'lim/a b'.replace(' ', '%20'),
    'lim//double',
    'lim/trailing/',
    'lim/a/%2E%2E%2Fescape', // decodes to lim/a/../escape
    'lim/%2E%2E%2F', // decodes to lim/../
    'lim/%zz', // broken percent-encoding
    `lim/${'x'.repeat(260)}`, // longer than 256 characters
    `${'w'.repeat(65)}`, // workspace longer than 64
    'lim/new%0Aline',
  ]
  for (const name of names) {
    const close = await expectRefusal(server, name, { token })
    assertClose(close, 4400, `room ${JSON.stringify(name)}`)
  }
  // The control: a deep valid path is fine.
  const ok = await rawConnect(server, 'lim/a/b-c/d_e.f', { token })
  await ok.roundTrip()
  ok.close()
})

test('a message over --max-message → 4413; one just under it is fine', async () => {
  const big = new Uint8Array(MAX_MESSAGE + 1)
  big[0] = 0
  assertClose(await sendAndExpectClose([big]), 4413, 'raw oversize frame')
  // A well-formed update that is too large.
  assertClose(await sendAndExpectClose([updateFrame(textUpdate('x'.repeat(MAX_MESSAGE)))]), 4413, 'oversize update')
  const fits = await rawConnect(server, 'lim/big', { token })
  fits.send(updateFrame(textUpdate('y'.repeat(MAX_MESSAGE - 200))))
  await fits.roundTrip()
  assert.ok(fits.isOpen)
  fits.close()
})

test('more than --burst messages at once → 4429', async () => {
  const frames = Array.from({ length: BURST * 3 }, () => queryAwarenessFrame())
  const close = await sendAndExpectClose(frames, 'lim/flood')
  assertClose(close, 4429, 'flood')
  assert.match(close.reason, /rate/)
  // A client that stays under the rate is never refused (the control).
  const polite = await rawConnect(server, 'lim/flood', { token })
  for (let i = 0; i < BURST / 2; i++) polite.send(queryAwarenessFrame())
  await polite.roundTrip()
  assert.ok(polite.isOpen)
  polite.close()
})

test('a text frame → 4400', async () => {
  assertClose(await sendAndExpectClose(['hello']), 4400, 'text frame')
})

test('unknown message types → 4400', async () => {
  assertClose(await sendAndExpectClose([new Uint8Array([7])]), 4400, 'type 7')
  assertClose(await sendAndExpectClose([new Uint8Array([2, 0])]), 4400, 'type 2 (auth) from a client')
  assertClose(await sendAndExpectClose([new Uint8Array([0, 9, 0])]), 4400, 'sync sub-type 9')
  assertClose(await sendAndExpectClose([new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff])]), 4400, 'a varint that never ends')
})

test('truncated and empty frames, trailing bytes → 4400', async () => {
  assertClose(await sendAndExpectClose([new Uint8Array([])]), 4400, 'empty frame')
  assertClose(await sendAndExpectClose([new Uint8Array([0])]), 4400, 'sync without sub-type')
  assertClose(await sendAndExpectClose([new Uint8Array([0, 2, 10, 1, 2])]), 4400, 'payload shorter than its length')
  assertClose(await sendAndExpectClose([new Uint8Array([1])]), 4400, 'awareness without payload')
  const valid = updateFrame(textUpdate('abc'))
  assertClose(await sendAndExpectClose([valid.subarray(0, valid.length - 3)]), 4400, 'truncated update')
  assertClose(await sendAndExpectClose([new Uint8Array([...queryAwarenessFrame(), 0, 0])]), 4400, 'trailing bytes')
})

test('malformed Yjs updates and state vectors → 4400', async () => {
  const garbage = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff])
  assertClose(await sendAndExpectClose([updateFrame(garbage)]), 4400, 'garbage update')
  assertClose(await sendAndExpectClose([syncStep2Frame(new Uint8Array([1, 1, 1, 1, 1]))]), 4400, 'garbage sync step 2')
  assertClose(await sendAndExpectClose([updateFrame(new Uint8Array([]))]), 4400, 'empty update')
  assertClose(await sendAndExpectClose([syncStep1Frame(garbage)]), 4400, 'garbage state vector')
  const close = await sendAndExpectClose([updateFrame(textUpdate('abcdef').subarray(0, 8))])
  assertClose(close, 4400, 'truncated update payload')
  assert.match(close.reason, /malformed|truncated/)
})

/** A valid state vector no client has: one random client id at a random clock. */
function randomStateVector(): Uint8Array {
  return Y.encodeStateVector(new Map([[1 + Math.floor(Math.random() * 2 ** 30), 1 + Math.floor(Math.random() * 1000)]]))
}

test('sync step 1 with new state vectors: 20 are answered, more at once → 4429 (the reply cache cannot be bypassed for free)', async () => {
  const fine = await rawConnect(server, 'lim/doc', { token })
  // the round trip's own sync step 1 may be the 20th uncached one
  for (let i = 0; i < 19; i++) fine.send(syncStep1Frame(randomStateVector()))
  await fine.roundTrip()
  assert.ok(fine.isOpen, 'twenty uncached requests are within the budget')
  const close = await sendAndExpectClose(Array.from({ length: 25 }, () => syncStep1Frame(randomStateVector())))
  assertClose(close, 4429, 'random state vectors')
  assert.match(close.reason, /new state vectors/)
})

test('other clients on the same document are unaffected by all of the above', async () => {
  const [a, b] = bystanders as [Peer, Peer]
  a.doc.getText('text').insert(4, ' and carrying on')
  b.doc.getMap('map').set('still', 'here')
  await waitFor(
    () => b.doc.getText('text').toString() === 'calm and carrying on' && a.doc.getMap('map').get('still') === 'here',
    5000,
    'the bystanders stopped syncing',
  )
  assert.equal(a.closes, [])
  assert.equal(b.closes, [])
  const health = await server.fetchJson<{ status: string; connections: number }>('/healthz')
  assert.is(health.status, 'ok')
  const metrics = (await server.fetchText('/metrics')).body
  for (const code of ['4400', '4413', '4429']) assert.match(metrics, new RegExp(`huddle_refusals_total\\{code="${code}"\\} [1-9]`))
})

test('an update that decodes but cannot be applied (dangling references) → 4400, and the server stays up', async () => {
  // A one-character insert whose "origin" points at a client the document has never seen: it passes
  // Y.decodeUpdate, but Y.applyUpdate throws a TypeError while integrating it.
  const broken = new Uint8Array([1, 1, 1, 0, 4, 23, 1, 116, 2, 104, 105, 0])
  assert.not.throws(() => Y.decodeUpdate(broken))
  assert.throws(() => Y.applyUpdate(new Y.Doc(), broken))
  // Once while the connection is still being admitted (the frame is queued), once on an open one.
  for (const queued of [true, false]) {
    const raw = await rawConnect(server, 'lim/dangling', { token })
    if (!queued) await raw.roundTrip()
    raw.send(updateFrame(broken))
    const close = await raw.waitClose(5000, 'a refusal of the unapplicable update').catch((error: Error) => {
      throw new Error(`${error.message}; server running: ${server.running}; stderr:\n${server.stderr.slice(-1500)}`)
    })
    assert.ok(server.running, `the server crashed:\n${server.stderr.slice(-1500)}`)
    assertClose(close, 4400, `dangling update (${queued ? 'queued during admission' : 'on an open connection'})`)
    const health = await server.fetchJson<{ status: string }>('/healthz')
    assert.is(health.status, 'ok')
  }
  // The document still works for everyone else.
  const peer = await connectPeer(server, 'lim/dangling', { token })
  peer.doc.getText('text').insert(0, 'fine')
  const other = await connectPeer(server, 'lim/dangling', { token })
  await waitFor(() => other.doc.getText('text').toString() === 'fine', 5000, 'the document stopped syncing')
})

test('refusals before authentication are logged at most 20 lines per 10 s; the rest are counted in one summary line', () => {
  // the throttle server.ts puts on them (README, SECURITY.md)
  const throttle = new LogThrottle(20, 10_000)
  const summaries: number[] = []
  const summarise = (count: number) => summaries.push(count)
  let logged = 0
  // a flood of 1,000 refusals a second for a minute
  for (let now = 0; now < 60_000; now++) {
    if (throttle.allow(summarise, now)) logged++
    if (now % 10_000 === 9_999) {
      assert.ok(logged <= (20 * (now + 1)) / 10_000, `${logged} lines by ${now + 1} ms`)
      assert.is(summaries.length, now < 10_000 ? 0 : (now + 1) / 10_000 - 1, 'one summary line per window')
    }
  }
  throttle.allow(summarise, 60_000)
  assert.is(logged + summaries.reduce((sum, count) => sum + count, 0), 60_000, 'every refusal is either logged or counted')
})

test.run()
