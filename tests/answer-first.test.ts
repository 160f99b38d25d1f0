// The one who waits is answered first (server/rooms/hooks.ts `answerFirst`): the update that grants
// a lock or decides an approval leaves for the waiting session's connection before the room's other
// members. The waiter joins last, so without the ordering its socket is written last of 41; all
// sockets are read by this one process, in the order their data arrived.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import type * as Y from 'yjs'
import { cleanupClients, waitFor } from './helpers/clients.js'
import { until } from './helpers/coordination-compare.js'
import { claim, outcomesOf, queueMapOf, release, requestApproval, statusOf, vote } from './helpers/coordination-maps.js'
import { type CoordPeer, joinCoord, who } from './helpers/coordination-peers.js'
import { NO_RATE_LIMIT, type TestServer } from './helpers/server.js'
import { withServer } from './helpers/suite.js'

const OBSERVERS = 40

let server: TestServer
withServer(test, (started) => void (server = started), { args: NO_RATE_LIMIT })

test.after.each(() => {
  cleanupClients()
})

async function observers(ws: string): Promise<CoordPeer[]> {
  const list: CoordPeer[] = []
  for (let i = 0; i < OBSERVERS; i++) list.push(await joinCoord(server, ws, await who(`observer-${i}`, 'viewer')))
  return list
}

/** The order in which each peer's document first satisfied `arrived`, counted across all peers. */
function arrivalOrder(peers: CoordPeer[], arrived: (doc: Y.Doc) => boolean): Map<CoordPeer, number> {
  const order = new Map<CoordPeer, number>()
  for (const peer of peers) {
    const onUpdate = () => {
      if (order.has(peer) || !arrived(peer.doc)) return
      order.set(peer, order.size + 1)
      peer.doc.off('update', onUpdate)
    }
    peer.doc.on('update', onUpdate)
  }
  return order
}

async function waitAll(order: Map<CoordPeer, number>, peers: CoordPeer[], what: string): Promise<void> {
  await waitFor(
    () => order.size === peers.length,
    20_000,
    () => `${what} reached ${order.size} of ${peers.length} peers`,
  )
}

test('a lock handoff reaches the granted session before the room’s other members', async () => {
  const ws = 'answer-first-locks'
  const holder = await joinCoord(server, ws, await who('holder', 'editor', 'agent'))
  const held = claim(holder, 'c1', { resources: ['deploy'], mode: 'exclusive' })
  await until(
    holder.doc,
    () => outcomesOf(holder.doc).get(held)?.state === 'granted',
    10_000,
    () => `${held} was never granted`,
  )
  const watching = await observers(ws)
  const waiter = await joinCoord(server, ws, await who('waiter', 'editor', 'agent'))
  const waiting = claim(waiter, 'c1', { resources: ['deploy'], mode: 'exclusive' })
  const everyone = [...watching, waiter]
  await Promise.all(
    everyone.map((peer) =>
      until(
        peer.doc,
        () => queueMapOf(peer.doc).has(waiting),
        10_000,
        () => `${waiting} never queued`,
      ),
    ),
  )

  const order = arrivalOrder(everyone, (doc) => outcomesOf(doc).get(waiting)?.state === 'granted')
  release(holder, held)
  await waitAll(order, everyone, 'the grant')
  assert.is(order.get(waiter), 1, `the grant reached the waiter at position ${order.get(waiter)} of ${everyone.length}`)
})

test('an approval decision reaches the requester before the room’s other members', async () => {
  const ws = 'answer-first-approvals'
  const agent = await who('agent-1', 'editor', 'agent')
  const asking = await joinCoord(server, ws, agent)
  const key = requestApproval(asking, 'a1', { title: 'Deploy', action: 'deploy' })
  const approver = await joinCoord(server, ws, await who('ann', 'approver'))
  await until(
    approver.doc,
    () => statusOf(approver.doc, key)?.state === 'pending',
    10_000,
    () => `${key} never became pending`,
  )
  // The request outlives its connection; the same session comes back after everyone else joined.
  asking.destroy()
  const watching = await observers(ws)
  const requester = await joinCoord(server, ws, agent, { session: asking.session })
  const everyone = [...watching, requester]
  await Promise.all(
    everyone.map((peer) =>
      until(
        peer.doc,
        () => statusOf(peer.doc, key)?.state === 'pending',
        10_000,
        () => `${key} never arrived`,
      ),
    ),
  )

  const order = arrivalOrder(everyone, (doc) => statusOf(doc, key)?.state === 'approved')
  vote(approver, key, 'approve')
  await waitAll(order, everyone, 'the decision')
  assert.is(order.get(requester), 1, `the decision reached the requester at position ${order.get(requester)} of ${everyone.length}`)
})

test.run()
