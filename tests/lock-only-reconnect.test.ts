// Lock-only connections across reconnects, restarts and crashes (lease grace 1 s unless a test
// starts a server of its own): a blip and a partition through a real TCP relay, the raw
// protocol's resume, connection errors and a revoked token, two connections of one session, what
// a reconnect catches up with, a restart after kill -9, and fencing tokens never handed out twice
// across crashes. The basics: lock-only.test.ts.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { connect, connectLocks, type Huddle, HuddleError, type LockClient } from '../client-lib/node.js'
import { encodeLockMessage, MAX_RESUME_IDS } from '../shared/lock-channel.js'
import { mintToken, newSession, rejectionOf, waitFor } from './helpers/clients.js'
import {
  audit,
  claimKeysOf,
  holderSessions,
  isFree,
  lockInfo,
  lockOnlyKit,
  lostReason,
  noticeOf,
  notices,
  queuedSessions,
  waitNotice,
  within,
  WS,
} from './helpers/lock-only.js'
import { TestServer } from './helpers/server.js'

const GRACE_MS = 1000
const kit = lockOnlyKit(test, ['--lease-grace', '1s'])
const { replica, lockOnly, rawLockOnly, relay: startRelay, track } = kit

test('a blip shorter than the grace period keeps the lock; a partition longer than it loses the lock, which moves on', async () => {
  const relay = await startRelay(kit.server.httpUrl)
  const [a, b, watcher] = await Promise.all([lockOnly('ann', 'editor', relay.url), lockOnly('ben'), replica('wes')])
  assert.is(relay.accepted, 1)
  const lock = await within(a.acquire('blip'), 'a gets blip')
  await waitFor(() => holderSessions(watcher, 'blip')[0] === a.session, 5000, 'the replica sees a holding blip')

  relay.drop()
  await waitFor(() => relay.accepted >= 2 && a.state === 'connected', 5000, 'a reconnects through the relay')
  // b asks for longer than the grace period: a timeout means the server kept a's lock past it
  const blocked = await within(rejectionOf(HuddleError, b.acquire('blip', { waitMs: GRACE_MS * 2 })), "b's timeout")
  assert.is(blocked.code, 'timeout', 'the server kept the lock for a through the blip')
  assert.ok(lock.held, 'still held after the blip')
  assert.not.ok(lock.signal.aborted)
  assert.equal(holderSessions(watcher, 'blip'), [a.session])
  assert.is(lockInfo(watcher, 'blip')!.holders[0]!.token, lock.token, 'the same grant, not a new one')

  // now a partition: the relay cuts a off and refuses it until further notice
  relay.block()
  const next = b.acquire('blip', { waitMs: 20_000 })
  await waitFor(() => lock.signal.aborted, 10_000, 'a learns it lost the lock while cut off')
  assert.is(lostReason(lock).code, 'lost')
  assert.match(lostReason(lock).message, /lease grace period/)
  assert.not.ok(lock.held)
  const taken = await within(next, 'b gets blip once the grace period ended')
  assert.ok(taken.token > lock.token, 'the next holder gets a larger token')
  await waitFor(() => holderSessions(watcher, 'blip')[0] === b.session, 5000, 'the replica sees b holding blip')
  const ended = (await audit(watcher)).find((entry) => entry.type === 'release' && entry.data?.key === lock.key)
  assert.ok(ended, "the release of a's lock is audited")
  assert.is(ended!.data?.reason, 'session ended', 'released by the end of the grace period')

  // back online: a works again, with its lock gone for good
  relay.unblock()
  await waitFor(() => a.state === 'connected', 10_000, 'a reconnects once the relay lets it')
  await taken.release()
  const again = await within(a.acquire('blip', { waitMs: 5000 }), 'a gets blip again')
  assert.ok(again.token > taken.token)
  await again.release()
  await waitFor(() => isFree(watcher, 'blip'), 5000, 'blip is free')
})

test('a blip while holding more locks than one resume may ask about: the client asks in parts and keeps them all', async () => {
  const relay = await startRelay(kit.server.httpUrl)
  const [a, watcher] = await Promise.all([lockOnly('ann', 'editor', relay.url), replica('wes')])
  const count = MAX_RESUME_IDS + 50
  const locks = await within(Promise.all(Array.from({ length: count }, (_, i) => a.acquire(`resume-${i}`))), `${count} locks`)
  relay.drop()
  await waitFor(() => relay.accepted >= 2 && a.state === 'connected', 5000, 'a reconnects through the relay')
  // answered after the resume (one connection, in order): a refused resume would have closed it
  await (await within(a.acquire('resume-probe'), 'a round trip after the resume')).release()
  assert.is(a.state, 'connected')
  assert.ok(
    locks.every((lock) => lock.held && !lock.signal.aborted),
    'every lock is still held',
  )
  await waitFor(() => claimKeysOf(watcher, a.session).length === count, 5000, `the replica sees ${count} claims of a`)
  await Promise.all(locks.map((lock) => lock.release()))
  await waitFor(() => claimKeysOf(watcher, a.session).length === 0, 5000, 'all released')
})

test('raw protocol: resume within the grace period finds the lock; a socket gone for good loses it once the grace ends', async () => {
  const watcher = await replica('wes')
  const session = newSession()
  const first = await rawLockOnly('raw', session)
  first.send(encodeLockMessage({ op: 'ping' }))
  const pong = noticeOf(await waitNotice(first, (notice) => notice.op === 'pong', 'a pong'))
  assert.equal(pong, { op: 'pong', leaseGraceMs: GRACE_MS })
  const claim = { resources: ['raw'], mode: 'exclusive' as const }
  first.send(encodeLockMessage({ op: 'acquire', id: 'raw-1', claim }))
  const granted = noticeOf(await waitNotice(first, (notice) => notice.op === 'outcome' && notice.id === 'raw-1', 'the grant'))
  assert.ok(granted?.op === 'outcome' && granted.outcome.state === 'granted' && granted.outcome.token! > 0, JSON.stringify(granted))
  const token = granted.op === 'outcome' ? granted.outcome.token : undefined
  await waitFor(() => holderSessions(watcher, 'raw')[0] === session, 5000, 'the replica sees the raw session holding raw')
  // the same acquire again (a lost answer) is answered with where it stands, not a second claim
  const count = notices(first).length
  first.send(encodeLockMessage({ op: 'acquire', id: 'raw-1', claim }))
  await waitFor(() => notices(first).length > count, 5000, 'an answer to the repeated acquire')
  assert.equal(notices(first)[count], { op: 'outcome', id: 'raw-1', outcome: granted.op === 'outcome' ? granted.outcome : null })
  assert.is(claimKeysOf(watcher, session).length, 1)

  first.terminate()
  const second = await rawLockOnly('raw', session)
  second.send(encodeLockMessage({ op: 'resume', ids: ['raw-1', 'never-was'] }))
  await waitFor(() => notices(second).length >= 2, 5000, 'answers to resume')
  assert.equal(notices(second).slice(0, 2), [
    { op: 'outcome', id: 'raw-1', outcome: granted.op === 'outcome' ? granted.outcome : null },
    { op: 'released', id: 'never-was' },
  ])
  assert.equal(holderSessions(watcher, 'raw'), [session], 'still held after the reconnect')
  assert.is(lockInfo(watcher, 'raw')!.holders[0]!.token, token)

  second.terminate()
  await waitFor(() => isFree(watcher, 'raw'), 10_000, 'the lock is released once the grace period ends')
  assert.is(claimKeysOf(watcher, session).length, 0, 'the session’s claim is gone')
  const ended = (await audit(watcher)).find((entry) => entry.type === 'release' && entry.data?.key === `${session}:raw-1`)
  assert.ok(ended, 'the release is audited')
  assert.is(ended!.data?.reason, 'session ended')
})

test('connectLocks explains what to fix; a revoked token closes a lock-only connection and its locks go with the grace period', async () => {
  const options = { url: kit.server.httpUrl, workspace: WS, maxBackoffMs: 100 }
  const wrong = await within(rejectionOf(HuddleError, connectLocks({ ...options, token: await mintToken('ann', 'editor', 'elsewhere') })), 'refused')
  assert.is(wrong.code, 'forbidden')
  assert.match(wrong.message, /your token is for workspace "elsewhere", not "lock-only"/)
  const expired = await within(
    rejectionOf(HuddleError, connectLocks({ ...options, token: await mintToken('ann', 'editor', WS, { ttlMs: -60_000 }) })),
    'refused',
  )
  assert.is(expired.code, 'unauthorized')
  assert.match(expired.message, /expired/)
  const badSession = await rejectionOf(HuddleError, connectLocks({ ...options, token: await mintToken('ann', 'editor', WS), session: 'short' }))
  assert.is(badSession.code, 'invalid-argument')
  const nobody = await within(
    rejectionOf(HuddleError, connectLocks({ url: 'http://127.0.0.1:1', workspace: WS, token: await mintToken('ann', 'editor', WS), connectTimeoutMs: 500 })),
    'unreachable',
  )
  assert.is(nobody.code, 'unreachable')
  const onWait = await rejectionOf(HuddleError, (await lockOnly('ann')).acquire('x', { onWait: () => undefined } as Parameters<LockClient['acquire']>[1]))
  assert.is(onWait.code, 'invalid-argument')
  assert.match(onWait.message, /onWait needs the queue/)

  const token = await mintToken('dana', 'editor', WS, { kind: 'agent' })
  const dana = await connectLocks({ ...options, token })
  track(dana)
  const watcher = await replica('wes')
  const held = await within(dana.acquire('revoked-token'), 'dana gets a lock')
  const blocker = await within(watcher.locks.acquire('other'), 'the replica gets other')
  const waiting = dana.acquire('other')
  const rejected = rejectionOf(HuddleError, waiting)
  await waitFor(() => queuedSessions(watcher, 'other').includes(dana.session), 5000, 'dana waits for other')
  const response = await fetch(`${kit.server.httpUrl}/api/workspaces/${WS}/tokens/revoke`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${await mintToken('root', 'admin', WS)}` },
    body: JSON.stringify({ token }),
  })
  assert.is(response.status, 200, await response.clone().text())
  await waitFor(() => dana.state === 'closed', 5000, 'the lock-only connection is closed')
  assert.is((await within(rejected, 'the waiting claim rejects')).code, 'unauthorized')
  await waitFor(() => held.signal.aborted, 5000, 'the held lock is reported lost')
  assert.is(lostReason(held).code, 'unauthorized')
  assert.match(lostReason(held).message, /4401/)
  await waitFor(() => isFree(watcher, 'revoked-token') && claimKeysOf(watcher, dana.session).length === 0, 10_000, "dana's claims end with the grace period")
  await blocker.release()
})

test('two connections of one session: the first going away does not end the session while the second stays', async () => {
  const [b, watcher] = await Promise.all([lockOnly('ben'), replica('wes')])
  const session = newSession()
  const first = await rawLockOnly('raw', session)
  first.send(encodeLockMessage({ op: 'acquire', id: 'twin-1', claim: { resources: ['twin'], mode: 'exclusive' } }))
  await waitNotice(first, (notice) => notice.op === 'outcome' && notice.id === 'twin-1', 'the grant')
  const second = await rawLockOnly('raw', session)
  second.send(encodeLockMessage({ op: 'ping' }))
  await waitNotice(second, (notice) => notice.op === 'pong', 'the second connection is in')
  first.terminate()
  // b asks for longer than the grace period: a timeout means the session kept its lock past it
  const blocked = await within(rejectionOf(HuddleError, b.acquire('twin', { waitMs: GRACE_MS * 2 })), "b's timeout")
  assert.is(blocked.code, 'timeout', 'the session still holds twin through its second connection')
  assert.equal(holderSessions(watcher, 'twin'), [session])
  second.send(encodeLockMessage({ op: 'release', id: 'twin-1' }))
  await waitNotice(second, (notice) => notice.op === 'released' && notice.id === 'twin-1', 'the release, told to the connection still there')
  await waitFor(() => isFree(watcher, 'twin'), 5000, 'twin is free')
})

test('after a reconnect the client catches up: a grant and a revoke made while it was away, a release it made while cut off (grace 10 s)', async () => {
  // a server of its own with a long grace period, so that the client's trust watch (lost after
  // ~9 s of silence) cannot be what tells it: only its reconnect (resend, resume) can
  const patient = await TestServer.start({ args: ['--lease-grace', '10s'] })
  const relay = await startRelay(patient.httpUrl)
  let a: LockClient | undefined
  let admin: Huddle | undefined
  try {
    a = await connectLocks({ url: relay.url, workspace: WS, token: await mintToken('ann', 'editor', WS, { kind: 'agent' }), maxBackoffMs: 100 })
    admin = await connect({ url: patient.httpUrl, workspace: WS, token: await mintToken('root', 'admin', WS) })
    const away = a
    const watcher = admin
    assert.is(away.leaseGraceMs, 10_000)
    const held = await within(watcher.locks.acquire('away'), 'the admin gets away')
    const waiting = away.acquire('away')
    await waitFor(() => queuedSessions(watcher, 'away').includes(away.session), 5000, 'a is queued')

    relay.block()
    await waitFor(() => away.state === 'disconnected', 5000, 'a is cut off')
    await held.release()
    await waitFor(() => holderSessions(watcher, 'away')[0] === away.session, 5000, 'the server grants a while it is away')
    relay.unblock()
    const got = await within(waiting, 'the grant made while a was away, once a is back')
    assert.ok(got.token > held.token)

    relay.block()
    await waitFor(() => away.state === 'disconnected', 5000, 'a is cut off again')
    await watcher.locks.forceRelease('away', 'while you were out')
    await waitFor(() => holderSessions(watcher, 'away').length === 0, 5000, 'the server revokes the lock while a is away')
    assert.not.ok(got.signal.aborted, 'a cannot know yet')
    relay.unblock()
    await waitFor(() => got.signal.aborted, 5000, 'a learns of the revoke once it is back')
    assert.is(lostReason(got).code, 'revoked')
    assert.match(lostReason(got).message, /while you were out/)
    await waitFor(() => claimKeysOf(watcher, away.session).length === 0, 5000, 'the revoked claim is tidied')

    // a release made while cut off reaches the server after the reconnect, long before the grace ends
    const later = await within(away.acquire('away'), 'a gets away again')
    await waitFor(() => holderSessions(watcher, 'away')[0] === away.session, 5000, 'the replica sees a holding away')
    relay.block()
    await waitFor(() => away.state === 'disconnected', 5000, 'a is cut off a third time')
    await later.release()
    assert.not.ok(later.held)
    assert.equal(holderSessions(watcher, 'away'), [away.session], 'the server cannot know yet')
    relay.unblock()
    await waitFor(() => isFree(watcher, 'away') && claimKeysOf(watcher, away.session).length === 0, 5000, 'the release sent again after the reconnect')
  } finally {
    await a?.close()
    await admin?.close()
    await relay.stop()
    await patient.dispose()
  }
})

test('a server killed (-9) and restarted: the lock-only holder keeps its lock, the waiter gets it next with a larger token', async () => {
  const crashing = await TestServer.start({ args: ['--lease-grace', '10s'] })
  const opened: LockClient[] = []
  let watcher: Huddle | undefined
  try {
    const options = { url: crashing.httpUrl, workspace: WS, maxBackoffMs: 100 }
    const [a, b] = await Promise.all(
      ['ann', 'ben'].map(async (actor) => {
        const client = await connectLocks({ ...options, token: await mintToken(actor, 'editor', WS, { kind: 'agent' }) })
        opened.push(client)
        return client
      }),
    )
    const held = await within(a!.acquire('crash'), 'a gets crash')
    const waiting = b!.acquire('crash')
    await crashing.kill()
    await crashing.restart({ samePort: true })
    watcher = await connect({ ...options, token: await mintToken('wes', 'editor', WS) })
    const seen = watcher
    await waitFor(
      () => holderSessions(seen, 'crash')[0] === a!.session && queuedSessions(seen, 'crash').includes(b!.session),
      10_000,
      () => `after the restart a holds crash and b waits (${JSON.stringify(lockInfo(seen, 'crash'))})`,
    )
    assert.is(lockInfo(seen, 'crash')!.holders[0]!.token, held.token, 'the grant survived the crash')
    await waitFor(() => a!.state === 'connected', 10_000, 'a is back')
    assert.ok(held.held, 'a still trusts its lock')
    assert.not.ok(held.signal.aborted)
    await held.release()
    const next = await within(waiting, 'b gets crash after a released it')
    assert.ok(next.token > held.token, `the fencing counter went on: ${next.token} > ${held.token}`)
    await next.release()
    await waitFor(() => isFree(seen, 'crash'), 5000, 'crash is free')
  } finally {
    for (const client of opened) await client.close()
    await watcher?.close()
    await crashing.dispose()
  }
})

test('kill -9 amid fast lock-only handoffs, three times: no fencing token a client was told is handed out again', async () => {
  // A grant notice leaves only once the grant is on disk; sent any earlier, a crash could forget a
  // token a holder already uses, and the restarted server would issue it again. Where the kill
  // lands is chance: three crashes make a miss unlikely.
  const crashing = await TestServer.start({ args: ['--lease-grace', '1s'] })
  const opened: LockClient[] = []
  const options = { url: crashing.httpUrl, workspace: WS, maxBackoffMs: 100 }
  const open = async (actor: string) => {
    const client = await connectLocks({ ...options, token: await mintToken(actor, 'editor', WS, { kind: 'agent' }) })
    opened.push(client)
    return client
  }
  try {
    let highest = 0
    for (let round = 1; round <= 3; round++) {
      const clients = await Promise.all(Array.from({ length: 8 }, (_, i) => open(`cycler-${i}`)))
      const told: number[] = []
      const run = { stop: false }
      let killed: Promise<unknown> | undefined
      for (const [i, client] of clients.entries()) {
        const loop = async () => {
          while (!run.stop) {
            // two clients per lock, four locks: several handoffs at any moment
            const lock = await client.acquire(`fence-${i % 4}`)
            told.push(lock.token)
            await lock.release()
            // the release's answer comes with the next holder's grant: kill while it may be in flight
            if (told.length >= 30) killed ??= crashing.kill()
          }
        }
        loop().catch(() => undefined) // each ends with the crash
      }
      await waitFor(() => killed, 20_000, `thirty grants in round ${round}`)
      await killed
      // every notice the dead server sent is read before its socket's close
      await waitFor(() => clients.every((client) => client.state !== 'connected'), 5000, 'the clients see the crash')
      run.stop = true
      const lowest = Math.min(...told)
      assert.ok(lowest > highest, `round ${round}: every token told (lowest ${lowest}) is above those told before the last crash (highest ${highest})`)
      highest = Math.max(...told)
      for (const client of clients) await client.close()
      await crashing.restart({ samePort: true })
    }
    const fresh = await within((await open('after')).acquire('fence-after'), 'a grant after the last restart')
    assert.ok(fresh.token > highest, `the first token after the last restart (${fresh.token}) is above every token told before it (${highest})`)
  } finally {
    for (const client of opened) await client.close()
    await crashing.dispose()
  }
})

test.run()
