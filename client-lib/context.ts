// What the feature modules (locks, approvals, presence, audit) share: the connection, who we are,
// the document's top-level types, and one way to wait for the server's answer.
import type * as Y from 'yjs'
import type { ActivityEntry, ActivityFeed } from './activity.js'
import type { HuddleApi } from './api.js'
import { closedError, type WorkspaceConnection } from './connection.js'
import { HuddleError } from './errors.js'
import type { TokenIdentity } from './identity.js'

export interface ClientContext {
  conn: WorkspaceConnection
  session: string
  identity: TokenIdentity
  feed: ActivityFeed
  api: HuddleApi
  /** the server's --lease-grace: how long a disconnected session keeps its locks */
  readonly leaseGraceMs: number
  maps: {
    claims: Y.Map<unknown>
    locks: Y.Map<unknown>
    queue: Y.Map<unknown>
    outcomes: Y.Map<unknown>
    approvals: Y.Map<unknown>
    sessions: Y.Map<unknown>
  }
}

export interface WaitOptions<T> {
  /** run now and after every document change; a defined result settles the wait */
  check?: () => T | undefined
  /** run for every new activity entry; a result settles the wait, an Error rejects it */
  onEntry?: (entry: ActivityEntry) => T | Error | undefined
  signal?: AbortSignal
  /** settle with `onTimeout()` after this long */
  timeoutMs?: number
  onTimeout?: () => T
}

/** Waits for the server to answer; rejects when the connection closes for good or `signal` aborts. */
export function waitForServer<T>(ctx: ClientContext, options: WaitOptions<T>): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const cleanups: Array<() => void> = []
    const settle = (result: T | Error) => {
      for (const cleanup of cleanups) cleanup()
      if (result instanceof Error) reject(result)
      else resolve(result)
    }
    const run = <R>(fn: () => R): R | Error => {
      try {
        return fn()
      } catch (error) {
        return error instanceof Error ? error : new Error(String(error))
      }
    }
    if (options.signal?.aborted) return settle(abortError(options.signal))
    if (ctx.conn.state === 'closed') return settle(closedError(ctx.conn.lastProblem))
    const first = options.check && run(options.check)
    if (first !== undefined) return settle(first)
    if (options.check) {
      const check = options.check
      cleanups.push(
        ctx.conn.on('change', () => {
          const result = run(check)
          if (result !== undefined) settle(result)
        }),
      )
    }
    if (options.onEntry) {
      const onEntry = options.onEntry
      cleanups.push(
        ctx.feed.subscribe((entry) => {
          const result = run(() => onEntry(entry))
          if (result !== undefined) settle(result)
        }),
      )
    }
    cleanups.push(ctx.conn.on('state', (change) => change.state === 'closed' && settle(closedError(change))))
    if (options.signal) {
      const signal = options.signal
      const onAbort = () => settle(abortError(signal))
      signal.addEventListener('abort', onAbort, { once: true })
      cleanups.push(() => signal.removeEventListener('abort', onAbort))
    }
    if (options.timeoutMs !== undefined) {
      const onTimeout = options.onTimeout
      const timer = setTimeout(
        () => settle(onTimeout ? run(onTimeout) : new HuddleError('timeout', `no answer from the server within ${options.timeoutMs} ms`)),
        options.timeoutMs,
      )
      cleanups.push(() => clearTimeout(timer))
    }
  })
}

export function abortError(signal: AbortSignal): HuddleError {
  const reason = signal.reason instanceof Error ? signal.reason.message : signal.reason === undefined ? '' : String(signal.reason)
  return new HuddleError('aborted', `aborted${reason ? `: ${reason}` : ''}`, { cause: signal.reason })
}

// biome-ignore lint/suspicious/noExplicitAny: Y.Map<T>, Y.Array<T> and Y.Text only share AbstractType<YEvent<any>>
type AnyType = Y.AbstractType<Y.YEvent<any>>

/** The keys of `map` that `transaction` set or deleted (none when it did not touch the map). */
export function changedKeys(transaction: Y.Transaction, map: Y.Map<unknown>): ReadonlySet<string | null> {
  return transaction.changed.get(map as unknown as AnyType) ?? NO_KEYS
}

const NO_KEYS: ReadonlySet<string | null> = new Set()

/** True when `transaction` changed one of `types` directly (`deep`: or anything nested in it). */
export function touches(transaction: Y.Transaction, types: Y.Map<unknown>[], deep = false): boolean {
  const changed = deep ? transaction.changedParentTypes : transaction.changed
  return types.some((type) => changed.has(type as unknown as AnyType))
}
