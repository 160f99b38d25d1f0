// The timer events the state is waiting for, so the I/O layer can (re)schedule timers from
// persisted state after a restart. Fire each with `at` set to the time it actually fires.
import type { CoordEvent, CoordState } from './state.js'

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
 * When the earliest deadline is due (Infinity when none): what a timer needs after every event,
 * in one pass that allocates nothing, where `deadlines` builds, dedupes and sorts them all.
 */
export function earliestDeadline(state: CoordState): number {
  let earliest = Infinity
  for (const key in state.locks) {
    for (const holder of state.locks[key]!.holders) {
      if (holder.expiresAt !== undefined && holder.expiresAt < earliest) earliest = holder.expiresAt
    }
  }
  for (const key in state.queue) {
    const waitMs = state.claims[key]?.value?.waitMs
    const at = waitMs === undefined ? Infinity : state.queue[key]!.queuedAt + waitMs
    if (at < earliest) earliest = at
  }
  for (const key in state.approvals) {
    const { request, status } = state.approvals[key]!
    if (status.state === 'pending' && request.expiresAt !== undefined && request.expiresAt < earliest) earliest = request.expiresAt
  }
  return earliest
}

// A multi-resource claim appears in several locks but has one deadline.
function add(due: Map<string, Deadline>, event: Deadline['event']): void {
  due.set(`${event.type} ${event.key}`, { at: event.at, event })
}
