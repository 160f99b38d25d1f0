// Lock-only connections (?locks-only=1, shared/lock-channel.ts) against a real server (lease grace
// 1 s), checked from a full replica (`connect()`) that sees the coordination document: grants and
// handoffs with fencing tokens, withLock, timeouts, lost locks (revoke, ttl), a viewer refused and
// audited, hostile input closed with 4400 while everyone else carries on, no document traffic on
// a lock-only socket, and a session's locks across a disconnect shorter and longer than the grace
// period (through a real TCP relay that can cut the connection and refuse new ones), and what a
// reconnect catches up with.
import { createServer, type Server, type Socket, connect as tcpConnect } from 'node:net'
import * as decoding from 'lib0/decoding'
import * as encoding from 'lib0/encoding'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { type AuditEntry, connect, connectLocks, type Huddle, HuddleError, type Lock, type LockClient, type LockInfo } from '../client-lib/node.js'
import { encodeLockMessage, LOCK_MESSAGE, type LockNotice, type LockRequest, MAX_RESUME_IDS } from '../shared/lock-channel.js'
import type { Role } from '../shared/roles.js'
import {
  awarenessFrame,
  awarenessUpdate,
  decodeFrame,
  expectRefusal,
  mintToken,
  newSession,
  type RawClient,
  rawConnect,
  rejectionOf,
  syncStep1Frame,
  waitFor,
  withTimeout,
} from './helpers/clients.js'
import { TestServer } from './helpers/server.js'
import { withServer } from './helpers/suite.js'

const WS = 'lock-only'
const GRACE_MS = 1000
let server: TestServer
const replicas: Huddle[] = []
const lockClients: LockClient[] = []
const relays: Relay[] = []

// uvu runs after-hooks in the order they were added: the clients close before the server goes.
test.after(async () => {
  for (const client of lockClients.splice(0)) await client.close()
  for (const client of replicas.splice(0)) await client.close()
  for (const relay of relays.splice(0)) await relay.stop()
})
withServer(test, (started) => void (server = started), { args: ['--lease-grace', '1s'] })

async function replica(actor: string, role: Role = 'editor'): Promise<Huddle> {
  const huddle = await connect({ url: server.httpUrl, workspace: WS, token: await mintToken(actor, role, WS, { kind: 'agent' }), maxBackoffMs: 100 })
  replicas.push(huddle)
  return huddle
}

async function lockOnly(actor: string, role: Role = 'editor', url = server.httpUrl): Promise<LockClient> {
  const client = await connectLocks({ url, workspace: WS, token: await mintToken(actor, role, WS, { kind: 'agent' }), maxBackoffMs: 100 })
  lockClients.push(client)
  return client
}

/** A raw `ws` socket opened like client-lib/lock-only.ts opens one. */
async function rawLockOnly(actor: string, session = newSession(), room = WS): Promise<RawClient> {
  return rawConnect(server, room, { token: await mintToken(actor, 'editor', WS, { kind: 'agent' }), session, query: 'locks-only=1' })
}

function lockInfo(huddle: Huddle, resource: string): LockInfo | undefined {
  return huddle.locks.list().find((info) => info.resource === resource)
}

function holderSessions(huddle: Huddle, resource: string): string[] {
  return lockInfo(huddle, resource)?.holders.map((holder) => holder.session) ?? []
}

function queuedSessions(huddle: Huddle, resource: string): string[] {
  return lockInfo(huddle, resource)?.queue.map((waiter) => waiter.session) ?? []
}

/** True once the replica lists nobody holding or waiting for `resource`. */
function isFree(huddle: Huddle, resource: string): boolean {
  return holderSessions(huddle, resource).length === 0 && queuedSessions(huddle, resource).length === 0
}

function claimKeysOf(huddle: Huddle, session: string): string[] {
  return [...huddle.doc.getMap('claims').keys()].filter((key) => key.startsWith(`${session}:`))
}

/** `promise`, or a failure naming `what` when the answer it waits for never comes. */
function within<T>(promise: Promise<T>, what: string): Promise<T> {
  return withTimeout(promise, 10_000, what)
}

function lostReason(lock: Lock): HuddleError {
  return lock.signal.reason as HuddleError
}

/** The JSON of a type-100 frame, or null for any other frame. */
function noticeOf(frame: Uint8Array): LockNotice | null {
  const decoder = decoding.createDecoder(frame)
  if (decoding.readVarUint(decoder) !== LOCK_MESSAGE) return null
  return JSON.parse(decoding.readVarString(decoder)) as LockNotice
}

function notices(raw: RawClient): LockNotice[] {
  return raw.messages.map(noticeOf).filter((notice): notice is LockNotice => notice !== null)
}

function waitNotice(raw: RawClient, predicate: (notice: LockNotice) => boolean, what: string): Promise<Uint8Array> {
  return raw.waitMessage(
    (frame) => {
      const notice = noticeOf(frame)
      return notice !== null && predicate(notice)
    },
    5000,
    what,
  )
}

/** A type-100 frame carrying `text` as it is (not necessarily JSON, not necessarily a request). */
function lockFrame(text: string): Uint8Array {
  const encoder = encoding.createEncoder()
  encoding.writeVarUint(encoder, LOCK_MESSAGE)
  encoding.writeVarString(encoder, text)
  return encoding.toUint8Array(encoder)
}

function request(value: LockRequest | Record<string, unknown>): Uint8Array {
  return lockFrame(JSON.stringify(value))
}

/** The workspace's whole audit log, page after page. */
async function audit(reader: Huddle): Promise<AuditEntry[]> {
  const entries: AuditEntry[] = []
  for (;;) {
    const page = await reader.api.audit({ after: entries.at(-1)?.seq ?? 0, limit: 1000 })
    entries.push(...page)
    if (page.length < 1000) return entries
  }
}

/**
 * A TCP relay in front of the server: `drop()` cuts every connection through it (a network blip),
 * `block()` also refuses new ones until `unblock()` (a network partition). Real sockets both ways.
 */
class Relay {
  private readonly sockets = new Set<Socket>()
  private blocked = false
  accepted = 0

  private constructor(private readonly listener: Server) {}

  static async start(target: string): Promise<Relay> {
    const { hostname, port } = new URL(target)
    const listener = createServer()
    const relay = new Relay(listener)
    listener.on('connection', (client) => relay.accept(client, hostname, Number(port)))
    await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve))
    relays.push(relay)
    return relay
  }

  get url(): string {
    const address = this.listener.address()
    if (!address || typeof address === 'string') throw new Error('the relay is not listening')
    return `http://127.0.0.1:${address.port}`
  }

  private accept(client: Socket, host: string, port: number): void {
    if (this.blocked) return void client.destroy()
    this.accepted++
    const upstream = tcpConnect(port, host)
    for (const [from, to] of [
      [client, upstream],
      [upstream, client],
    ] as const) {
      this.sockets.add(from)
      from.pipe(to)
      from.on('error', () => to.destroy())
      from.on('close', () => {
        this.sockets.delete(from)
        to.destroy()
      })
    }
  }

  drop(): void {
    for (const socket of [...this.sockets]) socket.destroy()
  }

  block(): void {
    this.blocked = true
    this.drop()
  }

  unblock(): void {
    this.blocked = false
  }

  async stop(): Promise<void> {
    this.block()
    await new Promise<void>((resolve) => this.listener.close(() => resolve()))
  }
}

// ---------------------------------------------------------------------------------------------

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
  const response = await fetch(`${server.httpUrl}/api/workspaces/${WS}/locks/tape?reason=maintenance`, {
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
    assert.ok(server.running, `the server is still up after ${what}`)
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
  const normal = await rawConnect(server, WS, { token: await mintToken('mallory', 'editor', WS), session: normalSession })
  normal.send(encodeLockMessage({ op: 'acquire', id: 'sneaky', claim: { resources: ['hostile'], mode: 'exclusive' } }))
  const misdirected = await normal.waitClose(5000, 'the server to close a replica sending a lock request')
  assert.is(misdirected.code, 4400)
  assert.match(misdirected.reason, /lock requests \(message type 100\) need a lock-only connection/)
  // asked after the close, so after anything the misdirected acquire could have written
  const free = await within(watcher.locks.acquire('hostile', { waitMs: 0 }), 'hostile is free: the misdirected acquire wrote nothing')
  await free.release()
  await stillWorks('a lock request on a replica connection')

  // lock-only is for the workspace's coordination room, not a content document
  const refused = await expectRefusal(server, `${WS}/notes`, { token: await mintToken('mallory', 'editor', WS), session: newSession(), query: 'locks-only=1' })
  assert.is(refused.code, 4400)
  assert.match(refused.reason, /\?locks-only=1 is for a workspace's coordination room "lock-only", not a document/)
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

test('a blip shorter than the grace period keeps the lock; a partition longer than it loses the lock, which moves on', async () => {
  const relay = await Relay.start(server.httpUrl)
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
  const relay = await Relay.start(server.httpUrl)
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
  const options = { url: server.httpUrl, workspace: WS, maxBackoffMs: 100 }
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
  lockClients.push(dana)
  const watcher = await replica('wes')
  const held = await within(dana.acquire('revoked-token'), 'dana gets a lock')
  const blocker = await within(watcher.locks.acquire('other'), 'the replica gets other')
  const waiting = dana.acquire('other')
  const rejected = rejectionOf(HuddleError, waiting)
  await waitFor(() => queuedSessions(watcher, 'other').includes(dana.session), 5000, 'dana waits for other')
  const response = await fetch(`${server.httpUrl}/api/workspaces/${WS}/tokens/revoke`, {
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
  const relay = await Relay.start(patient.httpUrl)
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
