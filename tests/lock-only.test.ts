// Lock-only connections (?locks-only=1, shared/lock-channel.ts) against a real server (lease grace
// 1 s), checked from a full replica (`connect()`) that sees the coordination document: grants and
// handoffs with fencing tokens, shared and multi-resource claims, withLock, timeouts, abort, lost
// locks (revoke, ttl), a viewer refused and audited, hostile input closed with 4400 while everyone
// else carries on, no document traffic on a lock-only socket, and close. Reconnects (a blip and a
// partition through a real TCP relay), restarts and crashes: lock-only-reconnect.test.ts.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { HuddleError, type Lock } from '../client-lib/node.js'
import { encodeLockMessage, LOCK_MESSAGE, MAX_RESUME_IDS } from '../shared/lock-channel.js'
import {
  awarenessFrame,
  awarenessUpdate,
  decodeFrame,
  expectRefusal,
  mintToken,
  newSession,
  rawConnect,
  rejectionOf,
  syncStep1Frame,
  waitFor,
} from './helpers/clients.js'
import {
  audit,
  claimKeysOf,
  holderSessions,
  isFree,
  lockFrame,
  lockInfo,
  lockOnlyKit,
  lostReason,
  noticeOf,
  notices,
  queuedSessions,
  request,
  waitNotice,
  within,
  WS,
} from './helpers/lock-only.js'

const GRACE_MS = 1000
const kit = lockOnlyKit(test, ['--lease-grace', '1s'])
const { replica, lockOnly, rawLockOnly } = kit

test('two lock-only clients hand a lock over; the replica sees holder and queue; fencing tokens strictly increase', async () => {
  const [a, b, watcher] = await Promise.all([lockOnly('ann'), lockOnly('ben'), replica('wes')])
  assert.is(a.state, 'connected')
  assert.is(a.leaseGraceMs, GRACE_MS, "the first pong carries the server's lease grace")
  const first = await within(a.acquire('db'), 'a gets db')
  assert.ok(first.token > 0, `a fencing token (${first.token})`)
  assert.ok(first.held)
  assert.equal(
    a.held().map((lock) => lock.key),
    [first.key],
  )
  assert.ok(first.key.startsWith(`${a.session}:`), 'the claim is under the client’s own session')
  let bSettled = false
  const second = b.acquire('db')
  void second.then(
    () => (bSettled = true),
    () => (bSettled = true),
  )
  await waitFor(
    () => queuedSessions(watcher, 'db')[0] === b.session,
    5000,
    () => `the replica sees b queued (${JSON.stringify(lockInfo(watcher, 'db'))})`,
  )
  assert.equal(holderSessions(watcher, 'db'), [a.session], 'a holds db')
  assert.is(lockInfo(watcher, 'db')!.holders[0]!.token, first.token)
  assert.is(lockInfo(watcher, 'db')!.holders[0]!.actor, 'ann')
  assert.not.ok(bSettled, 'b waits while a holds db')

  await first.release()
  assert.not.ok(first.held)
  const got = await within(second, 'b gets db after a released it')
  assert.ok(got.token > first.token, `b's token ${got.token} is larger than a's ${first.token}`)
  await waitFor(() => holderSessions(watcher, 'db')[0] === b.session, 5000, 'the replica sees b holding db')
  assert.is(queuedSessions(watcher, 'db').length, 0)
  await got.release()
  await waitFor(() => isFree(watcher, 'db'), 5000, 'db is free again')

  // one counter for everyone: lock-only grants and the replica's own grants interleave
  const tokens = [first.token, got.token]
  for (const taker of [a, watcher.locks, b, a, watcher.locks]) {
    const lock = await within(taker.acquire('db', { waitMs: 5000 }), 'the next grant of db')
    tokens.push(lock.token)
    await lock.release()
  }
  for (let i = 1; i < tokens.length; i++) assert.ok(tokens[i]! > tokens[i - 1]!, `tokens strictly increase: ${tokens.join(', ')}`)
})

test('lock-only shared locks coexist, an exclusive claim waits for them, a multi-resource claim takes all at once', async () => {
  const [a, b, c, watcher] = await Promise.all([lockOnly('ann'), lockOnly('ben'), lockOnly('cat'), replica('wes')])
  const readA = await within(a.acquire('cache', { mode: 'shared' }), 'a reads cache')
  const readB = await within(b.acquire('cache', { mode: 'shared' }), 'b reads cache alongside a')
  assert.is(readA.mode, 'shared')
  await waitFor(() => holderSessions(watcher, 'cache').length === 2, 5000, 'the replica sees two shared holders')
  const blocked = await within(rejectionOf(HuddleError, c.acquire(['cache', 'index'], { waitMs: 0 })), 'c tries cache and index at once')
  assert.is(blocked.code, 'timeout')
  const writing = c.acquire(['cache', 'index'])
  await waitFor(() => queuedSessions(watcher, 'cache').includes(c.session), 5000, 'c waits for both')
  assert.equal(holderSessions(watcher, 'index'), [], 'c does not hold index while it waits for cache')
  await readA.release()
  await readB.release()
  const both = await within(writing, 'c gets cache and index')
  assert.equal(both.resources, ['cache', 'index'])
  assert.ok(both.token > Math.max(readA.token, readB.token))
  await waitFor(
    () => holderSessions(watcher, 'cache')[0] === c.session && holderSessions(watcher, 'index')[0] === c.session,
    5000,
    'the replica sees c holding both',
  )
  await both.release()
  await waitFor(() => isFree(watcher, 'cache') && isFree(watcher, 'index'), 5000, 'both are free')
})

test('many lock-only contenders on one lock: never two inside at once, every grant a larger token, the queue drains; fifty claims on one connection', async () => {
  const watcher = await replica('wes')
  const agents = await Promise.all(Array.from({ length: 8 }, (_, i) => lockOnly(`agent-${i}`)))
  let inside = 0
  let most = 0
  const grants: number[] = []
  await within(
    Promise.all(
      agents.map(async (agent) => {
        for (let round = 0; round < 4; round++) {
          await agent.withLock('hot', async (lock) => {
            inside++
            most = Math.max(most, inside)
            grants.push(lock.token)
            await new Promise((resolve) => setImmediate(resolve))
            inside--
          })
        }
      }),
    ),
    'every agent gets the lock four times',
  )
  assert.is(most, 1, 'one holder at a time')
  assert.is(grants.length, 32)
  for (let i = 1; i < grants.length; i++) assert.ok(grants[i]! > grants[i - 1]!, `tokens increase in grant order: ${grants.join(', ')}`)
  await waitFor(() => isFree(watcher, 'hot'), 5000, 'the queue drains')
  for (const agent of agents) assert.is(claimKeysOf(watcher, agent.session).length, 0, 'no claim is left behind')

  // one connection, many claims at once: each answer finds its own claim
  const [busy] = agents
  const locks = await within(Promise.all(Array.from({ length: 50 }, (_, i) => busy!.acquire(`many-${i}`))), '50 locks on one connection')
  assert.equal(
    locks.map((lock) => lock.resources[0]),
    Array.from({ length: 50 }, (_, i) => `many-${i}`),
  )
  assert.is(new Set(locks.map((lock) => lock.token)).size, 50, 'fifty grants, fifty tokens')
  assert.is(busy!.held().length, 50)
  await waitFor(() => watcher.locks.list().filter((info) => info.holders[0]?.session === busy!.session).length === 50, 5000, 'the replica sees all 50')
  await Promise.all(locks.map((lock) => lock.release()))
  await waitFor(() => claimKeysOf(watcher, busy!.session).length === 0, 5000, 'all 50 released')
})

test('withLock on a lock-only client releases when fn returns and when it throws', async () => {
  const [a, watcher] = await Promise.all([lockOnly('ann'), replica('wes')])
  const value = await within(
    a.withLock('job', async (lock) => {
      assert.ok(lock.held)
      await waitFor(() => holderSessions(watcher, 'job')[0] === a.session, 5000, 'the replica sees a holding job inside fn')
      return `done with ${lock.token}`
    }),
    'withLock returns',
  )
  assert.match(value, /^done with \d+$/)
  assert.is(a.held().length, 0)
  await waitFor(() => isFree(watcher, 'job'), 5000, 'job is free after fn returned')
  assert.is(claimKeysOf(watcher, a.session).length, 0, 'the claim is deleted')

  const boom = new Error('boom')
  let inside = null as Lock | null
  try {
    await within(
      a.withLock('job', async (lock) => {
        inside = lock
        await waitFor(() => holderSessions(watcher, 'job')[0] === a.session, 5000, 'the replica sees a holding job again')
        throw boom
      }),
      'withLock rethrows',
    )
    assert.unreachable('withLock rethrows')
  } catch (error) {
    assert.is(error, boom)
  }
  assert.ok(inside)
  assert.not.ok(inside!.held)
  assert.is(a.held().length, 0)
  await waitFor(() => isFree(watcher, 'job'), 5000, 'job is free after fn threw')
  const next = await within(watcher.locks.acquire('job', { waitMs: 0 }), 'the replica gets job')
  await next.release()
})

test('waitMs: a waiting lock-only claim times out with code timeout and is tidied from the document', async () => {
  const [a, b, watcher] = await Promise.all([lockOnly('ann'), lockOnly('ben'), replica('wes')])
  const held = await within(a.acquire('printer'), 'a gets printer')
  const error = await within(rejectionOf(HuddleError, b.acquire('printer', { waitMs: 200 })), "b's timeout")
  assert.is(error.code, 'timeout')
  assert.match(error.message, /timed out waiting for printer/)
  assert.is(b.held().length, 0)
  await waitFor(
    () => claimKeysOf(watcher, b.session).length === 0 && !queuedSessions(watcher, 'printer').includes(b.session),
    5000,
    () => `b's claim is withdrawn (claims: ${claimKeysOf(watcher, b.session)}, queue: ${queuedSessions(watcher, 'printer')})`,
  )
  assert.equal(holderSessions(watcher, 'printer'), [a.session], 'a still holds printer')
  const timedOut = (await audit(watcher)).find((entry) => entry.type === 'timeout' && entry.session === b.session)
  assert.ok(timedOut, "the server timed b's claim out (audited)")
  await held.release()
  await waitFor(() => isFree(watcher, 'printer'), 5000, 'printer is free')
})

test('abort while waiting withdraws the lock-only claim from the queue; an aborted signal sends nothing', async () => {
  const [a, b, watcher] = await Promise.all([lockOnly('ann'), lockOnly('ben'), replica('wes')])
  const held = await within(a.acquire('deploy'), 'a gets deploy')
  const controller = new AbortController()
  const waiting = b.acquire('deploy', { signal: controller.signal })
  await waitFor(() => queuedSessions(watcher, 'deploy').includes(b.session), 5000, 'b is queued')
  controller.abort(new Error('changed my mind'))
  const error = await within(rejectionOf(HuddleError, waiting), 'the abort')
  assert.is(error.code, 'aborted')
  assert.match(error.message, /changed my mind/)
  await waitFor(() => queuedSessions(watcher, 'deploy').length === 0 && claimKeysOf(watcher, b.session).length === 0, 5000, "b's claim is withdrawn")
  const early = await rejectionOf(HuddleError, b.acquire('deploy', { signal: AbortSignal.abort() }))
  assert.is(early.code, 'aborted')
  await held.release()
  await waitFor(() => isFree(watcher, 'deploy'), 5000, 'deploy is free')
  assert.is(claimKeysOf(watcher, b.session).length, 0, 'the pre-aborted acquire wrote no claim')
})

test('a lost lock aborts lock.signal: revoked by an admin through REST, expired by its ttl', async () => {
  const [a, watcher, admin] = await Promise.all([lockOnly('ann'), replica('wes'), replica('root', 'admin')])
  const lock = await within(a.acquire('tape'), 'a gets tape')
  await waitFor(() => holderSessions(watcher, 'tape')[0] === a.session, 5000, 'the replica sees a holding tape')
  const response = await fetch(`${kit.server.httpUrl}/api/workspaces/${WS}/locks/tape?reason=maintenance`, {
    method: 'DELETE',
    headers: { authorization: `Bearer ${await mintToken('root', 'admin', WS)}` },
  })
  assert.is(response.status, 200, await response.clone().text())
  await waitFor(() => lock.signal.aborted, 5000, 'the revoke reaches the lock-only holder')
  assert.instance(lostReason(lock), HuddleError)
  assert.is(lostReason(lock).code, 'revoked')
  assert.match(lostReason(lock).message, /maintenance/)
  assert.not.ok(lock.held)
  assert.is(a.held().length, 0)
  await waitFor(() => claimKeysOf(watcher, a.session).length === 0 && isFree(watcher, 'tape'), 5000, 'the revoked claim is tidied')

  // the same through the client library's admin call
  const again = await within(a.acquire('tape'), 'a gets tape again')
  await admin.locks.forceRelease('tape', 'second time')
  await waitFor(() => again.signal.aborted, 5000, 'the second revoke reaches the holder')
  assert.is(lostReason(again).code, 'revoked')

  const short = await within(a.acquire('tape', { ttlMs: 300 }), 'a gets tape with a ttl')
  assert.ok(short.expiresAt !== undefined && short.expiresAt > short.grantedAt, 'the grant carries its expiry')
  await waitFor(() => short.signal.aborted, 5000, 'the ttl ends the lock')
  assert.is(lostReason(short).code, 'expired')
  assert.not.ok(short.held)
  await waitFor(() => claimKeysOf(watcher, a.session).length === 0 && isFree(watcher, 'tape'), 5000, 'the expired claim is tidied')
})

test("a viewer's lock-only acquire is refused with the server's reason, audited, and leaves no claim", async () => {
  const [viewer, watcher, admin] = await Promise.all([lockOnly('vic', 'viewer'), replica('wes'), replica('root', 'admin')])
  const error = await within(rejectionOf(HuddleError, viewer.acquire('deploy')), "the viewer's refusal")
  assert.is(error.code, 'refused')
  assert.match(error.message, /vic is a viewer; viewers cannot write to the coordination document/)
  assert.is(viewer.held().length, 0)
  assert.is(viewer.state, 'connected', 'a refusal is an answer, not a reason to close')
  const entry = (await audit(admin)).find((candidate) => candidate.type === 'refused' && candidate.session === viewer.session)
  assert.ok(entry, 'the refusal is in the audit log')
  assert.is(entry!.actor, 'vic')
  assert.match(String(entry!.data?.reason), /viewers cannot write/)
  assert.is(claimKeysOf(watcher, viewer.session).length, 0, 'nothing of the claim was kept')
  assert.ok(isFree(watcher, 'deploy'))
  const withLock = await within(
    rejectionOf(
      HuddleError,
      viewer.withLock('deploy', () => assert.unreachable('fn never runs')),
    ),
    "the viewer's withLock refusal",
  )
  assert.is(withLock.code, 'refused')
})

test('hostile input on a lock-only socket is closed with 4400 and a specific reason; the rest carry on', async () => {
  const [bystander, watcher] = await Promise.all([lockOnly('bob'), replica('wes')])
  const stillWorks = async (what: string) => {
    const lock = await within(bystander.acquire('hostile', { waitMs: 5000 }), `the bystander's grant after ${what}`)
    await lock.release()
    await waitFor(() => isFree(watcher, 'hostile'), 5000, `the replica still follows the lock after ${what}`)
    assert.ok(kit.server.running, `the server is still up after ${what}`)
  }
  const lockOnlyCases: Array<[string, Uint8Array, RegExp]> = [
    ['bad JSON', lockFrame('{"op": "acquire", '), /bad lock request: a lock request must be a JSON object with an "op"/],
    ['a JSON array', lockFrame('[1,2]'), /bad lock request: a lock request must be a JSON object/],
    ['an unknown op', request({ op: 'steal', id: 'x' }), /unknown lock request op "steal": use acquire, release, resume or ping/],
    ['a bad claim mode', request({ op: 'acquire', id: 'x1', claim: { resources: ['db'], mode: 'shard' } }), /"exclusive" or "shared"/],
    ['an unknown field', request({ op: 'release', id: 'x1', force: true }), /unknown field "force" in a lock request "release"; known: op, id/],
    ['a bad claim id', request({ op: 'acquire', id: 'has space', claim: { resources: ['db'], mode: 'exclusive' } }), /bad id "has space"/],
    [
      'too many resume ids',
      request({ op: 'resume', ids: Array.from({ length: MAX_RESUME_IDS + 1 }, (_, i) => `r${i}`) }),
      new RegExp(`at most ${MAX_RESUME_IDS} claim ids`),
    ],
    ['a truncated lock frame', new Uint8Array([LOCK_MESSAGE, 5, 0x7b]), /truncated or malformed message/],
    ['sync step 1', syncStep1Frame(new Uint8Array([0])), /this connection is lock-only \(\?locks-only=1\).*not sync-step1/],
    ['presence', awarenessFrame(awarenessUpdate([{ clientID: 7, clock: 1, state: { name: 'x' } }])), /this connection is lock-only.*not awareness/],
  ]
  const refusedSessions = new Map<string, RegExp>()
  for (const [what, frame, reason] of lockOnlyCases) {
    const session = newSession()
    refusedSessions.set(session, reason)
    const raw = await rawLockOnly('mallory', session)
    raw.send(encodeLockMessage({ op: 'ping' }))
    await waitNotice(raw, (notice) => notice.op === 'pong', `the pong before ${what}`)
    raw.send(frame)
    const close = await raw.waitClose(5000, `the server to close the socket after ${what}`)
    assert.is(close.code, 4400, `${what}: ${close.code} ${close.reason}`)
    assert.match(close.reason, reason, `${what}: ${close.reason}`)
    await stillWorks(what)
  }

  // a lock request on a connection that replicates the document
  const normalSession = newSession()
  refusedSessions.set(normalSession, /need a lock-only connection/)
  const normal = await rawConnect(kit.server, WS, { token: await mintToken('mallory', 'editor', WS), session: normalSession })
  normal.send(encodeLockMessage({ op: 'acquire', id: 'sneaky', claim: { resources: ['hostile'], mode: 'exclusive' } }))
  const misdirected = await normal.waitClose(5000, 'the server to close a replica sending a lock request')
  assert.is(misdirected.code, 4400)
  assert.match(misdirected.reason, /lock requests \(message type 100\) need a lock-only connection/)
  // asked after the close, so after anything the misdirected acquire could have written
  const free = await within(watcher.locks.acquire('hostile', { waitMs: 0 }), 'hostile is free: the misdirected acquire wrote nothing')
  await free.release()
  await stillWorks('a lock request on a replica connection')

  // lock-only is for the workspace's coordination room, not a content document
  const notesSession = newSession()
  const refused = await expectRefusal(kit.server, `${WS}/notes`, {
    token: await mintToken('mallory', 'editor', WS),
    session: notesSession,
    query: 'locks-only=1',
  })
  assert.is(refused.code, 4400)
  assert.match(refused.reason, /\?locks-only=1 is for a workspace's coordination room "lock-only", not a document/)
  refusedSessions.set(notesSession, /locks-only=1 is for a workspace's coordination room/)
  await stillWorks('locks-only on a content document')
  assert.is(bystander.state, 'connected')

  // each refusal of a verified member is audited with its reason
  await waitFor(
    async () => {
      const entries = (await audit(watcher)).filter((entry) => entry.type === 'refused' && entry.data?.code === 4400)
      return [...refusedSessions].every(([session, reason]) =>
        entries.some((entry) => entry.session === session && entry.actor === 'mallory' && reason.test(String(entry.data?.reason))),
      )
    },
    5000,
    'a refused entry for every closed socket',
  )

  // a claim id names the sender's own claim: another session's lock is out of reach
  const held = await within(bystander.acquire('hostile'), 'the bystander holds hostile')
  const thief = await rawLockOnly('mallory')
  thief.send(encodeLockMessage({ op: 'resume', ids: [held.id] }))
  thief.send(encodeLockMessage({ op: 'release', id: held.id }))
  await waitFor(() => notices(thief).length >= 2, 5000, 'answers to the resume and the release')
  assert.equal(notices(thief), [
    { op: 'released', id: held.id },
    { op: 'released', id: held.id },
  ])
  const taken = await within(rejectionOf(HuddleError, watcher.locks.acquire('hostile', { waitMs: 0 })), 'a try for hostile')
  assert.is(taken.code, 'timeout', 'the server still gives hostile to the bystander')
  assert.ok(held.held)
  assert.equal(holderSessions(watcher, 'hostile'), [bystander.session], "the bystander's lock is untouched")
  await held.release()
})

test('a lock-only socket gets no document updates and no presence, only notices about its own claims', async () => {
  const [watcher, writer, other] = await Promise.all([replica('wes'), replica('wil'), lockOnly('oli')])
  const raw = await rawLockOnly('lou')
  raw.send(encodeLockMessage({ op: 'ping' }))
  await waitNotice(raw, (notice) => notice.op === 'pong', 'the first pong')
  raw.send(encodeLockMessage({ op: 'acquire', id: 'mine-1', claim: { resources: ['quiet'], mode: 'exclusive' } }))
  await waitNotice(raw, (notice) => notice.op === 'outcome' && notice.id === 'mine-1' && notice.outcome.state === 'granted', 'its own grant')

  // the coordination document changes a lot meanwhile: claims, grants, handoffs, presence
  writer.presence.set({ status: 'active', activity: 'writing' })
  for (let round = 0; round < 5; round++) {
    const held = await within(writer.locks.acquire('busy'), 'the replica gets busy')
    const waiting = other.acquire('busy')
    await waitFor(() => queuedSessions(watcher, 'busy').includes(other.session), 5000, 'the replica sees the lock-only waiter')
    await held.release()
    await (await within(waiting, 'the lock-only waiter gets busy')).release()
  }
  await waitFor(() => isFree(watcher, 'busy'), 5000, 'the replica saw every handoff')
  await waitFor(() => watcher.presence.list().some((peer) => peer.actor === 'wil' && peer.activity === 'writing'), 5000, 'the replica sees the presence')
  raw.send(encodeLockMessage({ op: 'release', id: 'mine-1' }))
  await waitNotice(raw, (notice) => notice.op === 'released' && notice.id === 'mine-1', 'its own release')
  // anything sent to this socket before reached it before this pong (one TCP stream, in order)
  const before = raw.messages.length
  raw.send(encodeLockMessage({ op: 'ping' }))
  await raw.waitMessage((frame) => raw.messages.indexOf(frame) >= before && noticeOf(frame)?.op === 'pong', 5000, 'the last pong')

  const kinds = raw.messages.map((frame) => {
    const decoded = decodeFrame(frame)
    return decoded.kind === 'other' ? decoded.type : decoded.kind
  })
  assert.ok(
    kinds.every((kind) => kind === LOCK_MESSAGE),
    `only type-100 frames: ${kinds.join(', ')}`,
  )
  const received = notices(raw)
  assert.ok(
    received.every((notice) => notice.op === 'pong' || ('id' in notice && notice.id === 'mine-1')),
    `only notices about its own claim: ${JSON.stringify(received)}`,
  )
  assert.equal(
    received.filter((notice) => notice.op !== 'pong').map((notice) => notice.op),
    ['outcome', 'released'],
    'its grant and its release, once each',
  )
})

test('close releases held locks at once, rejects waiting claims with closed, and refuses new ones', async () => {
  const [a, watcher] = await Promise.all([lockOnly('ann'), replica('wes')])
  const held = await within(a.acquire('q'), 'a gets q')
  const blocker = await within(watcher.locks.acquire('r'), 'the replica gets r')
  const waiting = a.acquire('r')
  await waitFor(() => queuedSessions(watcher, 'r').includes(a.session), 5000, 'a is queued for r')
  const rejected = rejectionOf(HuddleError, waiting)
  await a.close()
  assert.is(a.state, 'closed')
  assert.is((await rejected).code, 'closed')
  assert.not.ok(held.held)
  assert.not.ok(held.signal.aborted, 'released, not lost')
  await waitFor(() => isFree(watcher, 'q') && claimKeysOf(watcher, a.session).length === 0, 5000, "the replica sees q free and none of a's claims")
  assert.equal(queuedSessions(watcher, 'r'), [], "a's waiting claim is withdrawn")
  const released = (await audit(watcher)).find((entry) => entry.type === 'release' && entry.data?.key === held.key)
  assert.ok(released, 'the release is audited')
  assert.is(released!.data?.reason, undefined, 'released by close, not by the end of the grace period')
  assert.is((await within(rejectionOf(HuddleError, a.acquire('q')), 'a closed client refuses')).code, 'closed')
  await blocker.release()
})

test.run()
