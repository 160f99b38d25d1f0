// Cluster mode, any node serves any client (issue 17): three nodes on one Redis; clients of one
// document on different nodes converge and see each other's presence through the relays, and a
// lock claimed through different nodes is granted to one holder at a time, in arrival order, with
// rising fencing tokens, because the authority runs on the owner only.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { cleanupClients, connectPeer, mintToken, type Peer, waitFor } from './helpers/clients.js'
import { until } from './helpers/coordination-compare.js'
import { claim, holdersOf, locksOf, queueOf, release, waitOutcome } from './helpers/coordination-maps.js'
import { type CoordPeer, joinCoord, who } from './helpers/coordination-peers.js'
import { Watcher } from './helpers/watcher.js'
import { RedisServer, startNode } from './helpers/redis.js'
import { connectLocks, type LockClient } from '../client-lib/node.js'
import { runCli, type TestServer } from './helpers/server.js'

interface ClusterHealth {
  cluster: { node: string; owns: string[]; relayedConnections: number; role: string; redis: string }
}

let redis: RedisServer
let nodes: TestServer[] = []

test.before(async () => {
  redis = await RedisServer.start()
  nodes = await Promise.all(
    ['n1', 'n2', 'n3'].map((name) =>
      startNode(redis, name, ['--owner-lease', '2s', '--rate', '100000', '--burst', '100000', '--lease-grace', '60s', '--unload-after', '1s']),
    ),
  )
})

test.after.each(() => {
  cleanupClients()
})

test.after(async () => {
  await Promise.all(nodes.map((node) => node.dispose()))
  await redis?.kill()
})

const health = (node: TestServer) => node.fetchJson<ClusterHealth>('/healthz')

test("clients of one document on three nodes converge, and see each other's presence", async () => {
  const token = await mintToken('dana', 'editor')
  const peers: Peer[] = []
  for (const node of nodes) peers.push(await connectPeer(node, 'relay-ws/doc', { token, timeoutMs: 10_000 }))
  peers.forEach((peer, i) => peer.doc.getText('t').insert(0, `[from n${i + 1}]`))
  await waitFor(
    () => peers.every((peer) => ['[from n1]', '[from n2]', '[from n3]'].every((part) => peer.doc.getText('t').toString().includes(part))),
    10_000,
    () => `not converged: ${peers.map((peer) => peer.doc.getText('t').toString()).join(' | ')}`,
  )
  const texts = peers.map((peer) => peer.doc.getText('t').toString())
  assert.is(texts[1], texts[0])
  assert.is(texts[2], texts[0])

  peers[1]!.provider.awareness.setLocalStateField('user', { id: 'dana', name: 'Dana', kind: 'human', color: '#123456' })
  const id = peers[1]!.doc.clientID
  await waitFor(
    () => peers[0]!.provider.awareness.getStates().get(id)?.user && peers[2]!.provider.awareness.getStates().get(id)?.user,
    10_000,
    "presence set on n2 never reached n1's and n3's clients",
  )

  // One node owns the workspace (the first one asked); the other two relay to it.
  const states = await Promise.all(nodes.map(health))
  const owners = states.filter((state) => state.cluster.owns.includes('relay-ws'))
  assert.is(owners.length, 1, `owners: ${JSON.stringify(states.map((state) => state.cluster))}`)
  assert.is(owners[0]!.cluster.node, 'n1')
  assert.ok(states[1]!.cluster.relayedConnections >= 1 && states[2]!.cluster.relayedConnections >= 1, 'n2 and n3 relay nothing')
  assert.match(owners[0]!.cluster.role, /^owner of \d+ workspace/)
  assert.is(states[1]!.cluster.redis, 'reachable')
  const metrics = (await nodes[1]!.fetchText('/metrics')).body
  assert.match(metrics, /^huddle_cluster_relayed_connections [1-9]/m)
  assert.match(metrics, /^huddle_cluster_relay_frames_from_owner [1-9]/m)
  assert.match((await nodes[0]!.fetchText('/metrics')).body, /^huddle_cluster_owned_workspaces [1-9]/m)

  const status = await runCli(['cluster', 'status', '--redis', redis.url, '--json'])
  assert.is(status.code, 0, status.stderr)
  const parsed = JSON.parse(status.stdout) as { nodes: Array<{ id: string }>; workspaces: Array<{ workspace: string; owner: string | null; epoch: number }> }
  assert.equal(
    parsed.nodes.map((node) => node.id),
    ['n1', 'n2', 'n3'],
  )
  assert.equal(
    parsed.workspaces.find((entry) => entry.workspace === 'relay-ws'),
    { ...parsed.workspaces.find((entry) => entry.workspace === 'relay-ws')!, owner: 'n1', epoch: 1 },
  )
  const text = await runCli(['cluster', 'status', '--redis', redis.url])
  assert.match(text.stdout, /relay-ws {2}owner n1 \(epoch 1,/)
})

test('a lock claimed through three nodes has one holder at a time, granted in arrival order with rising tokens', async () => {
  const ws = 'relay-locks'
  const watcher = await Watcher.start(nodes[1]!, ws)
  const workers: CoordPeer[] = []
  for (let i = 0; i < 6; i++) workers.push(await joinCoord(nodes[i % 3]!, ws, await who(`worker${i}`, 'editor'), { timeoutMs: 10_000 }))
  // Claims one after another, each once the previous one is in the lock, so arrival order is known.
  const keys: string[] = []
  for (const worker of workers) {
    const key = claim(worker, 'c', { resources: ['db'], mode: 'exclusive' })
    keys.push(key)
    await until(
      worker.doc,
      () => [...holdersOf(worker.doc, 'db'), ...queueOf(worker.doc, 'db')].includes(key),
      10_000,
      () => `${key} never reached the lock`,
    )
  }
  assert.equal(holdersOf(watcher.doc, 'db').length <= 1, true)
  const tokens: number[] = []
  for (const [i, worker] of workers.entries()) {
    const outcome = await waitOutcome(worker, keys[i]!, ['granted'], 10_000)
    tokens.push(outcome.token!)
    assert.equal(holdersOf(worker.doc, 'db'), [keys[i]], `holders when ${keys[i]} was granted`)
    release(worker, keys[i]!)
  }
  await waitFor(() => !locksOf(watcher.doc).has('db'), 10_000, 'the lock was never freed')
  watcher.assertClean()
  assert.equal(
    watcher.grants.filter((grant) => grant.resource === 'db').map((grant) => grant.claim),
    keys,
    'grants out of arrival order',
  )
  assert.is(watcher.maxHolders.get('db'), 1, 'two holders at once')
  for (let i = 1; i < tokens.length; i++) assert.ok(tokens[i]! > tokens[i - 1]!, `tokens not rising: ${tokens}`)
  // Outcomes leave with their released claims: the watcher saw the same tokens granted.
  assert.equal(
    watcher.grants.filter((grant) => grant.resource === 'db').map((grant) => grant.token),
    tokens,
  )
})

test('lock-only clients on three nodes: requests and notices go through the relays, one holder at a time, rising tokens', async () => {
  const ws = 'relay-lock-only'
  const watcher = await Watcher.start(nodes[0]!, ws)
  const clients: LockClient[] = []
  for (let i = 0; i < 3; i++) {
    const token = await mintToken(`lo${i}`, 'editor', ws)
    clients.push(await connectLocks({ url: nodes[i]!.httpUrl, workspace: ws, token, connectTimeoutMs: 10_000 }))
  }
  try {
    const first = await clients[0]!.acquire('db')
    const waiting = [clients[1]!.acquire('db'), clients[2]!.acquire('db')]
    await waitFor(
      () => queueOf(watcher.doc, 'db').length === 2,
      10_000,
      () => `queue seen by the watcher: ${queueOf(watcher.doc, 'db')}`,
    )
    await first.release()
    const second = await Promise.race(waiting)
    assert.ok(second.token > first.token, `tokens ${first.token} then ${second.token}`)
    await second.release()
    const both = await Promise.all(waiting)
    const third = both.find((lock) => lock !== second)!
    assert.ok(third.token > second.token, `tokens ${second.token} then ${third.token}`)
    await third.release()
    await waitFor(() => !locksOf(watcher.doc).has('db'), 10_000, 'the lock was never freed')
    // (not watcher.assertClean(): its ledger knows the claims the test's replicas write, and these
    // are written by the server for their lock-only sessions)
    assert.is(watcher.maxHolders.get('db'), 1, 'two holders at once')
  } finally {
    await Promise.all(clients.map((client) => client.close()))
  }
})

test("an owner gives a workspace up once its rooms unload idle; the next client's node takes it", async () => {
  const token = await mintToken('gus', 'editor')
  const first = await connectPeer(nodes[1]!, 'idle-ws/doc', { token })
  first.doc.getText('t').insert(0, 'written on n2')
  await waitFor(async () => (await health(nodes[1]!)).cluster.owns.includes('idle-ws'), 5000, 'n2 does not own idle-ws')
  await waitFor(() => first.doc.getText('t').length > 0 && first.provider.synced, 5000, 'not synced')
  first.destroy()
  await waitFor(async () => !(await health(nodes[1]!)).cluster.owns.includes('idle-ws'), 15_000, 'n2 kept the idle workspace')
  // The node forgets the workspace first and then releases its lease in Redis: wait for that too.
  let owner: string | null | undefined
  await waitFor(
    async () => {
      const status = JSON.parse((await runCli(['cluster', 'status', '--redis', redis.url, '--json'])).stdout) as {
        workspaces: Array<{ workspace: string; owner: string | null }>
      }
      owner = status.workspaces.find((entry) => entry.workspace === 'idle-ws')?.owner
      return owner === null
    },
    15_000,
    () => `huddle cluster status still shows idle-ws owned by ${owner}`,
  )
  const second = await connectPeer(nodes[2]!, 'idle-ws/doc', { token, timeoutMs: 10_000 })
  assert.is(second.doc.getText('t').toString(), 'written on n2')
  assert.ok((await health(nodes[2]!)).cluster.owns.includes('idle-ws'), 'n3 did not take the workspace of its client')
})

test.run()
