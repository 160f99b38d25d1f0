// Locks without a replica of the coordination document (shared/lock-channel.ts), for agents that
// only take locks: the connection carries requests and the notices about this session's own
// claims, nothing else, so a handoff among many agents costs each of them nothing. Same locks,
// rules, fencing tokens and grace period as `connect().locks`; no queue positions (`onWait`), no
// listing (use `connect()` or REST for those).
import * as decoding from 'lib0/decoding'
import type { ClaimValue, OutcomeValue } from '../shared/coordination.js'
import { encodeLockMessage, LOCK_MESSAGE, LOCKS_ONLY_PARAM, type LockNotice, type LockRequest, MAX_RESUME_IDS } from '../shared/lock-channel.js'
import { checkSession, checkWorkspace } from '../shared/names.js'
import { closedError, type ConnectionState, shouldReconnect, type StateChange } from './connection.js'
import { abortError } from './context.js'
import { check, HuddleError } from './errors.js'
import { newSessionId, randomId } from './ids.js'
import { type AcquireOptions, claimValueOf, Lock, type LockOwner, outcomeError, runUnderLock, untrusted } from './locks.js'
import { serverUrls } from './urls.js'

export interface LockClientOptions {
  /** the server: http://host:port or ws://host:port */
  url: string
  workspace: string
  token: string
  /** 16-64 characters of [A-Za-z0-9_-]; default: a new random one. Kept across reconnects. */
  session?: string
  /** the WebSocket class; default: the global one (browsers). In Node, pass `ws`'s WebSocket. */
  WebSocket?: typeof WebSocket
  /** the longest pause between reconnect attempts (default 2500 ms) */
  maxBackoffMs?: number
  /** give up when the server has not answered within this (default 10 s) */
  connectTimeoutMs?: number
}

/** acquire's options; `onWait` needs a replica (`connect()`) */
export type LockOnlyAcquireOptions = Omit<AcquireOptions, 'onWait'>

interface Waiting {
  key: string
  value: ClaimValue
  resolve(lock: Lock): void
  reject(error: HuddleError): void
  cleanup(): void
}

/** How long `release()` waits for the server to confirm. */
const RELEASE_CONFIRM_MS = 5000
const FIRST_BACKOFF_MS = 100

/** Opens a lock-only connection; resolves once the server has answered on it. */
export async function connectLocks(options: LockClientOptions): Promise<LockClient> {
  const WebSocketImpl = options.WebSocket ?? globalThis.WebSocket
  if (!WebSocketImpl) throw new HuddleError('invalid-argument', 'no WebSocket here: pass {WebSocket} (in Node: import { WebSocket } from "ws")')
  check(checkWorkspace(options.workspace))
  const session = options.session ?? newSessionId()
  check(checkSession(session))
  const url = new URL(`${serverUrls(options.url).ws}/${encodeURIComponent(options.workspace)}`)
  url.searchParams.set('token', options.token)
  url.searchParams.set('session', session)
  url.searchParams.set(LOCKS_ONLY_PARAM, '1')
  const client = new LockClient(url.href, session, WebSocketImpl, options.maxBackoffMs ?? 2500)
  await client.ready(options.connectTimeoutMs ?? 10_000)
  return client
}

export class LockClient implements LockOwner {
  state: ConnectionState = 'connecting'
  /** how long the server keeps a disconnected session's locks (it says so in every pong) */
  leaseGraceMs = 15_000
  private socket: WebSocket | null = null
  private readonly waiting = new Map<string, Waiting>()
  private readonly holding = new Map<string, Lock>()
  /** release() calls waiting for the server's `released` */
  private readonly releasing = new Map<string, () => void>()
  /**
   * Claims given up here (released, withdrawn, lost, ended by an outcome) until the server says
   * they are gone: sent again after a reconnect, so a release made while disconnected is not lost.
   */
  private readonly dropped = new Set<string>()
  private lastHeardAt = 0
  private lastClose: StateChange | null = null
  private backoffMs = FIRST_BACKOFF_MS
  private readonly firstPong: Promise<void>
  private answered!: () => void
  private trustTimers: Array<ReturnType<typeof setInterval>> = []
  private reconnectTimer: ReturnType<typeof setTimeout> | null = null

  /** @internal use `connectLocks()` */
  constructor(
    private readonly url: string,
    readonly session: string,
    private readonly WebSocketImpl: typeof WebSocket,
    private readonly maxBackoffMs: number,
  ) {
    this.firstPong = new Promise((resolve) => {
      this.answered = resolve
    })
    this.open()
  }

  /** Claims all `resources` at once; resolves with the lock when granted (see `Locks.acquire`). */
  acquire(resources: string | string[], options: LockOnlyAcquireOptions = {}): Promise<Lock> {
    let value: ClaimValue
    try {
      if ('onWait' in options) throw new HuddleError('invalid-argument', 'onWait needs the queue, which a lock-only client does not see: use connect().locks')
      value = claimValueOf(resources, options)
    } catch (error) {
      return Promise.reject(error)
    }
    if (options.signal?.aborted) return Promise.reject(abortError(options.signal))
    if (this.state === 'closed') return Promise.reject(closedError(this.lastClose))
    const id = randomId(12)
    return new Promise<Lock>((resolve, reject) => {
      const onAbort = () => this.finish(id, abortError(options.signal!))
      options.signal?.addEventListener('abort', onAbort, { once: true })
      const key = `${this.session}:${id}`
      this.waiting.set(id, { key, value, resolve, reject, cleanup: () => options.signal?.removeEventListener('abort', onAbort) })
      this.send({ op: 'acquire', id, claim: value })
      this.watchTrust()
    })
  }

  /** Runs `fn` while holding the lock and releases it whatever happens (see `runUnderLock`). */
  withLock<T>(resources: string | string[], fn: (lock: Lock) => T | Promise<T>, options: LockOnlyAcquireOptions = {}): Promise<T> {
    return runUnderLock(this.acquire(resources, options), fn, options.signal)
  }

  /** The locks this client holds now. */
  held(): Lock[] {
    return [...this.holding.values()]
  }

  isHeld(lock: Lock): boolean {
    return this.holding.get(lock.id) === lock
  }

  /** Releases the lock; resolves once the server confirms (or at once while disconnected). */
  async release(lock: Lock): Promise<void> {
    if (this.holding.get(lock.id) !== lock) return
    this.holding.delete(lock.id)
    this.watchTrust()
    if (this.state !== 'connected') return this.drop(lock.id)
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => done(), RELEASE_CONFIRM_MS)
      const done = () => {
        clearTimeout(timer)
        this.releasing.delete(lock.id)
        resolve()
      }
      this.releasing.set(lock.id, done)
      this.drop(lock.id)
    })
  }

  /** Withdraws every claim, releases every lock, and closes the connection. */
  async close(): Promise<void> {
    if (this.state === 'closed') return
    for (const id of [...this.waiting.keys()]) this.finish(id, new HuddleError('closed', 'the client is closing'))
    await Promise.all(this.held().map((lock) => lock.release()))
    this.shut({ state: 'closed', reason: 'closed by the client' })
    this.socket?.close(1000)
  }

  /** @internal resolves at the first pong: the server admitted the connection and loaded the workspace */
  async ready(timeoutMs: number): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new HuddleError('unreachable', `no answer from the server within ${timeoutMs} ms (${this.url.replace(/\?.*/, '')}); is it running?`)),
        timeoutMs,
      )
    })
    const closed = new Promise<never>((_, reject) => {
      this.onClosed = () => reject(closedError(this.lastClose))
    })
    try {
      await Promise.race([this.firstPong, timeout, closed])
    } catch (error) {
      this.shut(this.lastClose ?? { state: 'closed' })
      this.socket?.close(1000)
      throw error
    } finally {
      clearTimeout(timer)
      this.onClosed = () => undefined
    }
  }

  private onClosed: () => void = () => undefined

  // ---- the socket -------------------------------------------------------------------------------

  private open(): void {
    const socket = new this.WebSocketImpl(this.url)
    socket.binaryType = 'arraybuffer'
    this.socket = socket
    socket.onopen = () => {
      this.backoffMs = FIRST_BACKOFF_MS
      this.state = 'connected'
      this.send({ op: 'ping' })
      // what was asked before the reconnect: claims the server may not have, locks it may have ended
      for (const [id, waiting] of this.waiting) this.send({ op: 'acquire', id, claim: waiting.value })
      for (const id of this.dropped) this.send({ op: 'release', id })
      const held = [...this.holding.keys()]
      for (let i = 0; i < held.length; i += MAX_RESUME_IDS) this.send({ op: 'resume', ids: held.slice(i, i + MAX_RESUME_IDS) })
    }
    socket.onmessage = (event: MessageEvent) => this.receive(new Uint8Array(event.data as ArrayBuffer))
    socket.onclose = (event: CloseEvent) => {
      if (this.socket !== socket) return
      this.lastClose = { state: 'closed', code: event.code, reason: event.reason }
      if (this.state === 'closed') return
      if (!shouldReconnect(event)) {
        this.shut(this.lastClose)
        return this.onClosed()
      }
      this.state = 'disconnected'
      this.reconnectTimer = setTimeout(() => this.open(), this.backoffMs)
      this.backoffMs = Math.min(this.maxBackoffMs, this.backoffMs * 2)
    }
    socket.onerror = () => undefined
  }

  private send(request: LockRequest): void {
    if (this.state === 'connected' && this.socket?.readyState === this.WebSocketImpl.OPEN) this.socket.send(encodeLockMessage(request))
  }

  private receive(frame: Uint8Array): void {
    this.lastHeardAt = Date.now()
    const decoder = decoding.createDecoder(frame)
    if (decoding.readVarUint(decoder) !== LOCK_MESSAGE) return
    this.handle(JSON.parse(decoding.readVarString(decoder)) as LockNotice)
  }

  // ---- the server's notices -----------------------------------------------------------------------

  private handle(notice: LockNotice): void {
    switch (notice.op) {
      case 'pong':
        this.leaseGraceMs = notice.leaseGraceMs > 0 ? notice.leaseGraceMs : this.leaseGraceMs
        return this.answered()
      case 'outcome':
        return this.outcome(notice.id, notice.outcome, notice.expiresAt)
      case 'refused':
        return this.finish(notice.id, new HuddleError('refused', `the server refused the claim: ${notice.reason}`))
      case 'released': {
        this.dropped.delete(notice.id)
        this.releasing.get(notice.id)?.()
        const lost = new HuddleError('lost', 'the server no longer lists the claim (the session ended after a long disconnect?); acquire again')
        this.finish(notice.id, lost)
        const lock = this.holding.get(notice.id)
        if (lock) this.lose(lock, lost)
        return
      }
      case 'queued':
        return
    }
  }

  private outcome(id: string, outcome: OutcomeValue, expiresAt: number | undefined): void {
    const waiting = this.waiting.get(id)
    if (waiting && outcome.state === 'granted') {
      const { resources, mode } = waiting.value
      return this.finish(id, new Lock(this, waiting.key, resources, mode, outcome.token ?? 0, outcome.at, expiresAt))
    }
    if (waiting) return this.finish(id, outcomeError(outcome, waiting.value.resources, ''))
    const lock = this.holding.get(id)
    if (lock && outcome.state !== 'granted') this.lose(lock, outcomeError(outcome, lock.resources, ''))
  }

  private finish(id: string, result: Lock | HuddleError): void {
    const waiting = this.waiting.get(id)
    if (!waiting) return
    this.waiting.delete(id)
    waiting.cleanup()
    if (result instanceof Lock) {
      this.holding.set(id, result)
      waiting.resolve(result)
    } else {
      // tidy: an outcome other than granted leaves the claim in the document until it is deleted
      this.drop(id)
      waiting.reject(result)
    }
    this.watchTrust()
  }

  /** Deletes claim `id` on the server, now or once connected again. */
  private drop(id: string): void {
    this.dropped.add(id)
    this.send({ op: 'release', id })
  }

  private lose(lock: Lock, error: HuddleError): void {
    if (this.holding.get(lock.id) !== lock) return
    this.holding.delete(lock.id)
    this.drop(lock.id)
    lock.markLost(error)
    this.watchTrust()
  }

  private shut(close: StateChange): void {
    this.state = 'closed'
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer)
    this.failAll(closedError(close))
    for (const done of [...this.releasing.values()]) done()
  }

  private failAll(error: HuddleError): void {
    for (const id of [...this.waiting.keys()]) this.finish(id, error)
    for (const lock of this.held()) this.lose(lock, error)
  }

  // ---- trust --------------------------------------------------------------------------------------

  /** While anything is held or waited for, ping and check the server was heard within the grace period. */
  private watchTrust(): void {
    const busy = this.waiting.size + this.holding.size > 0
    if (busy && this.trustTimers.length === 0) {
      const interval = Math.min(5000, Math.max(100, this.leaseGraceMs / 4))
      const since = Date.now()
      this.trustTimers = [setInterval(() => this.send({ op: 'ping' }), interval), setInterval(() => this.checkTrust(since), Math.min(1000, interval))]
    } else if (!busy) {
      for (const timer of this.trustTimers) clearInterval(timer)
      this.trustTimers = []
    }
  }

  private checkTrust(since: number): void {
    const error = untrusted(Date.now() - Math.max(this.lastHeardAt, since), this.leaseGraceMs)
    if (error) this.failAll(error)
  }
}
