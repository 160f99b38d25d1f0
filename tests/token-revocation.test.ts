// Token revocation (docs/design.md §3): an admin revokes a token of their workspace; live connections
// using it close with 4401 within about a second, new ones and REST calls are refused, the
// revocation is audited and survives a restart, and nothing else of that actor is affected.
import { createHash } from 'node:crypto'
import { Level } from 'level'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { connectPeer, expectRefusal, mintToken, waitFor } from './helpers/clients.js'
import { fetchAudit } from './helpers/coordination-api.js'
import { runCli, type TestServer } from './helpers/server.js'
import { withServer } from './helpers/suite.js'
import { cliEnv } from './fixtures/client-cli.js'
import { respellings } from './faults/helpers/hostile.js'

const WS = 'revoke'
let server: TestServer

withServer(test, (started) => (server = started))

async function revoke(workspace: string, adminToken: string | null, body: unknown): Promise<{ status: number; body: Record<string, any> }> {
  const response = await fetch(`${server.httpUrl}/api/workspaces/${workspace}/tokens/revoke`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(adminToken ? { authorization: `Bearer ${adminToken}` } : {}) },
    body: JSON.stringify(body),
  })
  return { status: response.status, body: (await response.json()) as Record<string, any> }
}

const auditStatus = async (token: string) =>
  (await fetch(`${server.httpUrl}/api/workspaces/${WS}/audit`, { headers: { authorization: `Bearer ${token}` } })).status

test("a revoked token closes its live connections with 4401 and is refused from then on; the actor's other tokens still work", async () => {
  const admin = await mintToken('root', 'admin', WS)
  const leaked = await mintToken('dana', 'editor', WS)
  const other = await mintToken('dana', 'editor', WS)
  const peer = await connectPeer(server, `${WS}/doc`, { token: leaked })
  const unaffected = await connectPeer(server, `${WS}/doc`, { token: other })
  const revokedAt = Date.now()
  const answer = await revoke(WS, admin, { token: leaked })
  assert.is(answer.status, 200, JSON.stringify(answer.body))
  assert.equal(answer.body, { revoked: true, alreadyRevoked: false, subject: 'dana', expiresAt: answer.body.expiresAt })
  const close = await waitFor(() => peer.closes.find((c) => c.code === 4401), 3000, 'the live connection to be closed with 4401')
  assert.ok(Date.now() - revokedAt < 2500, `closed ${Date.now() - revokedAt} ms after the revocation`)
  assert.match(close.reason, /token revoked by root/)
  assert.is((await expectRefusal(server, `${WS}/doc`, { token: leaked })).code, 4401)
  assert.is(await auditStatus(leaked), 401)
  assert.equal(unaffected.closes, [])
  assert.is(await auditStatus(other), 200)
  unaffected.destroy()
  assert.is((await revoke(WS, admin, { token: leaked })).body.alreadyRevoked, true)
  const twice = await Promise.all([revoke(WS, admin, { token: other }), revoke(WS, admin, { token: other })])
  assert.equal(twice.map((answer) => answer.body.alreadyRevoked).sort(), [false, true], 'two concurrent revocations: one revokes, one finds it done')
  const entries = (await fetchAudit(server, WS, admin)).filter((entry) => entry.type === 'token-revoked')
  assert.is(entries.length, 2, 'each token revoked once, audited once')
  assert.is(entries[0]!.actor, 'root')
  assert.is((entries[0]!.data as { subject: string }).subject, 'dana')
  peer.destroy()
})

test('a revoked token is refused in every spelling, on REST and WebSocket, live connections included', async () => {
  const admin = await mintToken('root', 'admin', WS)
  const token = await mintToken('ivy', 'editor', WS)
  const spellings = respellings(token)
  assert.is(spellings.length, 4)
  for (const spelling of spellings) assert.is(await auditStatus(spelling), 200, 'the server accepts the other spellings (so they must be revoked too)')
  const live = await connectPeer(server, `${WS}/doc`, { token: spellings[0]! })
  assert.is((await revoke(WS, admin, { token })).status, 200)
  const close = await waitFor(() => live.closes.find((c) => c.code === 4401), 3000, 'the connection using another spelling to close with 4401')
  assert.match(close.reason, /token revoked/)
  live.destroy()
  for (const spelling of spellings) {
    assert.is(await auditStatus(spelling), 401, `REST accepted the revoked token spelled ${spelling.slice(-3)}`)
    assert.is((await expectRefusal(server, `${WS}/doc`, { token: spelling })).code, 4401)
  }
  assert.is((await revoke(WS, admin, { token: spellings[1]! })).body.alreadyRevoked, true, 'revoking another spelling finds the same token revoked')
})

test("only an admin of the token's workspace may revoke it; bad input gets a reason", async () => {
  const admin = await mintToken('root', 'admin', WS)
  const victim = await mintToken('erin', 'editor', WS)
  const editor = await mintToken('eve', 'editor', WS)
  const byEditor = await revoke(WS, editor, { token: victim })
  assert.is(byEditor.status, 403)
  assert.match(byEditor.body.error, /admin/)
  assert.is((await revoke(WS, null, { token: victim })).status, 401)
  const elsewhere = await mintToken('erin', 'editor', 'other')
  const wrongWorkspace = await revoke(WS, admin, { token: elsewhere })
  assert.is(wrongWorkspace.status, 403)
  assert.match(wrongWorkspace.body.error, /workspace "other"/)
  const everywhere = await mintToken('erin', 'editor', '*')
  assert.match((await revoke(WS, admin, { token: everywhere })).body.error, /admin token for "\*"/)
  assert.is((await revoke(WS, await mintToken('root', 'admin', '*'), { token: everywhere })).status, 200)
  const missing = await revoke(WS, admin, {})
  assert.is(missing.status, 400)
  assert.match(missing.body.error, /\{"token": "<jwt>"\}/)
  const forged = await revoke(WS, admin, { token: `${victim.slice(0, -4)}AAAA` })
  assert.is(forged.status, 400)
  assert.match(forged.body.error, /nothing to revoke: token signature/)
  assert.is(await auditStatus(victim), 200, 'refused attempts revoked nothing')
})

test('`huddle revoke-token <jwt>` revokes as the admin of HUDDLE_TOKEN, and says why when it cannot', async () => {
  const token = await mintToken('gil', 'editor', WS)
  const revoked = await runCli(['revoke-token', token], { env: await cliEnv(server, WS, 'root', 'admin') })
  assert.is(revoked.code, 0, revoked.stderr)
  assert.is(revoked.stdout, 'revoked\n')
  assert.is(await auditStatus(token), 401)
  assert.is((await runCli(['revoke-token', token], { env: await cliEnv(server, WS, 'root', 'admin') })).stdout, 'that token was revoked already\n')
  const notAdmin = await runCli(['revoke-token', await mintToken('hal', 'editor', WS)], { env: await cliEnv(server, WS, 'gus', 'editor') })
  assert.is(notAdmin.code, 1)
  assert.match(notAdmin.stderr, /needs role admin/)
})

test('revocations survive a restart; one whose token has expired is dropped at start', async () => {
  const admin = await mintToken('root', 'admin', WS)
  const token = await mintToken('fay', 'editor', WS)
  // exp has one-second resolution: 2-3 s, so both revocations are made before it expires.
  const shortLived = await mintToken('fay', 'editor', WS, { ttlMs: 3000 })
  assert.is((await revoke(WS, admin, { token })).status, 200)
  assert.is((await revoke(WS, admin, { token: shortLived })).status, 200)
  await server.stop()
  const stored = async () => {
    const db = new Level<string, string>(server.dataDir)
    try {
      return (await db.keys({ gt: 'revoked!', lt: 'revoked!~' }).all()).length
    } finally {
      await db.close()
    }
  }
  const before = await stored()
  await waitFor(
    () => Date.now() > JSON.parse(Buffer.from(shortLived.split('.')[1]!, 'base64url').toString()).exp * 1000,
    10_000,
    'the short-lived token to expire',
  )
  await server.restart()
  assert.is((await expectRefusal(server, `${WS}/doc`, { token })).code, 4401)
  assert.is(await auditStatus(token), 401)
  await server.stop()
  assert.is(await stored(), before - 1, "the expired token's revocation is gone, the others are kept")
  await server.restart()
})

test("a revocation stored by the digest of the token's text (before identities) still refuses every spelling", async () => {
  const token = await mintToken('jon', 'editor', WS)
  await server.stop()
  const db = new Level<string, string>(server.dataDir)
  const digest = createHash('sha256').update(token).digest('base64url')
  const expiresAt = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()).exp * 1000
  await db.put(`revoked!${digest}`, JSON.stringify({ digest, expiresAt, revokedAt: Date.now(), by: 'root' }))
  await db.close()
  await server.restart()
  for (const spelling of [token, ...respellings(token)]) assert.is(await auditStatus(spelling), 401, `accepted ${spelling.slice(-3)}`)
})

test.run()
