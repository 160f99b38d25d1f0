// Cluster mode, one owner per room (issue 17): the lease scripts hand out strictly increasing
// epochs and renew or release only for the epoch that holds the lease, and every write carries the
// writer's epoch, so an owner paused past its lease (SIGSTOP) can never write once another node
// took over: its writes are refused and it gives the rooms up.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { Fenced, RedisClient } from '../server/cluster/redis.js'
import { RedisStore } from '../server/cluster/redis-store.js'
import * as K from '../server/cluster/keys.js'
import { UpdateBatch } from '../server/store/index.js'
import { connectPeer, mintToken, rejectionOf, waitFor } from './helpers/clients.js'
import { withCluster } from './helpers/redis.js'

const cluster = withCluster(test, ['--owner-lease', '1s'])
const node = cluster.node

test('lease scripts: epochs only grow; renew, release and writes of an old epoch are refused', async () => {
  const client = await RedisClient.connect(cluster.redis.url)
  try {
    const take = async (holder: string) =>
      (await client.script('acquire', [K.lease('fw'), K.epoch('fw'), K.handover('fw')], [holder, `http://${holder}`, 300, holder])) as Array<Buffer | number>
    const first = await take('node-a')
    assert.is(Number(first[0]), 1)
    assert.is(String(first[1]), '1')
    const refused = await take('node-b')
    assert.is(Number(refused[0]), 0, 'a held lease was taken')
    assert.is(String(refused[2]), 'node-a')
    const stale = new RedisStore(client, { epochOf: () => '1' }, { compactAfter: 1000, onError: (error) => assert.unreachable(error.message) })
    await stale.appendUpdate('fw/doc', new Uint8Array([0, 0]))
    await waitFor(async () => (await cluster.inspect.exists(K.lease('fw'))) === 0, 5000, 'the lease never ran out')
    const second = await take('node-b')
    assert.is(Number(second[0]), 1)
    assert.is(String(second[1]), '2', 'the epoch did not grow')
    await rejectionOf(Fenced, stale.appendUpdate('fw/doc', new Uint8Array([0, 0])))
    await rejectionOf(Fenced, stale.put('audit!fw!0000000000000001', new TextEncoder().encode('{}')))
    await rejectionOf(Fenced, stale.put('changeset!fw!cs1', new TextEncoder().encode('{}')))
    assert.is(Number(await client.script('renew', [K.lease('fw')], ['1', 300])), 0, "epoch 1 renewed epoch 2's lease")
    assert.is(Number(await client.script('release', [K.lease('fw')], ['1'])), 0, "epoch 1 released epoch 2's lease")
    assert.is(await cluster.inspect.hget(K.lease('fw'), 'node'), 'node-b')
    assert.is(await cluster.inspect.xlen(K.log('fw/doc')), 1, 'the stale append reached the log')
    assert.is(await cluster.inspect.hexists(K.kv('{fw}'), 'audit!fw!0000000000000001'), 0, 'the stale put reached the audit log')
    assert.is(await cluster.inspect.hexists(K.kv('{fw}'), 'changeset!fw!cs1'), 0, 'the stale put reached the change sets')
    assert.is(await cluster.inspect.hexists(K.kv(K.GLOBAL_TAG), 'changeset!fw!cs1'), 0, 'the change set went under {global}')
  } finally {
    await client.close()
  }
})

test('an owner paused past its lease cannot write after another node took over, and steps down', async () => {
  const a = await node('paused')
  const b = await node('successor')
  const token = await mintToken('carol', 'editor')
  const early = await connectPeer(a, 'sleepy/doc', { token })
  early.doc.getText('t').insert(0, 'A1 ')
  await waitFor(async () => (await cluster.inspect.xlen(K.log('sleepy/doc'))) === 1, 5000, 'A never wrote')
  assert.is(await cluster.inspect.hget(K.lease('sleepy'), 'epoch'), '1')

  a.child.kill('SIGSTOP')
  await waitFor(async () => (await cluster.inspect.exists(K.lease('sleepy'))) === 0, 10_000, "A's lease never ran out")
  const late = await connectPeer(b, 'sleepy/doc', { token, timeoutMs: 15_000 })
  assert.is(await cluster.inspect.hget(K.lease('sleepy'), 'epoch'), '2', 'B did not take the workspace with a new epoch')
  late.doc.getText('t').insert(0, 'B1 ')
  // Sent to the paused owner: it reads this only after SIGCONT, with epoch 1 in its memory.
  early.doc.getText('t').insert(0, 'A2 ')
  await waitFor(async () => (await cluster.inspect.xlen(K.log('sleepy/doc'))) >= 2, 5000, 'B never wrote')
  a.child.kill('SIGCONT')

  await waitFor(
    () => early.closes.some((close) => close.code === 1013),
    10_000,
    () => `A never closed its client with 1013 (closes: ${JSON.stringify(early.closes)})`,
  )
  await waitFor(
    async () => {
      const health = await a.fetchJson<{ cluster: { owns: string[] } }>('/healthz')
      return health.cluster.owns.length === 0
    },
    10_000,
    'A still claims to own the workspace',
  )
  // Nothing of epoch 1 follows anything of epoch 2 in the log: the paused owner wrote nothing.
  const epochs = (await cluster.inspect.xrange(K.log('sleepy/doc'), '-', '+')).map(([, fields]) => fields[fields.indexOf('e') + 1])
  const firstOfB = epochs.indexOf('2')
  assert.ok(firstOfB > 0, `no write of epoch 2: ${epochs}`)
  assert.ok(
    epochs.slice(firstOfB).every((epoch) => epoch !== '1'),
    `a write of epoch 1 after epoch 2 took over: ${epochs}`,
  )
  // The client reconnects (to A, which now relays to B) and its edit is not lost.
  await waitFor(
    () => late.doc.getText('t').toString().includes('A2'),
    15_000,
    () => `A2 never reached B's client: ${late.doc.getText('t').toString()}`,
  )
  // B1 reaches the reconnected client on its own socket, maybe after A2 reached B's client.
  await waitFor(
    () => early.doc.getText('t').toString().includes('B1'),
    15_000,
    () => `B1 never reached the reconnected client: ${early.doc.getText('t').toString()}`,
  )
  assert.is(early.doc.getText('t').toString(), late.doc.getText('t').toString())
})

test("a document update's batch is written under its workspace's fence, and one holding keys of no or another workspace is refused whole", async () => {
  const client = await RedisClient.connect(cluster.redis.url)
  try {
    const lease = (await client.script('acquire', [K.lease('bw'), K.epoch('bw'), K.handover('bw')], ['node-a', 'http://node-a', 60_000, 'node-a'])) as Array<
      Buffer | number
    >
    const epoch = String(lease[1])
    await cluster.inspect.zadd(K.WORKSPACES, 0, 'bw') // as Ownership does when it takes a lease
    const store = new RedisStore(
      client,
      { epochOf: (ws) => (ws === 'bw' ? epoch : null) },
      { compactAfter: 1000, onError: (error) => assert.unreachable(error.message) },
    )
    const encode = (text: string) => new TextEncoder().encode(text)
    const batch = new UpdateBatch()
    batch.put('hist!bw/doc!a!0000000000000000', encode('attribution'))
    await store.appendUpdate('bw/doc', new Uint8Array([0, 0]), batch)
    assert.is(await cluster.inspect.hexists(K.kv('{bw}'), 'hist!bw/doc!a!0000000000000000'), 1, "history keys are not under the workspace's hash tag")
    assert.is(new TextDecoder().decode(await store.get('hist!bw/doc!a!0000000000000000')), 'attribution')
    // A range over every workspace's history looks under every workspace's tag.
    assert.equal(
      (await store.readRange({ gt: 'hist!', lt: 'hist!~' })).map(([key]) => key).filter((key) => key.startsWith('hist!bw/')),
      ['hist!bw/doc!a!0000000000000000'],
    )
    for (const key of ['meta!bw', 'audit!other!0000000000000001']) {
      const foreign = new UpdateBatch()
      foreign.put('hist!bw/doc!a!0000000000000001', encode('attribution'))
      foreign.put(key, encode('elsewhere'))
      const error = await rejectionOf(Error, store.appendUpdate('bw/doc', new Uint8Array([0, 0]), foreign))
      assert.match(error.message, key)
      assert.is(await store.get(key), undefined, `${key} was written`)
      assert.is(await store.get('hist!bw/doc!a!0000000000000001'), undefined, 'part of a refused batch was written')
    }
    assert.is(await cluster.inspect.xlen(K.log('bw/doc')), 1, 'the update of a refused batch was written')
  } finally {
    await client.close()
  }
})

test('a client relayed to an owner that stops answering is closed with 1013, and another node serves it', async () => {
  const owner = await node('frozen', ['--ping-interval', '300ms'])
  const relay = await node('thawed', ['--ping-interval', '300ms'])
  const token = await mintToken('ivy', 'editor')
  const direct = await connectPeer(owner, 'frozen-ws/doc', { token })
  const relayed = await connectPeer(relay, 'frozen-ws/doc', { token })
  relayed.doc.getText('t').insert(0, 'before ')
  await waitFor(() => direct.doc.getText('t').toString() === 'before ', 5000, 'the relayed edit never reached the owner')

  owner.child.kill('SIGSTOP')
  // The relay still answers the client's pings: only its own pings to the owner can tell.
  await waitFor(
    () => relayed.closes.some((close) => close.code === 1013),
    10_000,
    () => `the relayed client was never closed (closes: ${JSON.stringify(relayed.closes)})`,
  )
  await waitFor(
    async () => (await relay.fetchJson<{ cluster: { owns: string[] } }>('/healthz')).cluster.owns.includes('frozen-ws'),
    20_000,
    'the relay node never took the workspace of the paused owner',
  )
  relayed.doc.getText('t').insert(relayed.doc.getText('t').length, 'after')
  const reader = await connectPeer(relay, 'frozen-ws/doc', { token, timeoutMs: 15_000 })
  await waitFor(
    () => reader.doc.getText('t').toString() === 'before after',
    15_000,
    () => `the reader has ${reader.doc.getText('t').toString()}`,
  )
})

test.run()
