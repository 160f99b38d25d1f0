// The single entry point of the rules: one event in, the next state out. Deterministic in
// (state, event), so replaying the audit log's events from `emptyState()` rebuilds the state.
import { cancel, expire, request, vote } from './approvals.js'
import { claim, grantWaiters, release, revoke, sessionEnded, ttlExpired, waitTimeout } from './locks.js'
import { emptyState, type CoordEvent, type CoordState, type ReduceResult } from './state.js'
import { Tx } from './tx.js'

/** Applies `event`; on refusal the state is unchanged and the glue undoes the client's write. */
export function reduce(state: CoordState, event: CoordEvent): ReduceResult {
  if (typeof event.at !== 'number' || !Number.isFinite(event.at)) return { ok: false, reason: 'event time must be a finite number of ms' }
  const tx = new Tx(state, event.at)
  const refused = apply(tx, event)
  return refused === null ? tx.result() : { ok: false, reason: refused }
}

/** Rebuilds the state from logged events; refused events change nothing, as when first seen. */
export function replay(events: Iterable<CoordEvent>, from: CoordState = emptyState()): CoordState {
  let state = from
  for (const event of events) {
    const result = reduce(state, event)
    if (result.ok) state = result.state
  }
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
