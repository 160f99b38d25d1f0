// Cluster mode, credentials (issue 17): a token revocation or a share link written on one node is
// known to every other node at once — the next REST call or connection is judged with it, and live
// connections close within the usual second or two — although each node keeps them in memory.
import { request as httpRequest } from 'node:http'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { connectPeer, expectRefusal, mintToken, waitFor } from './helpers/clients.js'
import { withCluster } from './helpers/redis.js'
import type { TestServer } from './helpers/server.js'

const cluster = withCluster(test, ['--owner-lease', '2s'])
const node = cluster.node

async function call(server: TestServer, method: string, path: string, token: string | null, body?: unknown) {
  const response = await fetch(`${server.httpUrl}${path}`, {
    method,
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  })
  return { status: response.status, body: (await response.json()) as Record<string, any> }
}

const owns = async (server: TestServer) => (await server.fetchJson<{ cluster: { owns: string[] } }>('/healthz')).cluster.owns

/**
 * Two nodes, each the owner of one workspace (the first node asked about a workspace takes it);
 * each test names its own, as the workspaces of earlier tests stay in Redis.
 */
async function twoOwners(one: string, two: string): Promise<[TestServer, TestServer]> {
  const [a, b] = [await node('a'), await node('b')]
  const admin = await mintToken('root', 'admin', '*')
  assert.is((await call(a, 'GET', `/api/workspaces/${one}/locks`, admin)).status, 200)
  assert.is((await call(b, 'GET', `/api/workspaces/${two}/locks`, admin)).status, 200)
  assert.ok((await owns(a)).includes(one), `a owns ${await owns(a)}`)
  assert.ok((await owns(b)).includes(two), `b owns ${await owns(b)}`)
  return [a, b]
}

test('a token revoked on one node is refused at once by another, on REST and WebSocket, and its live connections there close', async () => {
  const [a, b] = await twoOwners('one', 'two')
  const admin = await mintToken('root', 'admin', '*')
  const leaked = await mintToken('dana', 'editor', '*')
  const live = await connectPeer(b, 'two/doc', { token: leaked })
  const answer = await call(a, 'POST', '/api/workspaces/one/tokens/revoke', admin, { token: leaked })
  assert.is(answer.status, 200, JSON.stringify(answer.body))
  // Node b owns workspace two and judges its calls itself: it must know of a's revocation.
  const rest = await call(b, 'GET', '/api/workspaces/two/locks', leaked)
  assert.is(rest.status, 401, JSON.stringify(rest.body))
  assert.match(rest.body.error, /token revoked by root/)
  const refusal = await expectRefusal(b, 'two/doc', { token: leaked })
  assert.is(refusal.code, 4401)
  assert.match(refusal.reason, /token revoked by root/)
  const close = await waitFor(() => live.closes.find((c) => c.code === 4401), 10_000, 'the live connection on node b to be closed with 4401')
  assert.match(close.reason, /token revoked by root/)
})

test('a share link created on one node is redeemed through another; once revoked, it and its tokens are refused there at once', async () => {
  const [a, b] = await twoOwners('three', 'four')
  const admin = await mintToken('root', 'admin', '*')
  const created = await call(a, 'POST', '/api/workspaces/three/links', admin, { role: 'editor', maxUses: 2 })
  assert.is(created.status, 201, JSON.stringify(created.body))
  const id = created.body.link.id as string
  const described = await call(b, 'GET', `/api/links/${id}`, null)
  assert.is(described.body.usable, true, JSON.stringify(described.body))
  const redeemed = await call(b, 'POST', `/api/links/${id}/redeem`, null, { name: 'Guest One' })
  assert.is(redeemed.status, 200, JSON.stringify(redeemed.body))
  assert.is(redeemed.body.workspace, 'three')
  // The use limit holds across nodes: the second use through a, the third through b is refused.
  assert.is((await call(a, 'POST', `/api/links/${id}/redeem`, null, { name: 'Guest Two' })).status, 200)
  const third = await call(b, 'POST', `/api/links/${id}/redeem`, null, { name: 'Guest Three' })
  assert.is(third.status, 410, JSON.stringify(third.body))
  assert.match(third.body.error, /used up/)

  // The redeemed token works through b (relayed to a, the owner).
  await connectPeer(b, 'three/doc', { token: redeemed.body.token })
  assert.is((await call(a, 'DELETE', `/api/workspaces/three/links/${id}`, admin)).status, 200)
  // Workspace three moves to b (a stops): b must know the link was revoked.
  await a.stop()
  await waitFor(
    async () => (await owns(b)).includes('three') || (await call(b, 'GET', '/api/workspaces/three/locks', admin)).status === 200,
    20_000,
    'b never took workspace three',
  )
  const afterMove = await call(b, 'GET', '/api/workspaces/three/locks', redeemed.body.token)
  assert.is(afterMove.status, 401, JSON.stringify(afterMove.body))
  assert.match(afterMove.body.error, /share link this token came from was revoked/)
  assert.is((await expectRefusal(b, 'three/doc', { token: redeemed.body.token })).code, 4401)
})

/** POSTs JSON from a loopback address of the caller's choosing (the password limit counts by address). */
function postFrom(server: TestServer, from: string, path: string, body: unknown, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(
      `${server.httpUrl}${path}`,
      { method: 'POST', localAddress: from, headers: { 'content-type': 'application/json', ...headers } },
      (response) => {
        response.resume()
        response.on('end', () => resolve(response.statusCode ?? 0))
      },
    )
    request.on('error', reject)
    request.end(JSON.stringify(body))
  })
}

test("wrong share-link passwords forwarded by a node count against the client's address, not the node's", async () => {
  const [a, b] = await twoOwners('five', 'six')
  const admin = await mintToken('root', 'admin', '*')
  const link = async () =>
    (await call(a, 'POST', '/api/workspaces/five/links', admin, { role: 'viewer', password: 'correct horse battery' })).body.link.id as string
  const [guessed, other] = [await link(), await link()]
  // Through b, forwarded to a (the owner): the guesser at 127.0.0.2 uses up its wrong passwords.
  let status = 0
  for (let i = 0; i < 10 && status !== 429; i++) status = await postFrom(b, '127.0.0.2', `/api/links/${guessed}/redeem`, { password: `wrong guess ${i}` })
  assert.is(status, 429, 'the guesser was never limited')
  // Someone else redeeming through the same node is not limited by the guesser's failures.
  assert.is(await postFrom(b, '127.0.0.3', `/api/links/${other}/redeem`, { password: 'correct horse battery' }), 200)
  // A client cannot claim another address itself: without the node's signature the header is ignored.
  const forged = { 'x-huddle-client-address': '127.0.0.9', 'x-huddle-client-proof': 'forged' }
  assert.is(await postFrom(a, '127.0.0.2', `/api/links/${other}/redeem`, { password: 'wrong again' }, forged), 429)
})

test.run()
