// Locks over the coordination document. Acquire writes `claims[<session>:<id>]` once; the server
// answers in `outcomes` and `locks`. Release deletes the claim. A held lock is reported lost as
// soon as the server says it is gone, or as soon as the server has been silent for longer than
// the lease grace period (after which it may have released the lock to someone else).
import type { ClaimValue, LockHolder, LockMode, LockValue, OutcomeValue } from '../shared/coordination.js'
import { COORD } from '../shared/coordination.js'
import { parseClaimValue } from '../shared/values.js'
import { roleAtLeast } from '../shared/roles.js'
import type * as Y from 'yjs'
import { abortError, type ClientContext, touches, waitForServer } from './context.js'
import { HuddleError, parsed } from './errors.js'
import { randomId } from './ids.js'
import { closedError } from './connection.js'
import { type LockInfo, lockInfos } from './views.js'
import { ClaimWait, type WaitInfo } from './lock-wait.js'

export type { Blocker, WaitInfo } from './lock-wait.js'

export interface AcquireOptions {
  /** `exclusive` (default) excludes everyone; `shared` coexists with other shared holders */
  mode?: LockMode
  /** give up after waiting this long (ms); 0 tries once. Default: wait for ever */
  waitMs?: number
  /** the server releases the lock this long (ms) after granting it */
  ttlMs?: number
  /** shown to others next to the lock (at most 500 characters) */
  note?: string
  /** aborting withdraws the claim (or, for withLock, releases the lock) */
  signal?: AbortSignal
  /** called whenever the queue position or the holders change while waiting */
  onWait?: (wait: WaitInfo) => void
}

/** What keeps a Lock: the replica's `Locks`, or a lock-only client (lock-only.ts). */
export interface LockOwner {
  isHeld(lock: Lock): boolean
  release(lock: Lock): Promise<void>
}

/** A granted lock. `signal` aborts, with a HuddleError as its reason, when the lock is lost. */
export class Lock {
  private readonly controller = new AbortController()

  constructor(
    private readonly owner: LockOwner,
    /** the claim key, `<session>:<id>` */
    readonly key: string,
    readonly resources: string[],
    readonly mode: LockMode,
    /** the fencing token: strictly increasing per workspace; pass it to what the lock protects */
    readonly token: number,
    /** server time of the grant (ms since the epoch) */
    readonly grantedAt: number,
    /** server time the ttl ends, when one was set */
    readonly expiresAt: number | undefined,
  ) {}

  /** Aborted when the lock is lost (not when it is released). */
  get signal(): AbortSignal {
    return this.controller.signal
  }

  get id(): string {
    return this.key.slice(this.key.indexOf(':') + 1)
  }

  get held(): boolean {
    return this.owner.isHeld(this)
  }

  /** Releases the lock; resolves once the server confirms (or at once while disconnected). */
  release(): Promise<void> {
    return this.owner.release(this)
  }

  /** @internal */
  markLost(error: HuddleError): void {
    this.controller.abort(error)
  }
}

interface Waiting {
  key: string
  value: ClaimValue
  options: AcquireOptions
  /** its queue position and blockers, kept up to date for `onWait` */
  wait: ClaimWait
  resolve(lock: Lock): void
  reject(error: HuddleError): void
  cleanup(): void
}

/** How long to wait for the server to confirm a release before moving on. */
const RELEASE_CONFIRM_MS = 5000

export class Locks implements LockOwner {
  private readonly waiting = new Map<string, Waiting>()
  private readonly holding = new Map<string, Lock>()
  /**
   * Claims deleted here (released, withdrawn, dropped after an outcome) that the server may still
   * put back, until it no longer lists them. The server undoes someone else's refused write of a
   * claim key by writing the old value again as a new item; a delete made before that item
   * arrived does not reach it, and the lock would stay held until the session ends.
   */
  private readonly dropped = new Map<string, string[]>()
  private stopHeartbeat: (() => void) | null = null
  private trustTimer: ReturnType<typeof setInterval> | null = null
  /** when the trust watch started: silence before it says nothing about what we hold now */
  private trustSince = 0

  constructor(private readonly ctx: ClientContext) {
    ctx.conn.on('change', (transaction) => {
      const { claims, locks, queue, outcomes } = ctx.maps
      if (touches(transaction, [claims, locks, queue, outcomes])) {
        this.evaluate(transaction)
        this.dropAgain()
      }
    })
    ctx.conn.on('state', (change) => change.state === 'closed' && this.failAll(closedError(change)))
  }

  /**
   * Claims all `resources` at once and resolves with the lock when the server grants them, or
   * rejects with a HuddleError: timeout, invalid, refused, revoked, expired, lost, aborted, closed.
   */
  acquire(resources: string | string[], options: AcquireOptions = {}): Promise<Lock> {
    let value: ClaimValue
    try {
      value = this.claimValue(resources, options)
    } catch (error) {
      return Promise.reject(error)
    }
    if (options.signal?.aborted) return Promise.reject(abortError(options.signal))
    if (this.ctx.conn.state === 'closed') return Promise.reject(closedError(this.ctx.conn.lastProblem))
    const key = `${this.ctx.session}:${randomId(12)}`
    return new Promise<Lock>((resolve, reject) => {
      const onAbort = () => this.withdraw(key, abortError(options.signal!))
      options.signal?.addEventListener('abort', onAbort, { once: true })
      this.waiting.set(key, {
        key,
        value,
        options,
        wait: new ClaimWait(key, value.resources),
        resolve,
        reject,
        cleanup: () => options.signal?.removeEventListener('abort', onAbort),
      })
      this.ctx.maps.claims.set(key, value)
      this.watchTrust()
    })
  }

  /**
   * Runs `fn` while holding the lock and releases it whatever happens. If the lock is lost or
   * `options.signal` aborts while `fn` runs, withLock rejects at once and releases; `fn` learns of
   * it through `lock.signal` (lost) or its own signal, and should stop.
   */
  withLock<T>(resources: string | string[], fn: (lock: Lock) => T | Promise<T>, options: AcquireOptions = {}): Promise<T> {
    return runUnderLock(this.acquire(resources, options), fn, options.signal)
  }

  /** Every lock in the workspace: holders and queue per resource. */
  list(): LockInfo[] {
    return lockInfos(this.ctx.maps.locks.entries(), this.ctx.maps.queue.entries())
  }

  /** The locks this client holds now. */
  held(): Lock[] {
    return [...this.holding.values()]
  }

  isHeld(lock: Lock): boolean {
    return this.holding.get(lock.key) === lock
  }

  /** Takes `resource` away from its holders (admin only); they see their lock lost as `revoked`. */
  forceRelease(resource: string, reason?: string): Promise<void> {
    return this.ctx.api.forceRelease(resource, reason)
  }

  async release(lock: Lock): Promise<void> {
    if (this.holding.get(lock.key) !== lock) return
    this.holding.delete(lock.key)
    this.dropClaim(lock.key, lock.resources)
    this.watchTrust()
    if (this.ctx.conn.state !== 'connected') return
    await waitForServer(this.ctx, {
      check: () => (this.listed(lock.key, lock.resources) && this.ctx.conn.state === 'connected' ? undefined : true),
      timeoutMs: RELEASE_CONFIRM_MS,
      onTimeout: () => true,
    }).catch(() => undefined)
  }

  /** Releases every held lock and withdraws every waiting claim (on close). */
  async releaseAll(): Promise<void> {
    for (const key of [...this.waiting.keys()]) this.withdraw(key, new HuddleError('closed', 'the client is closing'))
    await Promise.all(this.held().map((lock) => lock.release()))
  }

  // ---- claims ---------------------------------------------------------------------------------

  private claimValue(resources: string | string[], options: AcquireOptions): ClaimValue {
    if (!roleAtLeast(this.ctx.identity.role, 'editor')) {
      throw new HuddleError('forbidden', `locks need role editor or above; the token for ${this.ctx.identity.actor} has role ${this.ctx.identity.role}`)
    }
    return claimValueOf(resources, options)
  }

  /** Deletes our claim key if it is still there: a release, a cancel, or tidying after an outcome. */
  private dropClaim(key: string, resources: string[]): void {
    if (this.ctx.maps.claims.has(key)) this.ctx.maps.claims.delete(key)
    this.dropped.set(key, resources)
  }

  /** Deletes again a dropped claim the server put back; forgets those the server no longer lists. */
  private dropAgain(): void {
    for (const [key, resources] of this.dropped) {
      if (this.ctx.maps.claims.has(key)) this.ctx.maps.claims.delete(key)
      else if (!this.listed(key, resources)) this.dropped.delete(key)
    }
  }

  private withdraw(key: string, error: HuddleError): void {
    const waiting = this.waiting.get(key)
    if (!waiting) return
    this.finish(waiting, error)
  }

  private finish(waiting: Waiting, result: Lock | HuddleError): void {
    this.waiting.delete(waiting.key)
    waiting.cleanup()
    if (result instanceof Lock) {
      this.holding.set(result.key, result)
      waiting.resolve(result)
    } else {
      this.dropClaim(waiting.key, waiting.value.resources)
      waiting.reject(result)
    }
    this.watchTrust()
  }

  private lose(lock: Lock, error: HuddleError): void {
    if (this.holding.get(lock.key) !== lock) return
    this.holding.delete(lock.key)
    // After a long disconnect the server may still list the claim; deleting it releases it there
    // as soon as the connection is back, instead of when the session ends.
    this.dropClaim(lock.key, lock.resources)
    lock.markLost(error)
    this.watchTrust()
  }

  private failAll(error: HuddleError): void {
    for (const waiting of [...this.waiting.values()]) this.finish(waiting, error)
    for (const lock of this.held()) this.lose(lock, error)
  }

  // ---- the server's answers -------------------------------------------------------------------

  private evaluate(transaction: Y.Transaction): void {
    for (const waiting of [...this.waiting.values()]) this.evaluateWaiting(waiting, transaction)
    for (const lock of this.held()) this.evaluateHeld(lock)
  }

  private evaluateWaiting(waiting: Waiting, transaction: Y.Transaction): void {
    const { key } = waiting
    const outcome = this.ctx.maps.outcomes.get(key) as OutcomeValue | undefined
    if (outcome?.state === 'granted') return this.finish(waiting, this.grant(waiting, outcome))
    if (outcome) return this.finish(waiting, outcomeError(outcome, waiting.value.resources, this.blockersText(waiting)))
    if (!this.ctx.maps.claims.has(key)) {
      const reason = this.ctx.feed.findRefusal(this.ctx.session, (write) => write.type === COORD.claims && write.key === key)
      const error = reason
        ? new HuddleError('refused', `the server refused the claim on ${waiting.value.resources.join(', ')}: ${reason}`)
        : new HuddleError(
            'lost',
            `the server dropped the claim on ${waiting.value.resources.join(', ')} (the session ended after a long disconnect); acquire again`,
          )
      return this.finish(waiting, error)
    }
    this.reportWait(waiting, transaction)
  }

  private grant(waiting: Waiting, outcome: OutcomeValue): Lock {
    const { resources, mode } = waiting.value
    const holder = this.holderOf(waiting.key, resources[0]!)
    return new Lock(this, waiting.key, resources, mode, outcome.token ?? holder?.token ?? 0, holder?.grantedAt ?? outcome.at, holder?.expiresAt)
  }

  private evaluateHeld(lock: Lock): void {
    const outcome = this.ctx.maps.outcomes.get(lock.key) as OutcomeValue | undefined
    if (outcome && outcome.state !== 'granted') return this.lose(lock, outcomeError(outcome, lock.resources, ''))
    if (!outcome || !this.ctx.maps.claims.has(lock.key) || lock.resources.some((resource) => !this.holderOf(lock.key, resource))) {
      this.lose(
        lock,
        new HuddleError('lost', `the lock on ${lock.resources.join(', ')} (token ${lock.token}) is gone: the server no longer lists it (the session ended?)`),
      )
    }
  }

  // ---- waiting ----------------------------------------------------------------------------------

  private lockValue(resource: string): LockValue | undefined {
    return this.ctx.maps.locks.get(resource) as LockValue | undefined
  }

  private holderOf(key: string, resource: string): LockHolder | undefined {
    return this.lockValue(resource)?.holders.find((holder) => holder.claim === key)
  }

  /** True while the server still lists `key` as a holder or waiter of any of `resources`. */
  private listed(key: string, resources: string[]): boolean {
    return this.ctx.maps.queue.has(key) || resources.some((resource) => !!this.holderOf(key, resource))
  }

  private reportWait(waiting: Waiting, transaction: Y.Transaction): void {
    if (!waiting.options.onWait) return
    const info = waiting.wait.update(this.ctx.maps, transaction)
    if (info) waiting.options.onWait(info)
  }

  private blockersText(waiting: Waiting): string {
    const holders = waiting.value.resources.flatMap((resource) => (this.lockValue(resource)?.holders ?? []).map((h) => `${resource} held by ${h.actor}`))
    return holders.join(', ')
  }

  // ---- trust ------------------------------------------------------------------------------------

  /**
   * While anything is held or waited for: keep a heartbeat going and check that the server was
   * heard from within the grace period. Past it, the server may have ended the session and given
   * the lock away, so the lock can no longer be trusted.
   */
  private watchTrust(): void {
    const busy = this.waiting.size + this.holding.size > 0
    if (busy && !this.trustTimer) {
      const grace = this.ctx.leaseGraceMs
      const interval = Math.min(5000, Math.max(100, grace / 4))
      this.trustSince = Date.now()
      this.stopHeartbeat = this.ctx.conn.holdHeartbeat(interval)
      this.trustTimer = setInterval(() => this.checkTrust(), Math.min(1000, interval))
    } else if (!busy && this.trustTimer) {
      clearInterval(this.trustTimer)
      this.trustTimer = null
      this.stopHeartbeat?.()
      this.stopHeartbeat = null
    }
  }

  private checkTrust(): void {
    const error = untrusted(Date.now() - Math.max(this.ctx.conn.lastHeardAt, this.trustSince), this.ctx.leaseGraceMs)
    if (error) this.failAll(error)
  }
}

/** The error that ends every lock and claim once the server was silent this long, else null. */
export function untrusted(silentMs: number, graceMs: number): HuddleError | null {
  // The server starts the grace period when it notices the disconnect, which is no earlier than
  // the last message it sent us; the margin covers that message's travel time.
  if (silentMs < graceMs - Math.min(1000, graceMs / 10)) return null
  return new HuddleError(
    'lost',
    `no word from the server for ${Math.round(silentMs / 1000)} s, longer than the lease grace period (${graceMs / 1000} s): the server may have released the lock`,
  )
}

/** The claim value `acquire` writes, checked like the server checks it. */
export function claimValueOf(resources: string | string[], options: AcquireOptions): ClaimValue {
  const value = {
    resources: typeof resources === 'string' ? [resources] : resources,
    mode: options.mode ?? 'exclusive',
    ...(options.waitMs !== undefined ? { waitMs: options.waitMs } : {}),
    ...(options.ttlMs !== undefined ? { ttlMs: options.ttlMs } : {}),
    ...(options.note !== undefined ? { note: options.note } : {}),
  }
  return parsed(parseClaimValue(value))
}

/** The error for a claim's outcome other than `granted`; `context` says what blocked it. */
export function outcomeError(outcome: OutcomeValue, resources: string[], context: string): HuddleError {
  const what = resources.join(', ')
  const why = outcome.reason ? `: ${outcome.reason}` : ''
  switch (outcome.state) {
    case 'timeout':
      return new HuddleError('timeout', `timed out waiting for ${what}${context ? ` (${context})` : ''}; try again later or wait longer`)
    case 'invalid':
      return new HuddleError('invalid', `the server recorded the claim on ${what} as invalid${why}`)
    case 'revoked':
      return new HuddleError('revoked', `the lock on ${what} (token ${outcome.token}) was force-released${why}`)
    case 'expired':
      return new HuddleError('expired', `the lock on ${what} (token ${outcome.token}) expired: its ttl ran out${why}`)
    default:
      return new HuddleError('lost', `unexpected outcome ${outcome.state} for ${what}`)
  }
}

/**
 * withLock's body: runs `fn` while holding the lock `acquiring` resolves to, and releases it
 * whatever happens. If the lock is lost or `signal` aborts while `fn` runs, it rejects at once and
 * releases; `fn` learns of it through `lock.signal` (lost) or its own signal, and should stop.
 */
export async function runUnderLock<T>(acquiring: Promise<Lock>, fn: (lock: Lock) => T | Promise<T>, signal?: AbortSignal): Promise<T> {
  const lock = await acquiring
  const cleanups: Array<() => void> = []
  const stop = new Promise<never>((_, reject) => {
    for (const [watched, error] of [
      [lock.signal, () => lock.signal.reason],
      [signal, () => abortError(signal!)],
    ] as const) {
      if (!watched) continue
      const onAbort = () => reject(error())
      if (watched.aborted) onAbort()
      watched.addEventListener('abort', onAbort, { once: true })
      cleanups.push(() => watched.removeEventListener('abort', onAbort))
    }
  })
  const work = Promise.resolve().then(() => fn(lock))
  // If `stop` wins, fn may still fail later (likely, once it sees the abort): that is expected.
  work.catch(() => undefined)
  try {
    return await Promise.race([work, stop])
  } finally {
    for (const cleanup of cleanups) cleanup()
    await lock.release()
  }
}
