// The client library's locks against a real server (lease grace 1 s): acquire and release with
// fencing tokens, waiting with queue position and holders, timeouts, abort, withLock on every
// exit path, lost-lock signals (revoke, ttl, a disconnect longer than the grace period), a short
// network blip that keeps the lock, and arguments refused before anything is sent.
import type { WebSocket } from 'ws'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { connect, type Huddle, HuddleError, type Lock, type WaitInfo } from '../client-lib/node.js'
import { delay, mintToken, rejectionOf, waitFor } from './helpers/clients.js'
import type { TestServer } from './helpers/server.js'
import { withServer } from './helpers/suite.js'
import type { Role } from '../shared/roles.js'

const WS = 'locks'
const GRACE_MS = 1000
let server: TestServer
const clients: Huddle[] = []

// uvu runs after-hooks in the order they were added: the clients close before the server goes.
test.after(async () => {
  for (const client of clients.splice(0)) await client.close()
})
withServer(test, (started) => (server = started), { args: ['--lease-grace', '1s'] })

async function client(actor: string, role: Role = 'editor'): Promise<Huddle> {
  const huddle = await connect({ url: server.httpUrl, workspace: WS, token: await mintToken(actor, role, WS, { kind: 'agent' }), maxBackoffMs: 100 })
  clients.push(huddle)
  return huddle
}

function lostReason(lock: Lock): HuddleError {
  return lock.signal.reason as HuddleError
}

test('acquire resolves with an increasing fencing token; a waiter sees its position and the holder; release hands over', async () => {
  const [a, b, c] = await Promise.all([client('ann'), client('ben'), client('cat')])
  const first = await a.locks.acquire('db')
  assert.ok(first.held)
  assert.is(first.mode, 'exclusive')
  const waits: WaitInfo[] = []
  const second = b.locks.acquire(['db'], { onWait: (info) => waits.push(info) })
  await waitFor(() => waits.length > 0, 3000, 'b reports its wait')
  const thirdWaits: WaitInfo[] = []
  const third = c.locks.acquire('db', { onWait: (info) => thirdWaits.push(info) })
  await waitFor(() => thirdWaits.length > 0, 3000, 'c reports its wait')
  assert.is(waits[0]!.position, 1)
  assert.is(waits[0]!.blockers[0]!.holders[0]!.actor, 'ann')
  assert.is(waits[0]!.blockers[0]!.holders[0]!.token, first.token)
  assert.is(thirdWaits[0]!.position, 2, 'c is behind b')
  assert.equal(
    thirdWaits[0]!.blockers[0]!.ahead.map((w) => w.actor),
    ['ben'],
  )
  // c's own queue entry reached c; b's copy of it comes on b's socket and may still be unread.
  await waitFor(() => b.locks.list().find((l) => l.resource === 'db')?.queue.length === 2, 5000, 'b sees both waiters')

  await first.release()
  assert.not.ok(first.held)
  const got = await second
  assert.ok(got.token > first.token, 'tokens increase')
  await waitFor(() => thirdWaits.some((w) => w.position === 1 && w.blockers[0]!.holders[0]!.actor === 'ben'), 3000, 'c moves up and sees ben holding')
  await got.release()
  const last = await third
  assert.ok(last.token > got.token)
  await last.release()
})

test('a waiter follows its queue from the changed entries: claims on other resources cost it no scan of the queue', async () => {
  const [a, b, c, d] = await Promise.all([client('ann'), client('ben'), client('cat'), client('dan')])
  const held = await a.locks.acquire('inc-db')
  const ahead = new AbortController()
  const benWaits: WaitInfo[] = []
  const second = b.locks.acquire('inc-db', { signal: ahead.signal, onWait: (info) => benWaits.push(info) })
  await waitFor(() => benWaits.length > 0, 3000, 'ben reports his wait')
  const waits: WaitInfo[] = []
  const third = c.locks.acquire('inc-db', { onWait: (info) => waits.push(info) })
  third.catch(() => undefined) // awaited below; closing the clients after a failure rejects it
  await waitFor(() => waits.some((w) => w.position === 2), 3000, 'cat waits behind ben')
  // count cat's full scans of the queue from here on
  const queue = (c as unknown as { ctx: { maps: { queue: { entries(): unknown } } } }).ctx.maps.queue
  const entries = queue.entries.bind(queue)
  let scans = 0
  queue.entries = () => {
    scans++
    return entries()
  }
  // dan queues for other resources and leaves again: cat sees the entries come and go
  const others = Array.from({ length: 5 }, (_, i) => d.locks.acquire(['inc-other', `inc-${i}`]))
  const blocker = await d.locks.acquire('inc-other-holder')
  await Promise.all(others.map((claim) => claim.then((lock) => lock.release())))
  await blocker.release()
  await waitFor(() => !b.locks.list().some((info) => info.resource.startsWith('inc-other')), 3000, 'dan is gone')
  // ben gives up: cat moves up to first in line, still without a scan
  ahead.abort()
  await rejectionOf(HuddleError, second)
  await waitFor(() => waits.some((w) => w.position === 1 && w.blockers[0]!.ahead.length === 0), 3000, 'cat is next in line')
  assert.is(scans, 0, 'no full scan of the queue after cat was queued')
  await held.release()
  const got = await third
  await got.release()
})

test('shared locks coexist; exclusive waits for them; a multi-resource claim takes all at once', async () => {
  const [a, b] = await Promise.all([client('ann'), client('ben')])
  const r1 = await a.locks.acquire('cache', { mode: 'shared' })
  const r2 = await b.locks.acquire('cache', { mode: 'shared' })
  const both = await a.locks.acquire(['x', 'y'])
  assert.equal(both.resources, ['x', 'y'])
  const blocked = await rejectionOf(HuddleError, b.locks.acquire(['y', 'cache'], { waitMs: 0 }))
  assert.is(blocked.code, 'timeout')
  assert.match(blocked.message, /timed out waiting for y, cache/)
  await Promise.all([r1.release(), r2.release(), both.release()])
})

test('waitMs: rejects with timeout and says who holds it; the claim is withdrawn', async () => {
  const [a, b] = await Promise.all([client('ann'), client('ben')])
  const held = await a.locks.acquire('printer')
  const started = Date.now()
  const error = await rejectionOf(HuddleError, b.locks.acquire('printer', { waitMs: 300 }))
  assert.is(error.code, 'timeout')
  assert.ok(Date.now() - started >= 250, 'waited about waitMs')
  assert.match(error.message, /printer held by ann/)
  await waitFor(
    () => !b.doc.getMap('claims').toJSON()[`${b.session}`] && [...b.doc.getMap('claims').keys()].every((k) => !k.startsWith(b.session)),
    3000,
    'b tidied its claim',
  )
  // b deleted it while handling the server's update; the deletion still went out (the client
  // library keeps Yjs from encoding the server's own updates, not the writes made in reply).
  await waitFor(() => [...a.doc.getMap('claims').keys()].every((k) => !k.startsWith(b.session)), 3000, "the server never got b's deletion")
  await held.release()
})

test('abort while waiting: rejects with aborted and leaves the queue; abort before: nothing is sent', async () => {
  const [a, b] = await Promise.all([client('ann'), client('ben')])
  const held = await a.locks.acquire('deploy')
  const controller = new AbortController()
  const waiting = b.locks.acquire('deploy', { signal: controller.signal })
  await waitFor(() => a.locks.list().find((l) => l.resource === 'deploy')?.queue.length === 1, 3000, 'b is queued')
  controller.abort(new Error('changed my mind'))
  const error = await rejectionOf(HuddleError, waiting)
  assert.is(error.code, 'aborted')
  assert.match(error.message, /changed my mind/)
  await waitFor(() => a.locks.list().find((l) => l.resource === 'deploy')?.queue.length === 0, 3000, 'the queue is empty again')
  const early = await rejectionOf(HuddleError, b.locks.acquire('deploy', { signal: AbortSignal.abort() }))
  assert.is(early.code, 'aborted')
  await held.release()
})

test('withLock releases after success, after an error, and on abort', async () => {
  const [a, b] = await Promise.all([client('ann'), client('ben')])
  const value = await a.locks.withLock('job', (lock) => {
    assert.ok(lock.held)
    return lock.token
  })
  assert.type(value, 'number')
  assert.is(a.locks.held().length, 0)

  const boom = new Error('boom')
  try {
    await a.locks.withLock('job', async () => {
      throw boom
    })
    assert.unreachable('withLock rethrows')
  } catch (error) {
    assert.is(error, boom)
  }
  assert.is(a.locks.held().length, 0)

  const controller = new AbortController()
  let inside: Lock | null = null
  const running = a.locks.withLock(
    'job',
    async (lock) => {
      inside = lock
      await new Promise(() => undefined) // never ends by itself
    },
    { signal: controller.signal },
  )
  await waitFor(() => inside, 3000, 'fn runs')
  controller.abort()
  assert.is((await rejectionOf(HuddleError, running)).code, 'aborted')
  assert.not.ok(inside!.held)
  // Released on the server too: someone else gets it at once.
  const next = await b.locks.acquire('job', { waitMs: 5000 })
  await next.release()
})

test('lost lock: revoked by an admin, and expired by its ttl', async () => {
  const [a, admin] = await Promise.all([client('ann'), client('root', 'admin')])
  const lock = await a.locks.acquire('tape')
  await admin.locks.forceRelease('tape', 'maintenance')
  await waitFor(() => lock.signal.aborted, 3000, 'the revoke reaches the holder')
  assert.is(lostReason(lock).code, 'revoked')
  assert.match(lostReason(lock).message, /revoked by root: maintenance/)
  assert.not.ok(lock.held)

  const short = await a.locks.acquire('tape', { ttlMs: 200 })
  assert.ok(short.expiresAt! > short.grantedAt)
  await waitFor(() => short.signal.aborted, 3000, 'the ttl ends the lock')
  assert.is(lostReason(short).code, 'expired')
  const notAdmin = await rejectionOf(HuddleError, a.locks.forceRelease('tape'))
  assert.is(notAdmin.code, 'forbidden')
})

test('a short network blip keeps the lock (same session); a disconnect past the grace period loses it', async () => {
  const [a, b] = await Promise.all([client('ann'), client('ben')])
  const lock = await a.locks.acquire('blip')
  const states: string[] = []
  a.onState((change) => states.push(change.state))
  ;(a.provider.ws as unknown as WebSocket).terminate()
  await waitFor(() => states.includes('disconnected') && a.state === 'connected', 5000, 'a reconnects')
  await delay(GRACE_MS + 300)
  assert.ok(lock.held, 'still held after the blip')
  assert.not.ok(lock.signal.aborted)
  assert.is((await rejectionOf(HuddleError, b.locks.acquire('blip', { waitMs: 0 }))).code, 'timeout', 'the server still gives it to a')

  // Now stay away: the lock is reported lost before the server can hand it to anyone else.
  const lostAt = new Promise<number>((resolve) => lock.signal.addEventListener('abort', () => resolve(Date.now())))
  a.provider.shouldConnect = false
  ;(a.provider.ws as unknown as WebSocket).terminate()
  const cutAt = Date.now()
  const next = b.locks.acquire('blip', { waitMs: 5000 })
  const lostTime = await lostAt
  assert.is(lostReason(lock).code, 'lost')
  assert.match(lostReason(lock).message, /lease grace period/)
  const taken = await next
  const takenAt = Date.now()
  assert.ok(lostTime <= takenAt, 'lost is signalled no later than the lock moves on')
  assert.ok(lostTime - cutAt < GRACE_MS + 600, `lost within the grace period (${lostTime - cutAt} ms)`)
  assert.ok(taken.token > lock.token)
  await taken.release()
})

test('close rejects a waiting acquire with closed and releases held locks at once', async () => {
  const [a, b] = await Promise.all([client('ann'), client('ben')])
  const held = await a.locks.acquire('q')
  const waiting = b.locks.acquire('q')
  await waitFor(() => a.locks.list().find((l) => l.resource === 'q')?.queue.length === 1, 3000, 'b is queued')
  await b.close()
  assert.is((await rejectionOf(HuddleError, waiting)).code, 'closed')
  const other = await client('cat')
  const waitingC = other.locks.acquire('q', { waitMs: 10_000 })
  await a.close()
  assert.not.ok(held.held)
  const got = await waitingC
  // The server's own record, not a stopwatch (a loaded machine may take a grace period to answer):
  // a release at the end of the grace period is logged with the reason "session ended".
  const released = (await other.api.audit({ limit: 1000 })).find((entry) => entry.type === 'release' && entry.data?.key === held.key)
  assert.ok(released, 'the release of the closed client is audited')
  assert.is(released!.data?.reason, undefined, 'released by close, not by the grace period')
  await got.release()
})

test('bad arguments are refused before anything is sent, with what to fix', async () => {
  const a = await client('ann')
  const before = a.doc.getMap('claims').size
  const cases: Array<[() => Promise<unknown>, RegExp]> = [
    [() => a.locks.acquire('has space'), /bad lock resource "has space"/],
    [() => a.locks.acquire([]), /1-16 resource names/],
    [() => a.locks.acquire(Array.from({ length: 17 }, (_, i) => `r${i}`)), /1-16 resource names/],
    [() => a.locks.acquire(['a', 'a']), /must not repeat/],
    [() => a.locks.acquire('a', { mode: 'shard' as 'shared' }), /"exclusive" or "shared"/],
    [() => a.locks.acquire('a', { waitMs: -1 }), /waitMs must be a non-negative number/],
    [() => a.locks.acquire('a', { note: 'x'.repeat(501) }), /note is 501 characters long; the limit is 500/],
  ]
  for (const [call, message] of cases) {
    let error: unknown
    try {
      await call()
    } catch (caught) {
      error = caught
    }
    assert.instance(error, HuddleError)
    assert.is((error as HuddleError).code, 'invalid-argument')
    assert.match((error as HuddleError).message, message)
  }
  assert.is(a.doc.getMap('claims').size, before, 'no claim was written')
  const viewer = await connect({ url: server.httpUrl, workspace: WS, token: await mintToken('val', 'viewer', WS) })
  clients.push(viewer)
  assert.is((await rejectionOf(HuddleError, viewer.locks.acquire('a'))).code, 'forbidden')
})

test('connect explains a bad token, a wrong workspace and an unreachable server', async () => {
  const wrongWs = await rejectionOf(HuddleError, connect({ url: server.httpUrl, workspace: 'other', token: await mintToken('ann', 'editor', WS) }))
  assert.is(wrongWs.code, 'forbidden')
  assert.match(wrongWs.message, /token is for workspace "locks", not "other"/)
  const expired = await rejectionOf(
    HuddleError,
    connect({ url: server.httpUrl, workspace: WS, token: await mintToken('ann', 'editor', WS, { ttlMs: -60_000 }) }),
  )
  assert.is(expired.code, 'unauthorized')
  assert.match(expired.message, /expired/)
  const forged = await rejectionOf(HuddleError, connect({ url: server.httpUrl, workspace: WS, token: 'not-a-jwt' }))
  assert.is(forged.code, 'unauthorized')
  const nobody = await rejectionOf(
    HuddleError,
    connect({ url: 'http://127.0.0.1:1', workspace: WS, token: await mintToken('ann', 'editor', WS), connectTimeoutMs: 500 }),
  )
  assert.is(nobody.code, 'unreachable')
  assert.match(nobody.message, /could not connect to ws:\/\/127\.0\.0\.1:1\/locks/)
  const badSession = await rejectionOf(
    HuddleError,
    connect({ url: server.httpUrl, workspace: WS, token: await mintToken('ann', 'editor', WS), session: 'short' }),
  )
  assert.is(badSession.code, 'invalid-argument')
})

test.run()
