// Cluster mode, failover (issue 17): the owner of a workspace is killed (kill -9) while clients on
// every node write; another node takes the workspace once the lease runs out, the clients resync
// through the relays, nothing any client saw acknowledged (broadcast, hence persisted) is lost,
// and fencing tokens keep rising across the failover.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import * as Y from 'yjs'
import { cleanupClients, connectPeer, mintToken, type Peer, waitFor } from './helpers/clients.js'
import { claim, locksOf, release, waitOutcome } from './helpers/coordination-maps.js'
import { type CoordPeer, joinCoord, who } from './helpers/coordination-peers.js'
import { Watcher } from './helpers/watcher.js'
import { RedisServer, startNode } from './helpers/redis.js'
import type { TestServer } from './helpers/server.js'

let redis: RedisServer
let nodes: TestServer[] = []

test.before(async () => {
  redis = await RedisServer.start()
  nodes = await Promise.all(
    ['f1', 'f2', 'f3'].map((name) => startNode(redis, name, ['--owner-lease', '2s', '--rate', '100000', '--burst', '100000', '--lease-grace', '60s'])),
  )
})

test.after.each(() => {
  cleanupClients()
})

test.after(async () => {
  await Promise.all(nodes.map((node) => node.dispose()))
  await redis?.kill()
})

/** Appends `<name>-<n>` to the document's array every few ms until stopped. */
function writeContinuously(peer: Peer, name: string): () => void {
  let n = 0
  const timer = setInterval(() => peer.doc.getArray<string>('items').push([`${name}-${n++}`]), 15)
  return () => clearInterval(timer)
}

/** Every item this peer has ever received from the server. */
function recordSeen(peer: Peer, seen: Set<string>): void {
  peer.doc.on('update', (_update: Uint8Array, origin: unknown) => {
    if (origin !== peer.provider) return
    for (const item of peer.doc.getArray<string>('items').toArray()) seen.add(item)
  })
}

test('kill -9 of the owner under load: another node takes over, no acknowledged update is lost, tokens keep rising', async () => {
  const [f1, f2, f3] = nodes as [TestServer, TestServer, TestServer]
  const token = await mintToken('erin', 'editor')
  // The first client makes f1 the owner of workspace "fo".
  const doomed = await connectPeer(f1, 'fo/doc', { token })
  const writers = [doomed, await connectPeer(f2, 'fo/doc', { token }), await connectPeer(f3, 'fo/doc', { token })]
  const observers = [await connectPeer(f2, 'fo/doc', { token }), await connectPeer(f3, 'fo/doc', { token })]
  const acknowledged = new Set<string>()
  for (const observer of observers) recordSeen(observer, acknowledged)
  const watcher = await Watcher.start(f2, 'fo')
  const workers: CoordPeer[] = [await joinCoord(f2, 'fo', await who('worker-a', 'editor')), await joinCoord(f3, 'fo', await who('worker-b', 'editor'))]
  const tokens: number[] = []
  const lockOnce = async (worker: CoordPeer, id: string) => {
    const key = claim(worker, id, { resources: ['db'], mode: 'exclusive' })
    const outcome = await waitOutcome(worker, key, ['granted'], 30_000)
    tokens.push(outcome.token!)
    release(worker, key)
  }
  await lockOnce(workers[0]!, 'before-1')
  await lockOnce(workers[1]!, 'before-2')

  const stops = writers.map((writer, i) => writeContinuously(writer, `w${i + 1}`))
  await waitFor(() => acknowledged.size >= 60, 10_000, `little load before the kill (${acknowledged.size} items seen)`)
  assert.equal((await f1.fetchJson<{ cluster: { owns: string[] } }>('/healthz')).cluster.owns, ['fo'])
  await f1.kill()
  const seenAtKill = acknowledged.size

  // Another node takes the workspace once f1's lease runs out; the relayed writers resync to it.
  await waitFor(
    async () => {
      const states = await Promise.all([f2, f3].map((node) => node.fetchJson<{ cluster: { owns: string[] } }>('/healthz')))
      return states.some((state) => state.cluster.owns.includes('fo'))
    },
    20_000,
    'no node took workspace fo after its owner died',
  )
  await waitFor(
    () => acknowledged.size >= seenAtKill + 60,
    20_000,
    `writes did not resume after the failover (${acknowledged.size - seenAtKill} new items seen)`,
  )
  for (const stop of stops) stop()
  await lockOnce(workers[0]!, 'after-1')
  await lockOnce(workers[1]!, 'after-2')

  const expected = new Set([...acknowledged])
  for (const writer of writers.slice(1)) for (const item of writer.doc.getArray<string>('items').toArray()) expected.add(item)
  const reader = await connectPeer(f3, 'fo/doc', { token, timeoutMs: 15_000, doc: new Y.Doc() })
  await waitFor(
    () => {
      const stored = new Set(reader.doc.getArray<string>('items').toArray())
      return [...expected].every((item) => stored.has(item))
    },
    15_000,
    () => {
      const stored = new Set(reader.doc.getArray<string>('items').toArray())
      return `lost ${[...expected].filter((item) => !stored.has(item)).length} of ${expected.size} items, e.g. ${[...expected].filter((item) => !stored.has(item)).slice(0, 5)}`
    },
  )
  for (let i = 1; i < tokens.length; i++) assert.ok(tokens[i]! > tokens[i - 1]!, `fencing tokens not rising across the failover: ${tokens}`)
  // The watcher has seen every lock transaction once it sees the last release remove the lock.
  await waitFor(() => !locksOf(watcher.doc).has('db'), 5000, "the watcher never saw the last release of 'db'")
  watcher.assertClean()
})

test.run()
