// Cluster mode, webhooks (issue 17): an endpoint's deliveries run on the owner of its workspace
// only, so a receiver gets each event once however many nodes run; when the owner stops, the node
// that takes the workspace goes on from the stored cursor.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { createWebhook } from './fixtures/webhooks-api.js'
import { Receiver } from './fixtures/webhook-receiver.js'
import { mintToken, waitFor } from './helpers/clients.js'
import { withCluster } from './helpers/redis.js'
import type { TestServer } from './helpers/server.js'

const WS = 'hooked'
const cluster = withCluster(test, ['--owner-lease', '2s', '--webhooks-allow-private', '--webhooks-retry-scale', '0.001'])
const node = cluster.node

/** Revokes a fresh token of WS through `server`: one `token.revoked` event. */
async function revokeOne(server: TestServer, actor: string): Promise<void> {
  const response = await fetch(`${server.httpUrl}/api/workspaces/${WS}/tokens/revoke`, {
    method: 'POST',
    headers: { authorization: `Bearer ${await mintToken('root', 'admin', WS)}`, 'content-type': 'application/json' },
    body: JSON.stringify({ token: await mintToken(actor, 'editor', WS) }),
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

test.run()
