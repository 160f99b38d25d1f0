// The coordination document's top-level types, and how the rules' results are written into them.
import * as Y from 'yjs'
import type { SessionValue } from '../../shared/coordination.js'
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

  constructor(doc: Y.Doc) {
    this.claims = doc.getMap('claims')
    this.locks = doc.getMap('locks')
    this.outcomes = doc.getMap('outcomes')
    this.approvals = doc.getMap('approvals')
    this.sessions = doc.getMap('sessions')
    this.meta = doc.getMap('meta')
    this.activity = doc.getArray('activity')
  }

  /** Writes exactly the keys the rules say changed. */
  writeBack(result: ReduceResult & { ok: true }, state: CoordState): void {
    const { changed } = result
    for (const key of changed.claims) if (this.claims.has(key)) this.claims.delete(key)
    for (const resource of changed.locks) setOrDelete(this.locks, resource, state.locks[resource])
    for (const key of changed.outcomes) setOrDelete(this.outcomes, key, state.outcomes[key])
    for (const key of changed.approvals) this.writeStatus(key, state.approvals[key]!)
    if (changed.fence) this.meta.set('fence', state.fence)
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
