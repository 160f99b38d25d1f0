// Locks end to end (docs/design.md §4): stock y-websocket clients write claims, the server grants them
// in arrival order with increasing fencing tokens, all or nothing, shared with shared, with
// waitMs/ttlMs deadlines and admin force-release. A watcher checks every state it receives.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { cleanupClients, delay, waitFor } from './helpers/clients.js'
import { api, fetchAudit } from './helpers/coordination-api.js'
import { until } from './helpers/coordination-compare.js'
import { claim, holdersOf, locksOf, outcomesOf, queueOf, release, waitOutcome } from './helpers/coordination-maps.js'
import { type CoordPeer, joinCoord, who } from './helpers/coordination-peers.js'
import { Watcher } from './helpers/watcher.js'
import { NO_RATE_LIMIT, type TestServer } from './helpers/server.js'
import { withServer } from './helpers/suite.js'

let server: TestServer
withServer(test, (started) => void (server = started), { args: [...NO_RATE_LIMIT, '--lease-grace', '60s'] })

test.after.each(() => {
  cleanupClients()
})

async function peers(ws: string, prefix: string, count: number): Promise<CoordPeer[]> {
  const list: CoordPeer[] = []
  for (let i = 0; i < count; i++) list.push(await joinCoord(server, ws, await who(`${prefix}${i}`, 'editor')))
  return list
}

test('20 clients contending for one exclusive lock are served one at a time, in arrival order, with rising tokens', async () => {
  const ws = 'locks-fifo'
  const watcher = await Watcher.start(server, ws)
  const workers = await peers(ws, 'worker', 20)
  let maxQueue = 0
  watcher.doc.on('afterTransaction', () => (maxQueue = Math.max(maxQueue, queueOf(watcher.doc, 'db').length)))
  const records: Array<{ key: string; token: number; grantedAt: number; releasedAt: number }> = []
  // All claims leave in the same turn; each worker holds briefly once granted, then releases.
  const keys = workers.map((worker) => claim(worker, 'c', { resources: ['db'], mode: 'exclusive' }))
  await Promise.all(
    workers.map(async (worker, i) => {
      const key = keys[i]!
      await until(
        worker.doc,
        () => outcomesOf(worker.doc).get(key)?.state === 'granted',
        30_000,
        () => `${key} was never granted`,
      )
      const grantedAt = Date.now()
      const token = outcomesOf(worker.doc).get(key)!.token!
      await delay(5)
      const releasedAt = Date.now()
      release(worker, key)
      records.push({ key, token, grantedAt, releasedAt })
    }),
  )
  await waitFor(() => !locksOf(watcher.doc).has('db'), 5000, 'locks.db was not removed after the last release')
  watcher.assertClean()

  const byToken = [...records].sort((a, b) => a.token - b.token)
  // Grants follow the order in which the server queued the claims (as seen in locks.db) ...
  assert.equal(
    byToken.map((r) => r.key),
    watcher.arrival.get('db'),
  )
  // ... which is the order the server logged their arrival.
  const audit = await fetchAudit(server, ws, workers[0]!.who.token)
  assert.equal(
    audit.filter((entry) => entry.type === 'claim').map((entry) => entry.data!.key),
    watcher.arrival.get('db'),
  )
  // Tokens strictly increase with grant time, and no two intervals overlap.
  const byGrant = [...records].sort((a, b) => a.grantedAt - b.grantedAt)
  assert.equal(
    byGrant.map((r) => r.key),
    byToken.map((r) => r.key),
  )
  for (let i = 1; i < byToken.length; i++) {
    assert.ok(byToken[i]!.token > byToken[i - 1]!.token, 'tokens must strictly increase')
    assert.ok(byToken[i - 1]!.releasedAt <= byToken[i]!.grantedAt, `${byToken[i]!.key} was granted before ${byToken[i - 1]!.key} released`)
  }
  assert.is(watcher.maxHolders.get('db'), 1, 'the watcher saw two holders of db at once')
  // The holds as the watcher saw them: in token order, each one over before the next began.
  const holds = watcher.holds.get('db')!
  assert.equal(
    holds.map((hold) => hold.claim),
    byToken.map((r) => r.key),
  )
  for (let i = 1; i < holds.length; i++) {
    assert.ok(
      holds[i - 1]!.to !== undefined && holds[i - 1]!.to! <= holds[i]!.from,
      `holds ${i - 1} and ${i} overlap: ${JSON.stringify(holds.slice(i - 1, i + 1))}`,
    )
  }
  assert.ok(holds[19]!.to !== undefined, 'the last hold never ended')
  assert.is(watcher.grants.filter((grant) => grant.resource === 'db').length, 20)
  assert.ok(maxQueue >= 5, `hardly any contention (longest queue ${maxQueue})`)
  assert.is(watcher.doc.getMap('meta').get('fence'), byToken[19]!.token)
})

test('shared holders coexist; an exclusive waiter is not overtaken by a later shared claim', async () => {
  const ws = 'locks-shared'
  const watcher = await Watcher.start(server, ws)
  const [a, b, c, x, d] = (await peers(ws, 'sh', 5)) as [CoordPeer, CoordPeer, CoordPeer, CoordPeer, CoordPeer]
  const shared = [a, b, c].map((peer) => claim(peer, 's', { resources: ['cfg'], mode: 'shared' }))
  const sharedTokens = []
  for (const [i, peer] of [a, b, c].entries()) sharedTokens.push((await waitOutcome(peer, shared[i]!, ['granted'])).token!)
  await waitFor(() => holdersOf(watcher.doc, 'cfg').length === 3, 5000, 'three shared holders at once')
  const xKey = claim(x, 'x', { resources: ['cfg'], mode: 'exclusive' })
  await waitFor(() => queueOf(watcher.doc, 'cfg').includes(xKey), 5000, 'the exclusive claim was not queued')
  const dKey = claim(d, 'd', { resources: ['cfg'], mode: 'shared' })
  await waitFor(() => queueOf(watcher.doc, 'cfg').includes(dKey), 5000, 'the later shared claim was not queued')
  // The server has handled d's claim: it queued it behind x instead of granting it.
  assert.equal(queueOf(watcher.doc, 'cfg'), [xKey, dKey])
  assert.is(outcomesOf(watcher.doc).get(dKey), undefined)
  assert.equal(holdersOf(watcher.doc, 'cfg').sort(), [...shared].sort())
  release(a, shared[0]!)
  release(b, shared[1]!)
  await waitFor(() => holdersOf(watcher.doc, 'cfg').length === 1, 5000, 'two shared holders released')
  assert.equal(queueOf(watcher.doc, 'cfg'), [xKey, dKey], 'x waits for the last shared holder; d stays behind x')
  release(c, shared[2]!)
  const xGrant = await waitOutcome(x, xKey, ['granted'])
  assert.ok(xGrant.token! > Math.max(...sharedTokens))
  await waitFor(() => holdersOf(watcher.doc, 'cfg')[0] === xKey, 5000, 'x holds cfg')
  assert.equal(queueOf(watcher.doc, 'cfg'), [dKey])
  assert.is(outcomesOf(watcher.doc).get(dKey), undefined, 'd must wait while x holds the lock exclusively')
  release(x, xKey)
  const dGrant = await waitOutcome(d, dKey, ['granted'])
  assert.ok(dGrant.token! > xGrant.token!)
  assert.ok((watcher.maxHolders.get('cfg') ?? 0) >= 3)
  watcher.assertClean()
})

test('a multi-resource claim takes all its resources at once or none, and is not overtaken on a free one', async () => {
  const ws = 'locks-multi'
  const watcher = await Watcher.start(server, ws)
  const [a, b, c] = (await peers(ws, 'multi', 3)) as [CoordPeer, CoordPeer, CoordPeer]
  const aKey = claim(a, 'a', { resources: ['x'], mode: 'exclusive' })
  const aGrant = await waitOutcome(a, aKey, ['granted'])
  const bKey = claim(b, 'b', { resources: ['x', 'y'], mode: 'exclusive' })
  await waitFor(() => queueOf(watcher.doc, 'x').includes(bKey) && queueOf(watcher.doc, 'y').includes(bKey), 5000, 'b queued on x and y')
  assert.equal(holdersOf(watcher.doc, 'y'), [], 'b must not hold y while it waits for x')
  const cKey = claim(c, 'c', { resources: ['y'], mode: 'exclusive' })
  await waitFor(() => queueOf(watcher.doc, 'y').includes(cKey), 5000, 'c was not queued on y')
  assert.equal(queueOf(watcher.doc, 'y'), [bKey, cKey], 'c waits behind b although y is free')
  assert.is(outcomesOf(watcher.doc).get(cKey), undefined)
  release(a, aKey)
  const bGrant = await waitOutcome(b, bKey, ['granted'])
  assert.ok(bGrant.token! > aGrant.token!)
  await waitFor(() => holdersOf(watcher.doc, 'x')[0] === bKey && holdersOf(watcher.doc, 'y')[0] === bKey, 5000, 'b holds x and y')
  const tokens = ['x', 'y'].map((resource) => locksOf(watcher.doc).get(resource)!.holders[0]!.token)
  assert.equal(tokens, [bGrant.token, bGrant.token], 'one token for the whole grant')
  assert.equal(queueOf(watcher.doc, 'y'), [cKey])
  release(b, bKey)
  const cGrant = await waitOutcome(c, cKey, ['granted'])
  assert.is(cGrant.token, bGrant.token! + 1)
  watcher.assertClean()
})

test('waitMs ends a wait with outcome timeout; waitMs 0 is a try-lock; ttlMs ends a hold with outcome expired', async () => {
  const ws = 'locks-deadlines'
  const watcher = await Watcher.start(server, ws)
  const [a, b, c, e, f] = (await peers(ws, 'dl', 5)) as [CoordPeer, CoordPeer, CoordPeer, CoordPeer, CoordPeer]
  const aKey = claim(a, 'a', { resources: ['w'], mode: 'exclusive' })
  await waitOutcome(a, aKey, ['granted'])
  const bKey = claim(b, 'b', { resources: ['w'], mode: 'exclusive', waitMs: 300 })
  const timeout = await waitOutcome(b, bKey, ['timeout', 'granted'])
  assert.is(timeout.state, 'timeout')
  // b's socket, not the watcher's: the watcher's copies of the queue entry and the timeout may be unread.
  await waitOutcome(watcher.peer, bKey, ['timeout'])
  const queuedAt = watcher.waiters.get(bKey)?.queuedAt
  assert.ok(queuedAt !== undefined, 'the watcher never saw b queued')
  assert.ok(timeout.at >= queuedAt! + 300, `timed out at +${timeout.at - queuedAt!} ms, before waitMs`)
  assert.match(timeout.reason ?? '', /waitMs/)
  assert.is(timeout.token, undefined)
  await waitFor(() => !queueOf(watcher.doc, 'w').includes(bKey), 5000, 'b left the queue')
  // try-lock
  const cKey = claim(c, 'c', { resources: ['w'], mode: 'exclusive', waitMs: 0 })
  assert.is((await waitOutcome(c, cKey)).state, 'timeout')
  await waitOutcome(watcher.peer, cKey, ['timeout'])
  assert.not.ok(watcher.arrival.get('w')!.includes(cKey), 'a try-lock must never be queued')
  // ttl
  const eKey = claim(e, 'e', { resources: ['t'], mode: 'exclusive', ttlMs: 300 })
  const eGrant = await waitOutcome(e, eKey, ['granted', 'expired'])
  const fKey = claim(f, 'f', { resources: ['t'], mode: 'exclusive' })
  const expired = await waitOutcome(e, eKey, ['expired'])
  await waitOutcome(watcher.peer, eKey, ['expired'])
  const expiresAt = watcher.grants.find((grant) => grant.claim === eKey)?.holder.expiresAt
  assert.is(expiresAt, (watcher.grants.find((grant) => grant.claim === eKey)?.holder.grantedAt ?? NaN) + 300)
  assert.ok(expired.at >= expiresAt!)
  assert.is(expired.token, eGrant.token)
  const fGrant = await waitOutcome(f, fKey, ['granted'])
  assert.ok(fGrant.token! > eGrant.token! && fGrant.at >= expiresAt!)
  // The waiter is answered first (hooks.ts answerFirst): the watcher may see the grant later.
  await waitOutcome(watcher.peer, fKey, ['granted'])
  assert.equal(holdersOf(watcher.doc, 't'), [fKey])
  // A's lock, with no ttl, is still held all along.
  assert.equal(holdersOf(watcher.doc, 'w'), [aKey])
  watcher.assertClean()
})

test('an admin force-releases a lock over REST (outcome revoked, next waiter granted); others get 403', async () => {
  const ws = 'locks-revoke'
  const watcher = await Watcher.start(server, ws)
  const [a, b] = (await peers(ws, 'rv', 2)) as [CoordPeer, CoordPeer]
  const aKey = claim(a, 'a', { resources: ['r/1'], mode: 'exclusive' })
  const aGrant = await waitOutcome(a, aKey, ['granted'])
  const bKey = claim(b, 'b', { resources: ['r/1'], mode: 'exclusive' })
  await waitFor(() => queueOf(watcher.doc, 'r/1').includes(bKey), 5000, 'b queued')
  const path = `/api/workspaces/${ws}/locks/${encodeURIComponent('r/1')}?reason=stuck`
  for (const role of ['viewer', 'editor', 'approver'] as const) {
    const response = await api(server, 'DELETE', path, (await who(`not-admin-${role}`, role)).token)
    assert.is(response.status, 403, `a ${role} must not force-release: ${JSON.stringify(response.body)}`)
  }
  assert.is((await api(server, 'DELETE', path)).status, 401)
  assert.equal(holdersOf(watcher.doc, 'r/1'), [aKey], 'refused force-releases change nothing')
  const admin = await who('boss', 'admin', 'human', ws)
  const response = await api(server, 'DELETE', path, admin.token)
  assert.is(response.status, 200, JSON.stringify(response.body))
  const revoked = await waitOutcome(a, aKey, ['revoked'])
  assert.is(revoked.token, aGrant.token)
  assert.match(revoked.reason ?? '', /revoked by boss: stuck/)
  const bGrant = await waitOutcome(b, bKey, ['granted'])
  assert.ok(bGrant.token! > aGrant.token!)
  await waitOutcome(watcher.peer, bKey, ['granted'])
  assert.equal(holdersOf(watcher.doc, 'r/1'), [bKey])
  // Nobody holds `nothing`: a conflict, not a silent success.
  assert.is((await api(server, 'DELETE', `/api/workspaces/${ws}/locks/nothing`, admin.token)).status, 409)
  const audit = await fetchAudit(server, ws, admin.token)
  assert.ok(
    audit.some((entry) => entry.type === 'revoke' && entry.data?.key === aKey && (entry.data?.by as string[])?.[0] === 'boss'),
    'the revoke is audited',
  )
  watcher.assertClean()
})

test.run()
