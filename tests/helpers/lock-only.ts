// The kit of the lock-only test files (tests/lock-only*.test.ts): a server per file, replicas
// (`connect()`) to check what the document says, lock-only clients, raw lock-only sockets, a TCP
// relay that can cut connections, and the type-100 frames and notices read and written raw.
import { createServer, type Server, type Socket, connect as tcpConnect } from 'node:net'
import * as decoding from 'lib0/decoding'
import * as encoding from 'lib0/encoding'
import type { Test } from 'uvu'
import { type AuditEntry, connect, connectLocks, type Huddle, type HuddleError, type Lock, type LockClient, type LockInfo } from '../../client-lib/node.js'
import { LOCK_MESSAGE, type LockNotice, type LockRequest } from '../../shared/lock-channel.js'
import type { Role } from '../../shared/roles.js'
import { mintToken, newSession, type RawClient, rawConnect, withTimeout } from './clients.js'
import type { TestServer } from './server.js'
import { withServer } from './suite.js'

export const WS = 'lock-only'

export interface LockOnlyKit {
  readonly server: TestServer
  /** a replica of the workspace (closed after the file) */
  replica(actor: string, role?: Role): Promise<Huddle>
  /** a lock-only client (closed after the file); `url` to go through a relay */
  lockOnly(actor: string, role?: Role, url?: string): Promise<LockClient>
  /** closes `client` after the file */
  track(client: LockClient): LockClient
  /** a raw `ws` socket opened like client-lib/lock-only.ts opens one */
  rawLockOnly(actor: string, session?: string, room?: string): Promise<RawClient>
  /** a relay in front of `target` (stopped after the file) */
  relay(target: string): Promise<Relay>
}

/** One server for the test file with `args`, and what its tests open, closed before it stops. */
export function lockOnlyKit(test: Test, args: string[]): LockOnlyKit {
  let server: TestServer | undefined
  const replicas: Huddle[] = []
  const lockClients: LockClient[] = []
  const relays: Relay[] = []
  // uvu runs after-hooks in the order they were added: the clients close before the server goes.
  test.after(async () => {
    for (const client of lockClients.splice(0)) await client.close()
    for (const client of replicas.splice(0)) await client.close()
    for (const relay of relays.splice(0)) await relay.stop()
  })
  withServer(test, (started) => void (server = started), { args })
  const kit: LockOnlyKit = {
    get server() {
      if (!server) throw new Error('the server is not started yet')
      return server
    },
    async replica(actor, role = 'editor') {
      const huddle = await connect({ url: kit.server.httpUrl, workspace: WS, token: await mintToken(actor, role, WS, { kind: 'agent' }), maxBackoffMs: 100 })
      replicas.push(huddle)
      return huddle
    },
    async lockOnly(actor, role = 'editor', url = kit.server.httpUrl) {
      return kit.track(await connectLocks({ url, workspace: WS, token: await mintToken(actor, role, WS, { kind: 'agent' }), maxBackoffMs: 100 }))
    },
    track(client) {
      lockClients.push(client)
      return client
    },
    async rawLockOnly(actor, session = newSession(), room = WS) {
      return rawConnect(kit.server, room, { token: await mintToken(actor, 'editor', WS, { kind: 'agent' }), session, query: 'locks-only=1' })
    },
    async relay(target) {
      const relay = await Relay.start(target)
      relays.push(relay)
      return relay
    },
  }
  return kit
}

export function lockInfo(huddle: Huddle, resource: string): LockInfo | undefined {
  return huddle.locks.list().find((info) => info.resource === resource)
}

export function holderSessions(huddle: Huddle, resource: string): string[] {
  return lockInfo(huddle, resource)?.holders.map((holder) => holder.session) ?? []
}

export function queuedSessions(huddle: Huddle, resource: string): string[] {
  return lockInfo(huddle, resource)?.queue.map((waiter) => waiter.session) ?? []
}

/** True once the replica lists nobody holding or waiting for `resource`. */
export function isFree(huddle: Huddle, resource: string): boolean {
  return holderSessions(huddle, resource).length === 0 && queuedSessions(huddle, resource).length === 0
}

export function claimKeysOf(huddle: Huddle, session: string): string[] {
  return [...huddle.doc.getMap('claims').keys()].filter((key) => key.startsWith(`${session}:`))
}

/** `promise`, or a failure naming `what` when the answer it waits for never comes. */
export function within<T>(promise: Promise<T>, what: string): Promise<T> {
  return withTimeout(promise, 10_000, what)
}

export function lostReason(lock: Lock): HuddleError {
  return lock.signal.reason as HuddleError
}

/** The JSON of a type-100 frame, or null for any other frame. */
export function noticeOf(frame: Uint8Array): LockNotice | null {
  const decoder = decoding.createDecoder(frame)
  if (decoding.readVarUint(decoder) !== LOCK_MESSAGE) return null
  return JSON.parse(decoding.readVarString(decoder)) as LockNotice
}

export function notices(raw: RawClient): LockNotice[] {
  return raw.messages.map(noticeOf).filter((notice): notice is LockNotice => notice !== null)
}

export function waitNotice(raw: RawClient, predicate: (notice: LockNotice) => boolean, what: string): Promise<Uint8Array> {
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
export function lockFrame(text: string): Uint8Array {
  const encoder = encoding.createEncoder()
  encoding.writeVarUint(encoder, LOCK_MESSAGE)
  encoding.writeVarString(encoder, text)
  return encoding.toUint8Array(encoder)
}

export function request(value: LockRequest | Record<string, unknown>): Uint8Array {
  return lockFrame(JSON.stringify(value))
}

/** The workspace's whole audit log, page after page. */
export async function audit(reader: Huddle): Promise<AuditEntry[]> {
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
export class Relay {
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
