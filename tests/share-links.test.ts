// Share links (docs/design.md §3): admins create, list and revoke them; redeeming returns a working
// token for the link's workspace and role; passwords, expiry, use limits and revocation hold, and
// revocation reaches live connections within a second.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { Level } from 'level'
import { connectPeer, expectRefusal, mintToken, waitFor } from './helpers/clients.js'
import { TestServer } from './helpers/server.js'
import { approvalMap, requestApproval, statusOf, vote, waitStatus } from './helpers/coordination-maps.js'
import { joinCoord, who } from './helpers/coordination-peers.js'
import { withServer } from './helpers/suite.js'

let server: TestServer
let admin: string

withServer(test, (started) => (server = started))
test.before(async () => {
  admin = await mintToken('root', 'admin', 'team')
})

async function api(path: string, init: { method?: string; token?: string; body?: unknown } = {}) {
  const response = await fetch(`${server.httpUrl}${path}`, {
    method: init.method ?? 'GET',
    headers: { ...(init.token ? { authorization: `Bearer ${init.token}` } : {}), 'content-type': 'application/json' },
    ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
  })
  return { status: response.status, body: (await response.json()) as Record<string, any> }
}

const createLink = (body: Record<string, unknown>) => api('/api/workspaces/team/links', { method: 'POST', token: admin, body })

test('only admins create and list links; a link redeems to a token with its role', async () => {
  const editor = await mintToken('ed', 'editor', 'team')
  const refused = await api('/api/workspaces/team/links', { method: 'POST', token: editor, body: { role: 'viewer' } })
  assert.is(refused.status, 403)
  assert.match(refused.body.error, /admin/)

  const created = await createLink({ role: 'editor', label: 'pairing' })
  assert.is(created.status, 201)
  assert.is(created.body.url, `/join/${created.body.link.id}`)
  assert.is(created.body.link.hasPassword, false)
  assert.not.ok('passwordHash' in created.body.link)

  const listed = await api('/api/workspaces/team/links', { token: admin })
  assert.ok(listed.body.links.some((link: { id: string }) => link.id === created.body.link.id))

  const described = await api(`/api/links/${created.body.link.id}`)
  assert.equal([described.body.workspace, described.body.role, described.body.usable], ['team', 'editor', true])

  const redeemed = await api(`/api/links/${created.body.link.id}/redeem`, { method: 'POST', body: { name: 'Dana Scully' } })
  assert.is(redeemed.status, 200)
  assert.is(redeemed.body.role, 'editor')
  assert.match(redeemed.body.actor, /^guest-dana-scully-[0-9a-f]{6}$/)
  const peer = await connectPeer(server, 'team/notes', { token: redeemed.body.token })
  peer.doc.getText('body').insert(0, 'hello')
  const check = await connectPeer(server, 'team/notes', { token: admin })
  await waitFor(() => check.doc.getText('body').toString() === 'hello', 5000, 'an edit made with a link token')
})

test('bad link specs are refused with a reason', async () => {
  for (const body of [{ role: 'owner' }, { role: 'viewer', maxUses: 0 }, { role: 'viewer', expiresInMs: 5 }, { role: 'viewer', password: 42 }]) {
    const response = await createLink(body)
    assert.is(response.status, 400, JSON.stringify(body))
    assert.type(response.body.error, 'string')
  }
})

test('a password-protected link needs its password, which is stored only as a hash', async () => {
  const created = await createLink({ role: 'viewer', password: 'correct horse' })
  const id = created.body.link.id
  assert.is((await api(`/api/links/${id}`)).body.hasPassword, true)
  const wrong = await api(`/api/links/${id}/redeem`, { method: 'POST', body: { name: 'x', password: 'wrong' } })
  assert.is(wrong.status, 401)
  assert.match(wrong.body.error, /wrong password/)
  const missing = await api(`/api/links/${id}/redeem`, { method: 'POST', body: { name: 'x' } })
  assert.is(missing.status, 401)
  const right = await api(`/api/links/${id}/redeem`, { method: 'POST', body: { name: 'x', password: 'correct horse' } })
  assert.is(right.status, 200)
})

test('a use limit and an expiry are enforced with readable messages', async () => {
  const limited = (await createLink({ role: 'viewer', maxUses: 2 })).body.link.id
  for (let i = 0; i < 2; i++) assert.is((await api(`/api/links/${limited}/redeem`, { method: 'POST', body: {} })).status, 200)
  const third = await api(`/api/links/${limited}/redeem`, { method: 'POST', body: {} })
  assert.is(third.status, 410)
  assert.match(third.body.error, /used up/)
  assert.is((await api(`/api/links/${limited}`)).body.usable, false)

  const shortLived = (await createLink({ role: 'viewer', expiresInMs: 1000 })).body.link.id
  await waitFor(async () => (await api(`/api/links/${shortLived}`)).body.usable === false, 5000, 'the link to expire')
  const late = await api(`/api/links/${shortLived}/redeem`, { method: 'POST', body: {} })
  assert.is(late.status, 410)
  assert.match(late.body.error, /expired/)
  assert.is((await api('/api/links/nope/redeem', { method: 'POST', body: {} })).status, 404)
})

test('revoking a link refuses its tokens, closing live connections within about a second', async () => {
  const id = (await createLink({ role: 'editor' })).body.link.id
  const { token } = (await api(`/api/links/${id}/redeem`, { method: 'POST', body: { name: 'Guest' } })).body
  const peer = await connectPeer(server, 'team/live', { token })
  const revokedAt = Date.now()
  assert.equal((await api(`/api/workspaces/team/links/${id}`, { method: 'DELETE', token: admin })).body, { revoked: id })
  await waitFor(() => peer.closes.find((close) => close.code === 4401), 3000, 'the live connection to be closed with 4401')
  assert.ok(Date.now() - revokedAt < 2500, 'closed within the sweep interval')
  assert.match(peer.closes.find((close) => close.code === 4401)!.reason, /revoked/)
  const again = await expectRefusal(server, 'team/live', { token, session: 'revoked-session-0001' })
  assert.is(again.code, 4401)
  assert.is((await api('/api/workspaces/team/audit', { token })).status, 401)
  assert.is((await api(`/api/links/${id}/redeem`, { method: 'POST', body: {} })).status, 410)
})

test('links survive a restart, and no password is stored in clear', async () => {
  const id = (await createLink({ role: 'viewer', password: 'plaintext-canary' })).body.link.id
  await server.stop()
  const db = new Level<string, string>(server.dataDir)
  const values: string[] = []
  for await (const [key, value] of db.iterator({ gt: 'link!', lt: 'link!~' })) values.push(`${key}=${value}`)
  await db.close()
  assert.ok(values.some((value) => value.includes(id)))
  assert.not.ok(values.some((value) => value.includes('plaintext-canary')))
  await server.restart()
  assert.is((await api(`/api/links/${id}`)).body.hasPassword, true)
})

test('a link password must be at least 8 characters', async () => {
  const short = await createLink({ role: 'viewer', password: 'hunter2' })
  assert.is(short.status, 400)
  assert.match(short.body.error, /at least 8 characters/)
  assert.is((await createLink({ role: 'viewer', password: 'hunter22' })).status, 201)
})

test('wrong passwords: 5 a minute per link and per address, then 429 with Retry-After before any check; each failure audited', async () => {
  const own = await TestServer.start()
  try {
    const call = async (path: string, body?: unknown, token?: string) => {
      const response = await fetch(`${own.httpUrl}${path}`, {
        method: body ? 'POST' : 'GET',
        headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
        ...(body ? { body: JSON.stringify(body) } : {}),
      })
      return {
        status: response.status,
        retryAfter: response.headers.get('retry-after'),
        body: (await response.json()) as { error?: string; link?: { id: string }; entries?: unknown[] },
      }
    }
    const id = (await call('/api/workspaces/team/links', { role: 'viewer', password: 'correct horse' }, admin)).body.link!.id
    for (let i = 0; i < 5; i++) assert.is((await call(`/api/links/${id}/redeem`, { password: `guess-${i}-guess` })).status, 401)
    const locked = await call(`/api/links/${id}/redeem`, { password: 'correct horse' })
    assert.is(locked.status, 429, 'even the right password waits out the limit')
    assert.match(locked.body.error ?? '', /too many wrong passwords/)
    const seconds = Number(locked.retryAfter)
    assert.ok(seconds >= 1 && seconds <= 60, `Retry-After: ${locked.retryAfter}`)
    // The address is limited too: another link from here waits as well.
    const other = (await call('/api/workspaces/team/links', { role: 'viewer', password: 'another horse' }, admin)).body.link!.id
    assert.is((await call(`/api/links/${other}/redeem`, { password: 'another horse' })).status, 429)
    const audit = (await call('/api/workspaces/team/audit', undefined, admin)).body.entries as Array<{ type: string; data: { reason: string; link: string } }>
    const failures = audit.filter((entry) => entry.type === 'refused' && entry.data.link === id)
    assert.is(failures.length, 5, 'each wrong password audited once; the refused-by-limit ones not')
    assert.match(failures[0]!.data.reason, /wrong share-link password/)
  } finally {
    await own.dispose()
  }
})

test('the same holder redeeming again gets the same actor; a quorum counts one vote per link', async () => {
  const id = (await createLink({ role: 'approver' })).body.link.id
  const first = await api(`/api/links/${id}/redeem`, { method: 'POST', body: { name: 'Gail' } })
  assert.match(first.body.holder, /^[A-Za-z0-9_-]{16,64}$/, 'a first redemption gets a holder id to keep')
  const again = await api(`/api/links/${id}/redeem`, { method: 'POST', body: { name: 'Gail again', holder: first.body.holder } })
  assert.is(again.body.actor, first.body.actor, 'the same holder is the same actor')
  const second = await api(`/api/links/${id}/redeem`, { method: 'POST', body: { name: 'Gail' } })
  assert.is.not(second.body.actor, first.body.actor, 'another holder is another guest')
  assert.is((await api(`/api/links/${id}/redeem`, { method: 'POST', body: { holder: 'short' } })).status, 400)

  const requester = await joinCoord(server, 'team', await who('req-link', 'editor', 'human', 'team'))
  const key = requestApproval(requester, 'deploy', { title: 'deploy', action: 'deploy', quorum: 2 })
  await waitStatus(requester, key, 'pending')
  const guests = [first, second].map((redeemed) => ({
    actor: redeemed.body.actor as string,
    role: 'approver' as const,
    kind: 'human' as const,
    token: redeemed.body.token as string,
  }))
  const [g1, g2] = [await joinCoord(server, 'team', guests[0]!), await joinCoord(server, 'team', guests[1]!)]
  vote(g1, key, 'approve')
  await waitFor(() => approvalMap(requester.doc, key).get(`vote:${g1.who.actor}`), 5000, "the first guest's vote")
  vote(g2, key, 'approve')
  const refused = await waitFor(
    async () => {
      const entries = (await api('/api/workspaces/team/audit?limit=1000', { token: admin })).body.entries as Array<{
        type: string
        actor?: string
        data?: { reason?: string }
      }>
      return entries.find((entry) => entry.type === 'refused' && entry.actor === g2.who.actor && /one vote per share link/.test(entry.data?.reason ?? ''))
    },
    5000,
    "the second guest's vote to be refused as a second vote of the link",
  )
  assert.ok(refused)
  assert.is(statusOf(requester.doc, key)?.state, 'pending', 'two guests of one link did not make a quorum of 2')
  // Control: an approver who did not come through the link completes the quorum.
  vote(await joinCoord(server, 'team', await who('appr-link', 'approver', 'human', 'team')), key, 'approve')
  await waitStatus(requester, key, 'approved')
})

test.run()
