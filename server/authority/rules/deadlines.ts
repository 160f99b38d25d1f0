// The timer events the state is waiting for, so the I/O layer can (re)schedule timers from
// persisted state after a restart. Fire each with `at` set to the time it actually fires.
import type { Changed, CoordEvent, CoordState } from './state.js'

export interface Deadline {
  at: number
  event: CoordEvent & { type: 'wait-timeout' | 'ttl-expired' | 'approval-expired' }
}

/** Every pending deadline, earliest first (ties by key, so the order is deterministic). */
export function deadlines(state: CoordState): Deadline[] {
  const due = new Map<string, Deadline>()
  for (const lock of Object.values(state.locks)) {
    for (const holder of lock.holders) {
      if (holder.expiresAt !== undefined) add(due, { type: 'ttl-expired', at: holder.expiresAt, key: holder.claim })
    }
  }
  for (const [key, waiter] of Object.entries(state.queue)) {
    const waitMs = state.claims[key]?.value?.waitMs
    if (waitMs !== undefined) add(due, { type: 'wait-timeout', at: waiter.queuedAt + waitMs, key })
  }
  for (const [key, entry] of Object.entries(state.approvals)) {
    const { expiresAt } = entry.request
    if (entry.status.state === 'pending' && expiresAt !== undefined) add(due, { type: 'approval-expired', at: expiresAt, key })
  }
  return [...due.values()].sort((a, b) => a.at - b.at || (a.event.key < b.event.key ? -1 : a.event.key > b.event.key ? 1 : 0))
}

/**
 * When the earliest deadline is due (Infinity when none): what a timer needs after every event.
 * It reads the deadline index kept beside the state, so it costs the deadlines there are, not the
 * size of the state (`deadlines` scans everything, builds, dedupes and sorts).
 */
export function earliestDeadline(state: CoordState): number {
  const index = indexOf(state)
  let earliest = Infinity
  for (const holders of index.ttl.values()) for (const at of holders.values()) if (at < earliest) earliest = at
  for (const at of index.wait.values()) if (at < earliest) earliest = at
  for (const at of index.expiry.values()) if (at < earliest) earliest = at
  return earliest
}

/** Follows one event's changes (`Tx.result`): only the sources it changed are read again. */
export function deadlinesChanged(state: CoordState, changed: Changed): void {
  const index = indexes.get(state)
  if (!index) return
  for (const resource of changed.locks) refreshTtl(index, state, resource)
  for (const key of changed.queue) refreshWait(index, state, key)
  for (const key of changed.approvals) refreshExpiry(index, state, key)
}

// The pending deadlines by source, derived from the state and kept beside it (a WeakMap on the
// state object, as queues.ts keeps the queue index): a copy of the state builds its own.
interface DeadlineIndex {
  /** resource → the ttl deadline of each of its holders that has one, by claim key */
  ttl: Map<string, Map<string, number>>
  /** claim key → when its wait ends */
  wait: Map<string, number>
  /** approval key → when it expires */
  expiry: Map<string, number>
}

const indexes = new WeakMap<CoordState, DeadlineIndex>()

function indexOf(state: CoordState): DeadlineIndex {
  let index = indexes.get(state)
  if (!index) {
    index = { ttl: new Map(), wait: new Map(), expiry: new Map() }
    for (const resource in state.locks) refreshTtl(index, state, resource)
    for (const key in state.queue) refreshWait(index, state, key)
    for (const key in state.approvals) refreshExpiry(index, state, key)
    indexes.set(state, index)
  }
  return index
}

function refreshTtl(index: DeadlineIndex, state: CoordState, resource: string): void {
  const timed = (state.locks[resource]?.holders ?? []).filter((holder) => holder.expiresAt !== undefined)
  if (timed.length === 0) index.ttl.delete(resource)
  else index.ttl.set(resource, new Map(timed.map((holder) => [holder.claim, holder.expiresAt!])))
}

function refreshWait(index: DeadlineIndex, state: CoordState, key: string): void {
  const waiter = state.queue[key]
  const waitMs = state.claims[key]?.value?.waitMs
  if (waiter && waitMs !== undefined) index.wait.set(key, waiter.queuedAt + waitMs)
  else index.wait.delete(key)
}

function refreshExpiry(index: DeadlineIndex, state: CoordState, key: string): void {
  const entry = state.approvals[key]
  if (entry?.status.state === 'pending' && entry.request.expiresAt !== undefined) index.expiry.set(key, entry.request.expiresAt)
  else index.expiry.delete(key)
}

// A multi-resource claim appears in several locks but has one deadline.
function add(due: Map<string, Deadline>, event: Deadline['event']): void {
  due.set(`${event.type} ${event.key}`, { at: event.at, event })
}
