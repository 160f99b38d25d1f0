// Cluster mode, Redis lost while running (issue 17): clients are closed with 1013 "storage
// unavailable" and reconnect; the node serves again once Redis is back (restarted on its
// append-only file), and nothing a client saw acknowledged is lost.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import * as Y from 'yjs'
import { cleanupClients, connectPeer, mintToken, type Peer, waitFor } from './helpers/clients.js'
import { RedisServer, startNode } from './helpers/redis.js'
import type { TestServer } from './helpers/server.js'

let redis: RedisServer
let node: TestServer

test.before(async () => {
  redis = await RedisServer.start()
  node = await startNode(redis, 'lonely', ['--owner-lease', '2s', '--rate', '100000', '--burst', '100000'])
})

test.after(async () => {
  cleanupClients()
  await node?.dispose()
  await redis?.kill()
})

interface Health {
  cluster: { redis: string; owns: string[] }
}

test('kill -9 of Redis under load: clients get 1013, the node resumes when Redis is back, nothing acknowledged is lost', async () => {
  const token = await mintToken('frank', 'editor')
  const writer = await connectPeer(node, 'rl/doc', { token })
  const observer = await connectPeer(node, 'rl/doc', { token })
  const acknowledged = new Set<string>()
  observer.doc.on('update', (_update: Uint8Array, origin: unknown) => {
    if (origin === observer.provider) for (const item of observer.doc.getArray<string>('items').toArray()) acknowledged.add(item)
  })
  let n = 0
  const timer = setInterval(() => writer.doc.getArray<string>('items').push([`item-${n++}`]), 10)
  try {
    await waitFor(() => acknowledged.size >= 50, 10_000, 'no load before the kill')
    await redis.kill()
    await waitFor(
      () => [writer, observer].every((peer: Peer) => peer.closes.some((close) => close.code === 1013 && /^storage unavailable/.test(close.reason))),
      15_000,
      () => `clients were not closed with 1013: ${JSON.stringify([writer.closes, observer.closes])}`,
    )
    const down = await node.fetchJson<Health>('/healthz')
    assert.is(down.cluster.redis, 'unreachable')
    const seenBeforeRestart = acknowledged.size

    await redis.spawn()
    await waitFor(async () => (await node.fetchJson<Health>('/healthz')).cluster.redis === 'reachable', 15_000, 'the node never reconnected to Redis')
    await waitFor(
      () => acknowledged.size >= seenBeforeRestart + 50,
      20_000,
      `writes did not resume after Redis came back (${acknowledged.size - seenBeforeRestart} new)`,
    )
  } finally {
    clearInterval(timer)
  }
  const written = writer.doc.getArray<string>('items').toArray()
  const reader = await connectPeer(node, 'rl/doc', { token, timeoutMs: 15_000, doc: new Y.Doc() })
  await waitFor(
    () => reader.doc.getArray('items').length >= written.length,
    15_000,
    () => `the reader has ${reader.doc.getArray('items').length} of ${written.length} items`,
  )
  const stored = new Set(reader.doc.getArray<string>('items').toArray())
  const lost = [...acknowledged].filter((item) => !stored.has(item))
  assert.equal(lost, [], `acknowledged items lost across the Redis restart: ${lost.slice(0, 5)}`)
})

test.run()
