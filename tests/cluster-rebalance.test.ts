// Cluster mode, rebalancing (issue 17): a workspace whose clients all come through other nodes
// moves to the node relaying most of them. Its clients stay connected: the old owner hands them
// over, the new one serves the open sockets of those it relayed itself and a third node relays
// its own to the new owner, and both resync them, so nothing they wrote before, during or after
// the move is lost and their locks keep their holder and fencing token. The workspace stays with
// the node that has clients of its own.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { connectPeer, decodeFrame, docFromMessages, dropPeerSocket, mintToken, type Peer, rawConnect, waitFor } from './helpers/clients.js'
import { fetchAudit } from './helpers/coordination-api.js'
import { claim, holdersOf, locksOf, queueOf, release, waitOutcome } from './helpers/coordination-maps.js'
import { joinCoord, who } from './helpers/coordination-peers.js'
import { withCluster } from './helpers/redis.js'
import type { TestServer } from './helpers/server.js'

const cluster = withCluster(test, ['--owner-lease', '1s'])
const node = cluster.node

const health = async (server: TestServer) => (await server.fetchJson<{ cluster: { owns: string[]; relayedConnections: number } }>('/healthz')).cluster
const owns = async (server: TestServer) => (await health(server)).owns

/** Records the provider's status changes: a dropped socket shows as 'disconnected'. */
function statuses(peer: Peer): string[] {
  const seen: string[] = []
  peer.provider.on('status', ({ status }: { status: string }) => seen.push(status))
  return seen
}

test('clients of a workspace that moves stay connected, keep editing and lose nothing, on the new owner and a third node', async () => {
  const [a, b, c] = [await node('a'), await node('b'), await node('c')]
  const token = await mintToken('eve', 'editor')
  const direct = await connectPeer(a, 'moving/doc', { token })
  const stays = await connectPeer(b, 'moving/doc', { token })
  const notes = await connectPeer(b, 'moving/notes', { token })
  const far = await connectPeer(c, 'moving/doc', { token })
  const seen = [statuses(stays), statuses(notes), statuses(far)]
  stays.provider.awareness.setLocalStateField('cursor', 7)
  let asked = false
  stays.provider.awareness.on('update', ({ removed }: { removed: number[] }, origin: unknown) => {
    if (origin !== 'local' && removed.includes(stays.doc.clientID)) asked = true
  })
  assert.ok((await owns(a)).includes('moving'), 'a, asked first, owns the workspace')
  const text = stays.doc.getText('t')
  text.insert(0, 'one ')
  await waitFor(() => direct.doc.getText('t').toString() === 'one ', 10_000, 'the relayed edit never reached a')

  // While a still has a client of its own, the workspace stays there; then it moves to b, which
  // relays two of its clients (c relays one), while the clients on b and c keep typing.
  direct.destroy()
  let typed = 0
  const typing = setInterval(() => {
    text.insert(text.length, 'x')
    far.doc.getText('f').insert(typed, 'y')
    typed++
  }, 20)
  try {
    await waitFor(async () => (await owns(b)).includes('moving'), 20_000, 'b never took the workspace its clients connect through')
    await waitFor(async () => (await health(b)).relayedConnections === 0, 10_000, 'b still relays its clients instead of serving them')
  } finally {
    clearInterval(typing)
  }
  assert.not.ok((await owns(a)).includes('moving'), 'a still owns it too')
  assert.ok(typed > 0)

  text.insert(text.length, ' two')
  notes.doc.getText('n').insert(0, 'notes')
  const fresh = await connectPeer(b, 'moving/doc', { token, timeoutMs: 15_000 })
  fresh.doc.getText('t').insert(0, 'zero ')
  const expected = `zero one ${'x'.repeat(typed)} two`
  await waitFor(
    () => text.toString() === expected && fresh.doc.getText('t').toString() === expected && fresh.doc.getText('f').toString() === 'y'.repeat(typed),
    15_000,
    () =>
      `the moved client has "${text.toString()}", the new owner's client "${fresh.doc.getText('t').toString()}" and ${fresh.doc.getText('f').length} of ${typed} y, expected "${expected}"`,
  )
  const reader = await connectPeer(a, 'moving/notes', { token, timeoutMs: 15_000 })
  await waitFor(
    () => reader.doc.getText('n').toString() === 'notes',
    15_000,
    () => `notes: "${reader.doc.getText('n').toString()}"`,
  )
  // The new owner asked the moved client to publish its presence again (a removal of its own
  // state, which y-protocols answers with the next clock), so the new owner's clients see it.
  await waitFor(() => asked, 10_000, 'the new owner never asked the moved client for its presence')
  await waitFor(
    () => fresh.provider.awareness.getStates().get(stays.doc.clientID)?.cursor === 7,
    10_000,
    "the moved client's presence never reached the new owner's client",
  )

  for (const [i, peer] of [stays, notes, far].entries()) {
    assert.equal(peer.closes, [], `a moved client was closed: ${JSON.stringify(peer.closes)}`)
    assert.not.ok(seen[i]!.includes('disconnected'), `a moved client's provider saw: ${seen[i]!.join(', ')}`)
  }
  // The client on c is relayed to b now.
  await waitFor(
    () => far.doc.getText('t').toString() === expected,
    15_000,
    () => `c's client has "${far.doc.getText('t').toString()}"`,
  )
  // The reader on a is relayed to b now, where a relayed client does not pull the workspace back.
  assert.ok((await owns(b)).includes('moving'))
  assert.not.ok((await owns(a)).includes('moving'))
  assert.match((await a.fetchText('/metrics')).body, /^huddle_cluster_workspaces_handed_over 1$/m)
  assert.match((await b.fetchText('/metrics')).body, /^huddle_cluster_clients_taken_over 2$/m)
  assert.match((await c.fetchText('/metrics')).body, /^huddle_cluster_clients_taken_over 1$/m)
})

test('a lock held through a moved connection keeps its holder and fencing token, past the grace period', async () => {
  const flags = ['--lease-grace', '1s']
  const [a, b] = [await node('a', flags), await node('b', flags)]
  const [alice, bob] = [await who('alice', 'editor', 'agent'), await who('bob', 'editor', 'agent')]
  const anchor = await connectPeer(a, 'locks/doc', { token: alice.token })
  const holder = await joinCoord(b, 'locks', alice)
  const waiter = await joinCoord(b, 'locks', bob)
  assert.ok((await owns(a)).includes('locks'))
  const held = claim(holder, 'h', { resources: ['db'], mode: 'exclusive' })
  const granted = await waitOutcome(holder, held, ['granted'], 10_000)
  const queued = claim(waiter, 'w', { resources: ['db'], mode: 'exclusive' })
  await waitFor(() => queueOf(holder.doc, 'db').includes(queued), 10_000, 'the second claim never queued')

  anchor.destroy()
  await waitFor(async () => (await owns(b)).includes('locks'), 20_000, 'b never took the workspace')
  await waitFor(async () => (await health(b)).relayedConnections === 0, 10_000, 'b still relays its clients')
  assert.equal(holder.closes, [], `the holder was closed: ${JSON.stringify(holder.closes)}`)

  // A session that leaves after the move loses its lock once the grace period is over; by then
  // the moved holder's would have gone too, had the move cost it its session.
  const ghost = await joinCoord(b, 'locks', await who('ghost', 'editor', 'agent'))
  const other = claim(ghost, 'g', { resources: ['cache'], mode: 'exclusive' })
  await waitOutcome(ghost, other, ['granted'], 10_000)
  dropPeerSocket(ghost)
  await waitFor(() => locksOf(holder.doc).get('cache') === undefined || holdersOf(holder.doc, 'cache').length === 0, 15_000, "the ghost's lock never ran out")

  assert.equal(holdersOf(holder.doc, 'db'), [held])
  assert.is(locksOf(holder.doc).get('db')!.holders[0]!.token, granted.token, 'the fencing token changed')
  assert.equal(queueOf(holder.doc, 'db'), [queued])
  release(holder, held)
  const next = await waitOutcome(waiter, queued, ['granted'], 10_000)
  assert.ok(next.token! > granted.token!, 'fencing tokens went back')
  assert.equal(holder.closes, [])
  assert.equal(waiter.closes, [])
})

test('the new owner resyncs a handed-over client, which will not ask (its sync step 1 and the whole document), under the same session', async () => {
  const [a, b] = [await node('a'), await node('b')]
  const token = await mintToken('eve', 'editor')
  const direct = await connectPeer(a, 'resync/doc', { token })
  direct.doc.getText('t').insert(0, 'hello')
  // A client that never asks to sync: from a it gets a's sync step 1 and nothing of the document.
  const silent = await rawConnect(b, 'resync/doc', { token })
  await silent.waitMessage((message) => decodeFrame(message).kind === 'sync-step1', 10_000, "a's sync step 1")
  // One on the coordination document that chose no session.
  const sessionless = await rawConnect(b, 'resync', { token: await mintToken('sil', 'editor') })
  await sessionless.waitMessage((message) => decodeFrame(message).kind === 'sync-step1', 10_000, "a's sync step 1")
  direct.destroy()
  await waitFor(async () => (await owns(b)).includes('resync'), 20_000, 'b never took the workspace')
  await waitFor(async () => (await health(b)).relayedConnections === 0, 10_000, 'b still relays the client')
  await waitFor(
    () => docFromMessages(silent.messages).getText('t').toString() === 'hello',
    10_000,
    () => `the handed-over client was not sent the document (frames: ${silent.messages.map((message) => decodeFrame(message).kind).join(', ')})`,
  )
  assert.ok(silent.messages.filter((message) => decodeFrame(message).kind === 'sync-step1').length >= 2, "b's sync step 1 never came")
  assert.is(silent.closeInfo, null)
  await silent.roundTrip(10_000)
  // The sessionless client keeps the session a generated for it: the audit shows it leave a and
  // join b under it.
  await sessionless.roundTrip(10_000)
  const entries = (await fetchAudit(b, 'resync', await mintToken('root', 'admin'))).filter((entry) => entry.actor === 'sil')
  assert.equal(
    entries.map((entry) => entry.type),
    ['join', 'leave', 'join'],
  )
  assert.is(new Set(entries.map((entry) => entry.session)).size, 1, `sessions: ${JSON.stringify(entries.map((entry) => entry.session))}`)
})

test.run()
