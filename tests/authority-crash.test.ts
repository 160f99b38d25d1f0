// Crashes and restarts (docs/design.md §4, §6): a SIGKILLed client keeps its lock for the grace period
// and loses it after; a session reconnecting in time keeps it; fencing tokens keep rising across a
// server kill -9; deadlines set before a graceful restart still fire after it.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { cleanupClients, dropPeerSocket, newSession, waitFor } from './helpers/clients.js'
import { fetchAudit, getState } from './helpers/coordination-api.js'
import { claim, holdersOf, locksOf, outcomesOf, queueEntryOf, queueOf, release, waitOutcome } from './helpers/coordination-maps.js'
import { clientReady, type CoordPeer, joinCoord, ledger, runCoordClient, who } from './helpers/coordination-peers.js'
import { Watcher } from './helpers/watcher.js'
import { startHuddle, type TestServer } from './helpers/server.js'

const servers: TestServer[] = []

test.after.each(async () => {
  cleanupClients()
  for (const server of servers.splice(0)) await server.dispose()
})

async function start(grace: string): Promise<TestServer> {
  const server = await startHuddle(['--lease-grace', grace])
  servers.push(server)
  return server
}

const GRACE_MS = 1500
/** setTimeout may fire up to a millisecond before Date.now() says the delay has passed. */
const TIMER_SLACK_MS = 2

test('a SIGKILLed holder keeps its lock for the grace period, then the waiter gets it with a higher token', async () => {
  const server = await start(`${GRACE_MS}ms`)
  const ws = 'crash-client'
  const watcher = await Watcher.start(server, ws)
  const holderWho = await who('doomed', 'editor')
  const session = newSession()
  const holderKey = `${session}:c1`
  const value = { resources: ['db'], mode: 'exclusive' as const }
  // The watcher judges claims against what their sessions wrote.
  ledger.claims.set(holderKey, value)
  const child = runCoordClient(server, ws, holderWho, session, { CLAIM_ID: 'c1', CLAIM: JSON.stringify(value) })
  await clientReady(child, session, holderWho.actor)
  const granted = JSON.parse((await child.line(/^outcome (\{.*"granted".*\})$/))[1]!) as { token: number }
  const waiter = await joinCoord(server, ws, await who('patient', 'editor'))
  const waiterKey = claim(waiter, 'w', { resources: ['db'], mode: 'exclusive' })
  await waitFor(() => queueOf(watcher.doc, 'db').includes(waiterKey), 5000, 'the waiter was not queued')

  await child.kill9()
  // The server noticed: the session is offline, its lock is still held.
  const offline = await waitFor(
    () => {
      const entry = watcher.doc.getMap<{ online: boolean; lastSeenAt: number }>('sessions').get(session)
      return entry && !entry.online ? entry : null
    },
    5000,
    'the killed session never showed online: false',
  )
  assert.equal(holdersOf(watcher.doc, 'db'), [holderKey], 'the lock must be kept during the grace period')
  assert.equal(queueOf(watcher.doc, 'db'), [waiterKey])

  const grant = await waitOutcome(waiter, waiterKey, ['granted'], 10_000)
  assert.ok(
    grant.at - offline.lastSeenAt >= GRACE_MS - TIMER_SLACK_MS,
    `granted ${grant.at - offline.lastSeenAt} ms after the disconnect; the grace period is ${GRACE_MS} ms`,
  )
  assert.ok(grant.token! > granted.token)
  // The dead session is gone, its claim and outcome with it.
  await waitFor(() => !watcher.doc.getMap('sessions').has(session), 5000, 'the dead session was not removed')
  assert.not.ok(watcher.doc.getMap('claims').has(holderKey))
  assert.not.ok(outcomesOf(watcher.doc).has(holderKey))
  const audit = await fetchAudit(server, ws, waiter.who.token)
  const end = audit.find((entry) => entry.type === 'session-end' && entry.session === session)
  const released = audit.find((entry) => entry.type === 'release' && entry.data?.key === holderKey)
  assert.ok(end && released, 'the session end and the release are audited')
  assert.is(released!.data!.reason, 'session ended')
  // The watcher never saw the waiter hold the lock while the dead holder did.
  assert.is(watcher.maxHolders.get('db'), 1)
  watcher.assertClean()
})

test('a session that reconnects within the grace period keeps its lock', async () => {
  const server = await start(`${GRACE_MS}ms`)
  const ws = 'crash-reconnect'
  const watcher = await Watcher.start(server, ws)
  const holder = await joinCoord(server, ws, await who('flaky', 'editor'))
  const bystander = await joinCoord(server, ws, await who('bystander', 'editor'))
  const waiter = await joinCoord(server, ws, await who('waiter', 'editor'))
  const key = claim(holder, 'k', { resources: ['k'], mode: 'exclusive' })
  const granted = await waitOutcome(holder, key, ['granted'])
  const waiterKey = claim(waiter, 'w', { resources: ['k'], mode: 'exclusive' })
  await waitFor(() => queueOf(watcher.doc, 'k').includes(waiterKey), 5000, 'the waiter was not queued')
  // Both lose their sockets at once; only the holder comes back.
  dropPeerSocket(holder)
  dropPeerSocket(bystander)
  const sessions = watcher.doc.getMap<{ online: boolean }>('sessions')
  await waitFor(() => sessions.get(holder.session)?.online === false, 5000, 'the server never saw the holder disconnect')
  holder.provider.connect()
  await waitFor(() => sessions.get(holder.session)?.online === true, 5000, 'the holder never came back online')
  // The bystander's grace period ending shows that the holder's would have ended too.
  await waitFor(() => !sessions.has(bystander.session), 10_000, "the bystander's session never ended")
  assert.equal(holdersOf(watcher.doc, 'k'), [key])
  assert.is(outcomesOf(watcher.doc).get(key)?.token, granted.token)
  assert.equal(queueOf(watcher.doc, 'k'), [waiterKey])
  // Still the holder's to release.
  release(holder, key)
  assert.ok((await waitOutcome(waiter, waiterKey, ['granted'])).token! > granted.token!)
  watcher.assertClean()
})

test('fencing tokens keep rising across a kill -9 of the server; meta.fence is persisted', async () => {
  const server = await start('60s')
  const ws = 'crash-fence'
  const worker = await joinCoord(server, ws, await who('fencer', 'editor'))
  const tokens: number[] = []
  for (let i = 0; i < 10; i++) {
    const key = claim(worker, `c${i}`, { resources: ['a'], mode: 'exclusive' })
    tokens.push((await waitOutcome(worker, key, ['granted'])).token!)
    release(worker, key)
  }
  const heldKey = claim(worker, 'held', { resources: ['b'], mode: 'exclusive' })
  const held = (await waitOutcome(worker, heldKey, ['granted'])).token!
  tokens.push(held)
  // Killed right after the client saw its grant: what a client has seen must survive.
  await server.kill()
  cleanupClients()
  await server.restart()
  const admin = await who('fence-admin', 'admin')
  const state = await getState(server, ws, admin.token)
  assert.is(state.meta.fence, held, 'meta.fence after the crash')
  assert.is(state.locks.b?.holders[0]?.token, held, 'the held lock survived (its session is in its grace period)')
  const again = await joinCoord(server, ws, await who('fencer', 'editor'))
  const next = (await waitOutcome(again, claim(again, 'after', { resources: ['a'], mode: 'exclusive' }), ['granted'])).token!
  assert.ok(next > Math.max(...tokens), `token ${next} after the crash; tokens before: ${tokens.join(', ')}`)
  for (let i = 1; i < tokens.length; i++) assert.ok(tokens[i]! > tokens[i - 1]!)
  // A second crash, now with no client connected at the moment of the kill.
  await server.kill()
  cleanupClients()
  await server.restart()
  const third = await joinCoord(server, ws, await who('fencer', 'editor'))
  const last = (await waitOutcome(third, claim(third, 'again', { resources: ['c'], mode: 'exclusive' }), ['granted'])).token!
  assert.ok(last > next)
})

test('wait and ttl deadlines set before a graceful restart fire after it', async () => {
  const server = await start('10s')
  const ws = 'crash-timers'
  const [a, b, c] = (await Promise.all(['ta', 'tb', 'tc'].map(async (name) => joinCoord(server, ws, await who(name, 'editor'))))) as [
    CoordPeer,
    CoordPeer,
    CoordPeer,
  ]
  const aKey = claim(a, 'a', { resources: ['q'], mode: 'exclusive' })
  await waitOutcome(a, aKey, ['granted'])
  const bKey = claim(b, 'b', { resources: ['q'], mode: 'exclusive', waitMs: 2500 })
  const cKey = claim(c, 'c', { resources: ['r'], mode: 'exclusive', ttlMs: 2500 })
  const cGrant = await waitOutcome(c, cKey, ['granted'])
  let queuedAt = 0
  await waitFor(() => (queuedAt = queueEntryOf(b.doc, bKey)?.queuedAt ?? 0), 5000, 'b was not queued')
  const expiresAt = locksOf(c.doc).get('r')!.holders[0]!.expiresAt!
  assert.is(expiresAt, cGrant.at + 2500)
  // Graceful stop; the clients (same sessions) reconnect by themselves to the restarted server.
  const exit = await server.stop()
  assert.is(exit.code, 0)
  const stoppedAt = Date.now()
  assert.is(outcomesOf(b.doc).get(bKey), undefined, 'b timed out before the restart: the test proves nothing')
  assert.is(outcomesOf(c.doc).get(cKey)?.state, 'granted', 'c expired before the restart: the test proves nothing')
  await server.restart({ samePort: true })
  const timeout = await waitOutcome(b, bKey, ['timeout', 'granted'], 15_000)
  const expired = await waitOutcome(c, cKey, ['expired'], 15_000)
  assert.is(timeout.state, 'timeout')
  assert.ok(timeout.at >= queuedAt + 2500 && timeout.at >= stoppedAt, 'the wait deadline fired in the new process, not early')
  assert.ok(expired.at >= expiresAt && expired.at >= stoppedAt, 'the ttl deadline fired in the new process, not early')
  assert.is(expired.token, cGrant.token)
  // a reconnected within its grace period and still holds q.
  await waitFor(() => holdersOf(a.doc, 'q')[0] === aKey && a.provider.synced, 5000, 'a lost its lock over the restart')
})

test.run()
