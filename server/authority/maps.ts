// The coordination document's top-level types, and how the rules' results are written into them.
import * as Y from 'yjs'
import { APPROVAL_FIELDS, COORD, META, type SessionValue, voteField } from '../../shared/coordination.js'
import type { AuditEntry } from '../audit/chain.js'
import { ActivityFeed } from './activity-feed.js'
import type { ApprovalEntry, CoordState, ReduceResult } from './rules/index.js'

/** The server-only maps that mirror a record of the state key by key. */
const MIRRORED = [COORD.locks, COORD.queue, COORD.outcomes] as const

export class CoordinationMaps {
  readonly claims: Y.Map<unknown>
  readonly locks: Y.Map<unknown>
  readonly queue: Y.Map<unknown>
  readonly outcomes: Y.Map<unknown>
  readonly approvals: Y.Map<unknown>
  readonly sessions: Y.Map<SessionValue>
  readonly meta: Y.Map<unknown>
  readonly activity: Y.Array<unknown>
  private readonly feed: ActivityFeed

  constructor(doc: Y.Doc) {
    this.claims = doc.getMap(COORD.claims)
    this.locks = doc.getMap(COORD.locks)
    this.queue = doc.getMap(COORD.queue)
    this.outcomes = doc.getMap(COORD.outcomes)
    this.approvals = doc.getMap(COORD.approvals)
    this.sessions = doc.getMap(COORD.sessions)
    this.meta = doc.getMap(COORD.meta)
    this.activity = doc.getArray(COORD.activity)
    this.feed = new ActivityFeed(this.activity, ACTIVITY_LIMIT, ACTIVITY_SLACK)
  }

  /** Writes exactly the keys the rules say changed: a grant or a handoff is a few small values. */
  writeBack(result: ReduceResult & { ok: true }, state: CoordState): void {
    const { changed } = result
    for (const key of changed.claims) if (this.claims.has(key)) this.claims.delete(key)
    for (const name of MIRRORED) for (const key of changed[name]) setOrDelete(this[name], key, state[name][key])
    for (const key of changed.approvals) this.writeStatus(key, state.approvals[key]!)
    if (changed.fence) this.meta.set(META.fence, state.fence)
    if (changed.seq) this.meta.set(META.seq, state.seq)
  }

  /**
   * Rewrites every server-only value that differs from the state. At load this upgrades a document
   * of layout 1 (waiters inside `locks[resource].queue`) to `queue` entries, drops the outcomes the
   * state no longer keeps, and repairs anything a crash left between document and state.
   */
  reconcile(state: CoordState): void {
    for (const name of MIRRORED) {
      const map = this[name]
      const record = state[name] as Record<string, unknown>
      for (const key of new Set([...map.keys(), ...Object.keys(record)])) {
        if (JSON.stringify(map.get(key)) !== JSON.stringify(record[key])) setOrDelete(map, key, record[key])
      }
    }
    if (state.fence > 0 && this.meta.get(META.fence) !== state.fence) this.meta.set(META.fence, state.fence)
    if (state.seq > 0 && this.meta.get(META.seq) !== state.seq) this.meta.set(META.seq, state.seq)
  }

  private writeStatus(key: string, entry: ApprovalEntry): void {
    const map = this.approvals.get(key)
    if (map instanceof Y.Map) map.set(APPROVAL_FIELDS.status, entry.status)
    else this.approvals.set(key, approvalMap(entry))
  }

  /**
   * Every member receives each activity entry, so it carries what people read, not the replay
   * input (`data.input`, kept in the audit log), nor the data fields that repeat the entry's own
   * (`type`, `actor`, `session`, `at`): together over half of what a lock handoff sends.
   */
  pushActivity(entry: AuditEntry): void {
    const { hash: _hash, prev: _prev, workspace: _workspace, ...shown } = entry
    if (typeof shown.data === 'object' && shown.data !== null) shown.data = shownData(shown)
    this.feed.push(shown)
  }
}

/** entries kept in the `activity` array for dashboards (the audit log keeps everything) */
const ACTIVITY_LIMIT = 300
/** entries it may run over that before the oldest are trimmed, a hundred at a time */
const ACTIVITY_SLACK = 100

/** data fields an activity entry leaves out when they equal the entry's own */
const REPEATED = new Set(['type', 'actor', 'session', 'at'])

function shownData(entry: Omit<AuditEntry, 'hash' | 'prev' | 'workspace'>): Record<string, unknown> {
  const data: Record<string, unknown> = Object.create(null)
  for (const [field, value] of Object.entries(entry.data as Record<string, unknown>)) {
    if (field === 'input' || (REPEATED.has(field) && value === (entry as Record<string, unknown>)[field])) continue
    data[field] = value
  }
  return data
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
  map.set(APPROVAL_FIELDS.request, entry.request)
  for (const [actor, vote] of Object.entries(entry.votes)) {
    map.set(voteField(actor), { decision: vote.decision, at: vote.at, ...(vote.reason !== undefined ? { reason: vote.reason } : {}) })
  }
  if (entry.cancel) map.set(APPROVAL_FIELDS.cancel, entry.cancel)
  map.set(APPROVAL_FIELDS.status, entry.status)
  return map
}
