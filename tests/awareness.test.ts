// Presence is untrusted (docs/design.md §4, §5): a connection publishes only for the client ids it owns,
// the `user` field is forced to its token's identity, and stock y-websocket clients — which echo
// every awareness change they apply back to the server — must still never be refused.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import {
  awarenessFrame,
  awarenessUpdate,
  connectPeer,
  decodeFrame,
  dropPeerSocket,
  mintToken,
  type Peer,
  rawConnect,
  type RawClient,
  waitFor,
} from './helpers/clients.js'
import type { TestServer } from './helpers/server.js'
import { colorFor } from '../shared/colors.js'
import { withServer } from './helpers/suite.js'

let server: TestServer

withServer(test, (started) => (server = started))

interface PresenceState {
  user?: { id?: string; name?: string; kind?: string; color?: string }
  status?: string
  activity?: string
}

const stateOf = (peer: Peer, clientID: number) => peer.provider.awareness.getStates().get(clientID) as PresenceState | undefined

/** Every state `peer` ever held for each client id, to prove a forged value never showed up. */
function recordStates(peer: Peer): Map<number, PresenceState[]> {
  const seen = new Map<number, PresenceState[]>()
  peer.provider.awareness.on('change', ({ added, updated }: { added: number[]; updated: number[] }) => {
    for (const id of [...added, ...updated]) {
      const list = seen.get(id) ?? []
      list.push(structuredClone(stateOf(peer, id)!))
      seen.set(id, list)
    }
  })
  return seen
}

/** The server's current presence snapshot, as a fresh raw client receives it on join. */
async function snapshot(room: string): Promise<Map<number, unknown>> {
  const probe = await rawConnect(server, room, { token: await mintToken('probe', 'viewer', 'aw') })
  await probe.roundTrip()
  const states = new Map<number, unknown>()
  for (const message of probe.messages) {
    const frame = decodeFrame(message)
    if (frame.kind === 'awareness') for (const entry of frame.entries) states.set(entry.clientID, entry.state)
  }
  probe.close()
  return states
}

test("stock clients see each other's presence and are never refused for echoing it", async () => {
  const peers: Peer[] = []
  for (const actor of ['ann', 'ben', 'cat']) {
    const peer = await connectPeer(server, 'aw/stock', { token: await mintToken(actor, 'editor', 'aw') })
    peer.provider.awareness.setLocalStateField('status', `${actor} here`)
    peers.push(peer)
  }
  const actors = ['ann', 'ben', 'cat']
  const others = (peer: Peer) => peers.map((other, i) => [other, actors[i]!] as const).filter(([other]) => other !== peer)
  await waitFor(
    () => peers.every((peer) => others(peer).every(([other, actor]) => stateOf(peer, other.doc.clientID)?.status === `${actor} here`)),
    5000,
    () => `not everyone sees everyone (closes: ${JSON.stringify(peers.map((peer) => peer.closes))})`,
  )
  for (const peer of peers) for (const [other, actor] of others(peer)) assert.is(stateOf(peer, other.doc.clientID)?.user?.id, actor)
  // A round of updates, then make sure every echo was processed: a fresh probe still sees all three.
  for (const peer of peers) peer.provider.awareness.setLocalStateField('activity', 'editing')
  await waitFor(
    () => peers.every((peer) => others(peer).every(([other]) => stateOf(peer, other.doc.clientID)?.activity === 'editing')),
    5000,
    'the activity update did not reach everyone',
  )
  const states = await snapshot('aw/stock')
  for (const peer of peers) assert.ok(states.has(peer.doc.clientID), 'a probe sees every peer')
  for (const peer of peers) assert.equal(peer.closes, [], `a stock client was closed: ${JSON.stringify(peer.closes)}`)
  for (const peer of peers) peer.destroy()
})

test('a long-lived stock client survives many peers coming and going', async () => {
  const stayer = await connectPeer(server, 'aw/churn', { token: await mintToken('stayer', 'editor', 'aw') })
  stayer.provider.awareness.setLocalStateField('status', 'staying')
  for (let i = 0; i < 12; i++) {
    const visitor = await connectPeer(server, 'aw/churn', { token: await mintToken(`visitor${i}`, 'editor', 'aw') })
    visitor.provider.awareness.setLocalStateField('status', 'visiting')
    const id = visitor.doc.clientID
    await waitFor(
      () => stateOf(stayer, id)?.status === 'visiting',
      5000,
      () => `the stayer never saw visitor ${i} (stayer closes: ${JSON.stringify(stayer.closes)})`,
    )
    // Half leave cleanly (y-websocket says goodbye), half vanish (the server says it for them).
    if (i % 2) visitor.destroy()
    else dropPeerSocket(visitor)
    await waitFor(() => !stayer.provider.awareness.getStates().has(id), 5000, `visitor ${i}'s presence never went away`)
    visitor.destroy()
  }
  assert.equal(stayer.closes, [], `the stayer was closed: ${JSON.stringify(stayer.closes)}`)
  stayer.provider.awareness.setLocalStateField('status', 'still here')
  const late = await connectPeer(server, 'aw/churn', { token: await mintToken('late', 'viewer', 'aw') })
  await waitFor(() => stateOf(late, stayer.doc.clientID)?.status === 'still here', 5000, "a late joiner never saw the stayer's presence")
  assert.equal(stayer.closes, [])
  stayer.destroy()
  late.destroy()
})

test("spoofing another connection's client id → 4403; the victim's presence is untouched", async () => {
  const victim = await connectPeer(server, 'aw/spoof', { token: await mintToken('victim', 'editor', 'aw') })
  victim.provider.awareness.setLocalStateField('status', 'honest')
  const observer = await connectPeer(server, 'aw/spoof', { token: await mintToken('observer', 'viewer', 'aw') })
  const seen = recordStates(observer)
  const id = victim.doc.clientID
  await waitFor(() => stateOf(observer, id)?.status === 'honest', 5000, 'observer never saw the victim')
  const clock = victim.provider.awareness.meta.get(id)!.clock
  const attack = async (state: unknown): Promise<void> => {
    const attacker = await rawConnect(server, 'aw/spoof', { token: await mintToken('mallory', 'editor', 'aw') })
    attacker.send(awarenessFrame(awarenessUpdate([{ clientID: id, clock: clock + 10, state }])))
    const close = await attacker.waitClose(5000, 'the spoof to be refused')
    assert.is(close.code, 4403)
    assert.match(close.reason, /client id|another connection/)
  }
  await attack({ status: 'hacked', user: { id: 'victim', name: 'victim' } })
  await attack(null) // erasing someone else's presence is spoofing too
  // Anything the spoofs had caused would have reached the observer before this later update.
  victim.provider.awareness.setLocalStateField('status', 'still honest')
  await waitFor(() => stateOf(observer, id)?.status === 'still honest', 5000, "the victim's own update never arrived")
  const history = seen.get(id) ?? []
  assert.ok(
    history.every((state) => state.status !== 'hacked'),
    `the observer saw a spoofed state: ${JSON.stringify(history)}`,
  )
  assert.ok(stateOf(observer, id), 'the victim is still present')
  assert.equal(victim.closes, [])
  victim.destroy()
  observer.destroy()
})

test('a forged `user` field is replaced by the token identity, as others see it', async () => {
  const observer = await connectPeer(server, 'aw/forge', { token: await mintToken('observer', 'viewer', 'aw') })
  const seen = recordStates(observer)
  const forger = await rawConnect(server, 'aw/forge', { token: await mintToken('carol', 'editor', 'aw', { name: 'Carol C', kind: 'agent' }) })
  const forged = { user: { id: 'admin', name: 'The Admin', kind: 'human', color: '#00ff00', extra: 'x' }, status: 'active', activity: 'reviewing' }
  forger.send(awarenessFrame(awarenessUpdate([{ clientID: 777001, clock: 1, state: forged }])))
  await waitFor(() => stateOf(observer, 777001), 5000, 'the observer never saw the forger')
  assert.equal(stateOf(observer, 777001), { user: { id: 'carol', name: 'Carol C', kind: 'agent', color: '#00ff00' }, status: 'active', activity: 'reviewing' })
  // An invalid colour is replaced by a stable one; a state without `user` gets one.
  forger.send(
    awarenessFrame(awarenessUpdate([{ clientID: 777001, clock: 2, state: { user: { id: 'admin', color: 'red;background:url(x)' }, status: 'idle' } }])),
  )
  await waitFor(() => stateOf(observer, 777001)?.status === 'idle', 5000, 'the second state never arrived')
  const second = stateOf(observer, 777001)!
  assert.is(second.user?.id, 'carol')
  assert.is(second.user?.color, colorFor('carol'), "an invalid colour gives the actor's own, not the one claimed before")
  forger.send(awarenessFrame(awarenessUpdate([{ clientID: 777001, clock: 3, state: { status: 'away' } }])))
  await waitFor(() => stateOf(observer, 777001)?.status === 'away', 5000, 'the third state never arrived')
  assert.equal(stateOf(observer, 777001)!.user, { id: 'carol', name: 'Carol C', kind: 'agent', color: second.user!.color })
  forger.send(awarenessFrame(awarenessUpdate([{ clientID: 777001, clock: 4, state: { user: { color: '#0000ff' }, status: 'back' } }])))
  await waitFor(() => stateOf(observer, 777001)?.status === 'back', 5000, 'the fourth state never arrived')
  assert.equal(stateOf(observer, 777001)!.user, { id: 'carol', name: 'Carol C', kind: 'agent', color: '#0000ff' })
  for (const state of seen.get(777001) ?? []) assert.is(state.user?.id, 'carol', `a forged identity was visible: ${JSON.stringify(state)}`)
  assert.ok(forger.isOpen, 'forging the user field is corrected, not punished')
  forger.close()
  observer.destroy()
})

test('a stock client forging its user field is corrected too', async () => {
  const observer = await connectPeer(server, 'aw/forge2', { token: await mintToken('observer', 'viewer', 'aw') })
  const dan = await connectPeer(server, 'aw/forge2', { token: await mintToken('dan', 'editor', 'aw', { name: 'Dan' }) })
  dan.provider.awareness.setLocalStateField('user', { id: 'boss', name: 'Boss', kind: 'human', color: '#123456' })
  await waitFor(() => stateOf(observer, dan.doc.clientID)?.user?.color === '#123456', 5000, "the observer never saw dan's update")
  assert.equal(stateOf(observer, dan.doc.clientID)!.user, { id: 'dan', name: 'Dan', kind: 'human', color: '#123456' })
  dan.destroy()
  observer.destroy()
})

test('a client that reconnects shows up again for the others', async () => {
  const a = await connectPeer(server, 'aw/return', { token: await mintToken('returner', 'editor', 'aw') })
  const b = await connectPeer(server, 'aw/return', { token: await mintToken('watcher', 'editor', 'aw') })
  a.provider.awareness.setLocalStateField('status', 'active')
  const id = a.doc.clientID
  await waitFor(() => stateOf(b, id)?.status === 'active', 5000, 'b never saw a')
  dropPeerSocket(a) // a network blip
  await waitFor(() => !b.provider.awareness.getStates().has(id), 5000, "a's presence never went away")
  a.provider.connect()
  await waitFor(() => a.provider.synced, 5000, 'a never reconnected')
  await waitFor(
    () => stateOf(b, id)?.status === 'active',
    5000,
    "b does not see a again after a's reconnect (a stale awareness clock is ignored by y-protocols)",
  )
  a.destroy()
  b.destroy()
})

test("one connection leaving never removes another connection's presence", async () => {
  const room = 'aw/owner'
  const token = await mintToken('pat', 'editor', 'aw')
  const a = await rawConnect(server, room, { token })
  a.send(awarenessFrame(awarenessUpdate([{ clientID: 1001, clock: 1, state: { status: 'first' } }])))
  const b = await rawConnect(server, room, { token: await mintToken('quinn', 'editor', 'aw') })
  b.send(awarenessFrame(awarenessUpdate([{ clientID: 2002, clock: 1, state: { status: 'b' } }])))
  await b.waitMessage(
    (m) => {
      const f = decodeFrame(m)
      return f.kind === 'awareness' && f.entries.some((e) => e.clientID === 2002)
    },
    5000,
    'b never heard its own state back',
  )
  a.close()
  const removal = await b.waitMessage(
    (m) => {
      const f = decodeFrame(m)
      return f.kind === 'awareness' && f.entries.some((e) => e.clientID === 1001 && e.state === null)
    },
    5000,
    "b never heard of a's removal",
  )
  const removedClock = (decodeFrame(removal) as { entries: Array<{ clientID: number; clock: number }> }).entries.find((e) => e.clientID === 1001)!.clock
  // b echoes the removal, exactly as y-protocols does for every change it applies.
  b.send(awarenessFrame(awarenessUpdate([{ clientID: 1001, clock: removedClock, state: null }])))
  await b.roundTrip()
  // a comes back on a new connection (same Yjs client id, newer clock), then b leaves.
  const a2 = await rawConnect(server, room, { token })
  a2.send(awarenessFrame(awarenessUpdate([{ clientID: 1001, clock: removedClock + 1, state: { status: 'back' } }])))
  await a2.waitMessage(
    (m) => {
      const f = decodeFrame(m)
      return f.kind === 'awareness' && f.entries.some((e) => e.clientID === 1001 && (e.state as PresenceState | null)?.status === 'back')
    },
    5000,
    'a2 never heard its state back',
  )
  assert.is(b.closeInfo, null, `b was closed: ${JSON.stringify(b.closeInfo)}`)
  b.close()
  await b.closed
  await waitFor(async () => !(await snapshot(room)).has(2002), 5000, "b's own presence was not removed")
  const states = await snapshot(room)
  const back = states.get(1001) as PresenceState | undefined
  assert.ok(back, "b's departure removed a2's presence")
  assert.is(back.status, 'back')
  assert.is(back.user?.id, 'pat')
  a2.close()
})

test('presence for more than 8 client ids from one connection → 4403', async () => {
  const raw = await rawConnect(server, 'aw/many', { token: await mintToken('greedy', 'editor', 'aw') })
  const entries = Array.from({ length: 9 }, (_, i) => ({ clientID: 5000 + i, clock: 1, state: { status: 'x' } }))
  raw.send(awarenessFrame(awarenessUpdate(entries)))
  const close = await raw.waitClose()
  assert.is(close.code, 4403)
  assert.match(close.reason, /client ids/)
})

test('a presence state over 16 KiB → 4413 with the limit; one just under it is taken', async () => {
  const token = await mintToken('big', 'editor', 'aw')
  // {"note":"xxx…"} is 11 bytes of JSON around the note
  const fits = await rawConnect(server, 'aw/big', { token })
  fits.send(awarenessFrame(awarenessUpdate([{ clientID: 7001, clock: 1, state: { note: 'x'.repeat(16 * 1024 - 11) } }])))
  await fits.roundTrip()
  const raw = await rawConnect(server, 'aw/big', { token })
  raw.send(awarenessFrame(awarenessUpdate([{ clientID: 7002, clock: 1, state: { note: 'x'.repeat(16 * 1024 - 10) } }])))
  const close = await raw.waitClose()
  assert.is(close.code, 4413)
  assert.match(close.reason, /16385 bytes, the limit is 16384/)
  assert.ok(fits.isOpen, 'the connection within the limit stays open')
})

test('malformed awareness → 4400 (bad JSON, trailing bytes, a state that is not an object)', async () => {
  const token = await mintToken('bad', 'editor', 'aw')
  const send = async (body: Uint8Array): Promise<RawClient> => {
    const raw = await rawConnect(server, 'aw/malformed', { token })
    raw.send(awarenessFrame(body))
    return raw
  }
  const badJson = (() => {
    const ok = awarenessUpdate([{ clientID: 1, clock: 1, state: { a: 1 } }])
    const copy = ok.slice()
    copy[copy.length - 1] = 0x7b // "{...{" : unterminated JSON
    return copy
  })()
  for (const [what, body] of [
    ['bad JSON', badJson],
    ['trailing bytes', new Uint8Array([...awarenessUpdate([{ clientID: 1, clock: 1, state: {} }]), 9, 9])],
    ['a count larger than the entries', awarenessUpdate([{ clientID: 1, clock: 1, state: {} }]).map((byte, i) => (i === 0 ? 5 : byte))],
    ['a number as state', awarenessUpdate([{ clientID: 1, clock: 1, state: 42 }])],
    ['an array as state', awarenessUpdate([{ clientID: 1, clock: 1, state: [1, 2] }])],
  ] as const) {
    const raw = await send(body)
    const close = await raw.waitClose(5000, `a refusal for ${what}`)
    assert.is(close.code, 4400, `${what}: got ${close.code} ${close.reason}`)
    assert.ok(close.reason.length > 0)
  }
})

test.run()
