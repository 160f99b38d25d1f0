// Cluster mode, storage (issue 17): `huddle serve --redis` keeps documents, the audit chain and
// checkpoints in a real redis-server (started here, append-only file on), refuses to start without
// Redis or with another secret than the cluster's, and compacts update logs into a snapshot key.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { cleanupClients, connectPeer, delay, mintToken, waitFor } from './helpers/clients.js'
import { api } from './helpers/coordination-api.js'
import { claim, release, waitOutcome } from './helpers/coordination-maps.js'
import { joinCoord, who } from './helpers/coordination-peers.js'
import { type RedisServer, startNode, withCluster } from './helpers/redis.js'
import { runCli, type TestServer } from './helpers/server.js'

const cluster = withCluster(test, ['--owner-lease', '1s'])
const node = cluster.node

test('a node refuses to start when Redis is unreachable, and says so', async () => {
  const error = await startNode({ url: 'redis://127.0.0.1:1' } as RedisServer, 'nowhere').then(
    () => null,
    (failure: Error) => failure,
  )
  assert.ok(error, 'the node started without Redis')
  assert.match(error.message, /cannot reach Redis at redis:\/\/127\.0\.0\.1:1 .*start Redis, or check --redis/)
})

test('cluster flags are refused where they make no sense, with what to write instead', async () => {
  const memory = await runCli(['serve', '--port', '0', '--memory', '--redis', cluster.redis.url])
  assert.is(memory.code, 1)
  assert.match(memory.stderr, /--redis keeps the data in Redis, --memory in this process: drop one of the two/)
  const alone = await runCli(['serve', '--port', '0', '--memory', '--node-id', 'x'])
  assert.is(alone.code, 1)
  assert.match(alone.stderr, /--node-id is for cluster mode: add --redis redis:\/\/HOST:PORT/)
  const notUrl = await runCli(['serve', '--port', '0', '--redis', 'localhost:6379'])
  assert.is(notUrl.code, 1)
  assert.match(notUrl.stderr, /the URL must start with redis:\/\//)
})

test('a node with another secret than the cluster refuses to join', async () => {
  await node('first')
  const error = await node('intruder', [], { secret: 'another-secret-0123456789-abcdefghijklmnopqrstuvwxyz' }).then(
    () => null,
    (failure: Error) => failure,
  )
  assert.ok(error, 'a node with another secret joined')
  assert.match(error.message, /uses another secret: start this node with the same HUDDLE_SECRET/)
})

test('documents, locks and the audit chain are in Redis: a new node serves them after kill -9 of the first', async () => {
  const first = await node('one')
  const token = await mintToken('alice', 'admin')
  const writer = await connectPeer(first, 'store-ws/notes', { token })
  writer.doc.getText('body').insert(0, 'kept in redis')
  const alice = await who('alice', 'editor')
  const coord = await joinCoord(first, 'store-ws', alice)
  const key = claim(coord, 'c1', { resources: ['db'], mode: 'exclusive' })
  const granted = await waitOutcome(coord, key)
  assert.is(granted.state, 'granted')
  // Acknowledged: the grant was broadcast, so it was persisted; the text comes back in the echo.
  await waitFor(async () => (await cluster.inspect.xlen('huddle:{store-ws}:log:store-ws/notes')) > 0, 5000, 'the text never reached Redis')
  await first.kill()
  cleanupClients()

  const second = await node('two')
  // The first node's lease runs out (1 s) before the second may take the workspace.
  const reader = await connectPeer(second, 'store-ws/notes', { token, timeoutMs: 15_000 })
  assert.is(reader.doc.getText('body').toString(), 'kept in redis')
  const state = await waitFor(
    async () => {
      const response = await api<{ locks: Record<string, { holders: Array<{ claim: string; token: number }> }> }>(
        second,
        'GET',
        '/api/workspaces/store-ws/state',
        token,
      )
      return response.status === 200 ? response.body : null
    },
    15_000,
    'no state from the second node',
  )
  assert.equal(
    state.locks.db?.holders.map((holder) => holder.claim),
    [key],
  )
  assert.is(state.locks.db?.holders[0]?.token, granted.token)
  const verify = await api<{ ok: boolean; entries: number }>(second, 'GET', '/api/workspaces/store-ws/audit/verify', token)
  assert.is(verify.status, 200)
  assert.ok(verify.body.ok, `audit chain broken: ${JSON.stringify(verify.body)}`)
  assert.ok(verify.body.entries >= 2, `only ${verify.body.entries} audit entries`)
  assert.is(await cluster.inspect.hexists('huddle:{store-ws}:kv', 'audit!store-ws!0000000000000001'), 1, "audit entries are not under the workspace's hash tag")
})

test("a document's update log is compacted into its snapshot key, and loads back whole", async () => {
  const first = await node('compacting', ['--compact-after', '5'])
  const token = await mintToken('bob', 'editor')
  const writer = await connectPeer(first, 'compact-ws/doc', { token })
  const text = writer.doc.getText('t')
  // One message per insert, so the server appends 40 log entries (compacting after every 5).
  for (let i = 0; i < 40; i++) {
    text.insert(text.length, `${i},`)
    await delay(5)
  }
  const expected = text.toString()
  await waitFor(async () => (await cluster.inspect.exists('huddle:{compact-ws}:state:compact-ws/doc')) === 1, 10_000, 'no snapshot key was written')
  await waitFor(async () => (await cluster.inspect.xlen('huddle:{compact-ws}:log:compact-ws/doc')) < 40, 10_000, 'the log was never trimmed')
  const reader = await connectPeer(first, 'compact-ws/doc', { token })
  // The snapshot and the trimmed log may come before the writer's last inserts reach the node: the
  // reader's socket is not the writer's, so it waits until the node has them all.
  await waitFor(
    () => reader.doc.getText('t').toString() === expected,
    10_000,
    () => `the node has "${reader.doc.getText('t').toString()}"`,
  )
  await first.kill()
  cleanupClients()
  const second = await node('after-compaction')
  const again = await connectPeer(second, 'compact-ws/doc', { token, timeoutMs: 15_000 })
  assert.is(again.doc.getText('t').toString(), expected)
})

test('a node that owns a workspace again rereads its audit head: entries another owner appended meanwhile stay', async () => {
  const args = ['--unload-after', '300ms', '--lease-grace', '100ms']
  const [a, b] = [await node('again-a', args), await node('again-b', args)]
  const token = await mintToken('hana', 'admin')
  const owns = async (server: TestServer) => (await server.fetchJson<{ cluster: { owns: string[] } }>('/healthz')).cluster.owns.includes('again')
  // A lock claimed and released through `server`, which takes the workspace; then it goes idle.
  const lockThrough = async (server: TestServer, id: string) => {
    const peer = await joinCoord(server, 'again', await who('hana', 'editor'), { timeoutMs: 10_000 })
    // The node takes the workspace when the lease is free; a loaded machine may take a moment.
    await waitFor(() => owns(server), 10_000, `${id}: the node of the client does not own the workspace`)
    const key = claim(peer, id, { resources: ['db'], mode: 'exclusive' })
    await waitOutcome(peer, key, ['granted'], 10_000)
    release(peer, key)
    await waitFor(() => !peer.doc.getMap('claims').has(key), 10_000, `${id} was never released`)
    peer.destroy()
    await waitFor(async () => !(await owns(server)), 15_000, `${id}: the node kept the idle workspace`)
  }
  await lockThrough(a, 'first')
  await lockThrough(b, 'second')
  const before = await cluster.inspect.hlen('huddle:{again}:kv')
  await lockThrough(a, 'third')
  const verify = await api<{ ok: boolean; entries: number }>(b, 'GET', '/api/workspaces/again/audit/verify', token)
  assert.is(verify.status, 200)
  assert.ok(verify.body.ok, `audit chain broken: ${JSON.stringify(verify.body)}`)
  assert.ok((await cluster.inspect.hlen('huddle:{again}:kv')) > before, "the third owner wrote no new audit entry (it overwrote the second owner's)")
})

test.run()
