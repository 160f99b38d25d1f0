// Cluster mode: what one node relays to another is signed with the cluster's secret
// (server/cluster/relay-proof.ts). A client that sends the relay header itself is served as the
// client it is — counted as connected directly, so rebalancing never hands its workspace to the
// node it names (a node that does not exist would keep the workspace's lease from everyone) —
// while the nodes' own relaying still works.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { WebSocket } from 'ws'
import { connectPeer, mintToken, newSession, waitFor } from './helpers/clients.js'
import { withCluster } from './helpers/redis.js'
import type { TestServer } from './helpers/server.js'

const LEASE_MS = 1000
const cluster = withCluster(test, ['--owner-lease', `${LEASE_MS}ms`])

const owns = async (server: TestServer) => (await server.fetchJson<{ cluster: { owns: string[] } }>('/healthz')).cluster.owns

async function metric(server: TestServer, name: string): Promise<number> {
  const text = await (await fetch(`${server.httpUrl}/metrics`)).text()
  return Number(new RegExp(`^${name} (\\S+)`, 'm').exec(text)?.[1] ?? Number.NaN)
}

test('a client posing as a relaying node is counted as a direct client: its workspace is not handed to that node', async () => {
  const a = await cluster.node('a')
  const b = await cluster.node('b')
  const token = await mintToken('mallory', 'editor')
  const url = `${a.wsUrl}/posing/doc?token=${encodeURIComponent(token)}&session=${newSession()}`
  const posing = new WebSocket(url, { headers: { 'x-huddle-relayed-by': 'ghost', 'x-huddle-relay-proof': 'made-up' } })
  await new Promise<void>((resolve, reject) => {
    posing.once('open', () => resolve())
    posing.once('error', reject)
  })
  await waitFor(async () => (await owns(a)).includes('posing'), 10_000, 'a never served the workspace')
  // A control workspace a owns, which b relays only from now on: rebalancing moves it to b after a
  // whole lease. Once it has moved, the posing client's workspace — relayed-only for longer, if the
  // header were believed — would have moved too.
  const controlDirect = await connectPeer(a, 'control/doc', { token, timeoutMs: 10_000 })
  await connectPeer(b, 'control/doc', { token, timeoutMs: 10_000 })
  controlDirect.destroy()
  await waitFor(async () => (await owns(b)).includes('control'), 10 * LEASE_MS + 10_000, 'the control workspace never moved to b')
  assert.ok((await owns(a)).includes('posing'), 'the workspace left a for a node that does not exist')
  assert.is(await metric(a, 'huddle_cluster_workspaces_handed_over'), 1, 'only the control workspace was handed over')
  assert.is(posing.readyState, WebSocket.OPEN, 'the posing client was closed')

  // The nodes' own relaying is unchanged: a client of b reaches the owner a through b.
  const relayed = await connectPeer(b, 'posing/doc', { token, timeoutMs: 10_000 })
  relayed.doc.getText('t').insert(0, 'through b')
  const direct = await connectPeer(a, 'posing/doc', { token, timeoutMs: 10_000 })
  await waitFor(() => direct.doc.getText('t').toString() === 'through b', 10_000, 'the relayed edit never reached a')
  posing.close()
})

test.run()
