// Cluster mode, webhooks (issue 17): an endpoint's deliveries run on the owner of its workspace
// only, so a receiver gets each event once however many nodes run; when the owner stops, the node
// that takes the workspace goes on from the stored cursor.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import * as K from '../server/cluster/keys.js'
import { adminGet, createWebhook } from './fixtures/webhooks-api.js'
import { Receiver } from './fixtures/webhook-receiver.js'
import { mintToken, waitFor } from './helpers/clients.js'
import { withCluster } from './helpers/redis.js'
import type { TestServer } from './helpers/server.js'

const WS = 'hooked'
const cluster = withCluster(test, ['--owner-lease', '2s', '--webhooks-allow-private', '--webhooks-retry-scale', '0.001'])
const node = cluster.node

/** Revokes a fresh token of `workspace` through `server`: one `token.revoked` event. */
async function revokeOne(server: TestServer, actor: string, workspace = WS): Promise<void> {
  const response = await fetch(`${server.httpUrl}/api/workspaces/${workspace}/tokens/revoke`, {
    method: 'POST',
    headers: { authorization: `Bearer ${await mintToken('root', 'admin', workspace)}`, 'content-type': 'application/json' },
    body: JSON.stringify({ token: await mintToken(actor, 'editor', workspace) }),
  })
  assert.is(response.status, 200, await response.text())
}

test('with two nodes each event reaches the receiver once, and the new owner goes on after the old one stops', async () => {
  const receiver = await Receiver.start()
  let open = false
  receiver.respond = () => (open ? 200 : 503)
  try {
    const a = await node('a')
    await createWebhook(a, WS, { url: receiver.url, events: ['token.revoked'] })
    await waitFor(() => receiver.ofType('ping').length > 0, 10_000, 'the ping was never tried')
    // b starts while the ping is still failing: it must not deliver too.
    const b = await node('b')
    for (const actor of ['one', 'two', 'three']) await revokeOne(b, actor)
    open = true
    const delivered = () => receiver.received.filter((request) => request.status === 200)
    await waitFor(
      () => delivered().length >= 4,
      15_000,
      () => `delivered: ${JSON.stringify(delivered().map((r) => r.json?.type))}`,
    )

    await a.stop()
    await revokeOne(b, 'four')
    // Deliveries of one endpoint are in order: once the last event is in, any copy of the earlier
    // ones sent from b would have arrived before it.
    await waitFor(
      () => delivered().length >= 5,
      15_000,
      () => `delivered: ${JSON.stringify(delivered().map((r) => r.json?.type))}`,
    )
    const ids = delivered().map((request) => request.headers['webhook-id'])
    assert.is(new Set(ids).size, ids.length, `an event was delivered twice: ${JSON.stringify(delivered().map((r) => [r.json?.type, r.headers['webhook-id']]))}`)
    assert.equal(
      delivered().map((request) => request.json?.type),
      ['ping', 'token.revoked', 'token.revoked', 'token.revoked', 'token.revoked'],
    )
  } finally {
    await receiver.close()
  }
})

test('endpoints and change sets an earlier version kept under {global} move to their workspace when a node joins, and work', async () => {
  const receiver = await Receiver.start()
  try {
    const a = await node('a')
    const created = await createWebhook(a, 'legacy', { url: receiver.url, events: ['token.revoked'] })
    await waitFor(() => receiver.ofType('ping').some((request) => request.status === 200), 10_000, 'the ping never arrived')
    await a.stop()
    // The earlier layout: the endpoint, its delivery log and a change set under {global}.
    const inspect = cluster.inspect
    const ours = (await inspect.zrange(K.idx('{legacy}'), 0, -1)).filter((key) => key.startsWith('webhook'))
    assert.ok(ours.length >= 2, `endpoint keys: ${JSON.stringify(ours)}`)
    for (const key of ours) {
      const value = (await inspect.hgetBuffer(K.kv('{legacy}'), key))!
      await inspect.multi().hdel(K.kv('{legacy}'), key).zrem(K.idx('{legacy}'), key).exec()
      await inspect.multi().hset(K.kv(K.GLOBAL_TAG), key, value).zadd(K.idx(K.GLOBAL_TAG), 0, key).exec()
    }
    const record = { id: 'old1', workspace: 'legacy', title: 'from before', status: 'cancelled', createdAt: 1, updatedAt: 1, docs: [] }
    const proposer = { actor: 'claude', name: 'claude', kind: 'agent', role: 'editor' }
    await inspect
      .multi()
      .hset(K.kv(K.GLOBAL_TAG), 'changeset!legacy!old1', JSON.stringify({ ...record, proposer }))
      .zadd(K.idx(K.GLOBAL_TAG), 0, 'changeset!legacy!old1')
      .exec()

    const b = await node('b')
    const left = (await inspect.zrange(K.idx(K.GLOBAL_TAG), 0, -1)).filter((key) => /^(changeset|webhook|webhook-log)!/.test(key))
    assert.equal(left, [], 'keys were left under {global}')
    const listed = (await adminGet(b, 'legacy', 'webhooks')).webhooks as Array<{ id: string }>
    assert.equal(
      listed.map((endpoint) => endpoint.id),
      [created.id],
    )
    const changeset = (await adminGet(b, 'legacy', 'changesets/old1')) as { title?: string }
    assert.is(changeset.title, 'from before')
    await revokeOne(b, 'after', 'legacy')
    await waitFor(() => receiver.ofType('token.revoked').some((request) => request.status === 200), 15_000, 'the moved endpoint never delivered')
    assert.is(receiver.ofType('ping').length, 1, 'the moved endpoint started over')
  } finally {
    await receiver.close()
  }
})

test.run()
