// The single entry point of the rules: one event in, the next state out. Deterministic in
// (state, event), so replaying the audit log's events from `emptyState()` rebuilds the state.
// `reduce` leaves its input alone; the authority uses `advance`, which writes the event into the
// state it is given (a lock handoff then costs O(1) writes, not a copy of every map).
import { cancel, expire, request, vote } from './approvals.js'
import { claim, grantWaiters, release, revoke, sessionEnded, ttlExpired, waitTimeout } from './locks.js'
import { copyState, emptyState, type CoordEvent, type CoordState, type ReduceResult } from './state.js'
import { Tx } from './tx.js'

/** The state after `event`, as a new state; `state` is not changed. On refusal the glue undoes the client's write. */
export function reduce(state: CoordState, event: CoordEvent): ReduceResult {
  return advance(copyState(state), event)
}

/**
 * Applies `event` to `state` in place: on success `result.state` is `state`, now including the
 * event; on refusal, or if a rule throws, `state` is exactly as it was.
 */
export function advance(state: CoordState, event: CoordEvent): ReduceResult {
  if (typeof event.at !== 'number' || !Number.isFinite(event.at)) return { ok: false, reason: 'event time must be a finite number of ms' }
  const tx = new Tx(state, event.at)
  let refused: string | null
  try {
    refused = apply(tx, event)
  } catch (error) {
    tx.rollback()
    throw error
  }
  if (refused === null) return tx.result()
  tx.rollback()
  return { ok: false, reason: refused }
}

/** Rebuilds the state from logged events; refused events change nothing, as when first seen. `from` is not changed. */
export function replay(events: Iterable<CoordEvent>, from: CoordState = emptyState()): CoordState {
  const state = copyState(from)
  for (const event of events) advance(state, event)
  return state
}

function apply(tx: Tx, event: CoordEvent): string | null {
  switch (event.type) {
    case 'claim':
      return settle(tx, claim(tx, event))
    case 'release':
      return settle(tx, release(tx, event))
    case 'session-ended':
      return settle(tx, sessionEnded(tx, event))
    case 'wait-timeout':
      return settle(tx, waitTimeout(tx, event))
    case 'ttl-expired':
      return settle(tx, ttlExpired(tx, event))
    case 'revoke':
      return settle(tx, revoke(tx, event))
    case 'request':
      return request(tx, event)
    case 'vote':
      return vote(tx, event)
    case 'cancel':
      return cancel(tx, event)
    case 'approval-expired':
      return expire(tx, event)
    default:
      return `unknown event type ${JSON.stringify((event as { type: unknown }).type)}`
  }
}

/** After any lock change, serve every waiter that can now be granted. */
function settle(tx: Tx, refused: string | null): string | null {
  if (refused === null) grantWaiters(tx)
  return refused
}
