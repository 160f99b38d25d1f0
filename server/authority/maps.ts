// The coordination document's top-level types, and how the rules' results are written into them.
import * as Y from 'yjs'
import type { LockValue, SessionValue } from '../../shared/coordination.js'
import type { AuditEntry } from '../audit/chain.js'
import type { ApprovalEntry, CoordState, ReduceResult } from './rules/index.js'

export class CoordinationMaps {
  readonly claims: Y.Map<unknown>
  readonly locks: Y.Map<unknown>
  readonly outcomes: Y.Map<unknown>
  readonly approvals: Y.Map<unknown>
  readonly sessions: Y.Map<SessionValue>
  readonly meta: Y.Map<unknown>
  readonly activity: Y.Array<unknown>

  /** `lagQueues`: leave new waiters for `writeLagging` (see `queueLagMs` in workspace.ts) */
  constructor(doc: Y.Doc, private readonly lagQueues: boolean) {
    this.claims = doc.getMap('claims')
    this.locks = doc.getMap('locks')
    this.outcomes = doc.getMap('outcomes')
    this.approvals = doc.getMap('approvals')
    this.sessions = doc.getMap('sessions')
    this.meta = doc.getMap('meta')
    this.activity = doc.getArray('activity')
  }

  /** resources whose `locks` value is behind the state by waiters that joined the queue */
  private readonly lagging = new Set<string>()

  /**
   * Writes exactly the keys the rules say changed. With `lagQueues`, an event whose only lock
   * changes are new waiters at the end of queues leaves those locks for `writeLagging`; any other
   * lock change writes the lagging ones with it, so the document never shows a multi-resource
   * claim in some of its queues only. Returns true when something was left.
   */
  writeBack(result: ReduceResult & { ok: true }, state: CoordState, previous: CoordState): boolean {
    const { changed } = result
    for (const key of changed.claims) if (this.claims.has(key)) this.claims.delete(key)
    const lag = this.lagQueues && changed.locks.length > 0 && changed.locks.every((resource) => onlyQueued(previous.locks[resource], state.locks[resource]))
    if (lag) changed.locks.forEach((resource) => this.lagging.add(resource))
    else if (changed.locks.length > 0) this.writeLocks([...changed.locks, ...this.lagging], state)
    for (const key of changed.outcomes) setOrDelete(this.outcomes, key, state.outcomes[key])
    for (const key of changed.approvals) this.writeStatus(key, state.approvals[key]!)
    if (changed.fence) this.meta.set('fence', state.fence)
    return this.lagging.size > 0
  }

  /**
   * Rewrites every lock whose value differs from the state's. Used at load: a queue change still
   * lagging when the process stopped was never written, while the state (audit + checkpoint) has it.
   */
  reconcileLocks(state: CoordState): void {
    for (const resource of new Set([...this.locks.keys(), ...Object.keys(state.locks)])) {
      if (JSON.stringify(this.locks.get(resource)) !== JSON.stringify(state.locks[resource])) setOrDelete(this.locks, resource, state.locks[resource])
    }
  }

  /** Writes the locks left behind by `writeBack`. */
  writeLagging(state: CoordState): void {
    this.writeLocks([...this.lagging], state)
  }

  private writeLocks(resources: string[], state: CoordState): void {
    for (const resource of new Set(resources)) setOrDelete(this.locks, resource, state.locks[resource])
    this.lagging.clear()
  }

  private writeStatus(key: string, entry: ApprovalEntry): void {
    const map = this.approvals.get(key)
    if (map instanceof Y.Map) map.set('status', entry.status)
    else this.approvals.set(key, approvalMap(entry))
  }

  pushActivity(entry: AuditEntry, limit: number): void {
    const { hash: _hash, prev: _prev, workspace: _workspace, ...shown } = entry
    this.activity.push([shown])
    if (this.activity.length > limit) this.activity.delete(0, this.activity.length - limit)
  }
}

/** True when `after` is `before` with waiters added at the end of its queue and nothing else. */
function onlyQueued(before: LockValue | undefined, after: LockValue | undefined): boolean {
  if (!before || !after || after.holders !== before.holders || after.queue.length <= before.queue.length) return false
  return before.queue.every((waiter, index) => after.queue[index] === waiter)
}

function setOrDelete(map: Y.Map<unknown>, key: string, value: unknown): void {
  if (value === undefined) {
    if (map.has(key)) map.delete(key)
  } else {
    map.set(key, value)
  }
}

/** An approval's Y.Map rebuilt from the authority's record (after a client deleted it). */
export function approvalMap(entry: ApprovalEntry | undefined): Y.Map<unknown> {
  const map = new Y.Map<unknown>()
  if (!entry) return map
  map.set('request', entry.request)
  for (const [actor, vote] of Object.entries(entry.votes)) {
    map.set(`vote:${actor}`, { decision: vote.decision, at: vote.at, ...(vote.reason !== undefined ? { reason: vote.reason } : {}) })
  }
  if (entry.cancel) map.set('cancel', entry.cancel)
  map.set('status', entry.status)
  return map
}
