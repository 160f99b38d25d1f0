// The authority's state and events as plain JSON. The rules are pure functions over these types:
// no Yjs, no clock, no I/O, so the same events always produce the same state (docs/design.md §6).
import type {
  ApprovalCancel,
  ApprovalRequest,
  ApprovalState,
  ApprovalStatus,
  ApprovalVote,
  ClaimValue,
  Decision,
  LockMode,
  LockValue,
  OutcomeState,
  QueueEntry,
  OutcomeValue,
} from '../../../shared/coordination.js'
import type { Kind, Role } from '../../../shared/roles.js'

/** Who makes a client write, as the pure rules see it: the session and the identity facts they judge by
 * (the hook-side `Writer` in server/rooms/hooks.ts carries the full `Identity`). */
export interface Principal {
  session: string
  actor: string
  kind: Kind
  role: Role
  /** the share link the writer's token came from (a quorum counts one vote per link) */
  link?: string
}

/** Mirror of one `claims` entry. `value` is null when the claim was malformed (outcome `invalid`). */
export interface ClaimRecord {
  session: string
  actor: string
  at: number
  value: ClaimValue | null
}

/** A vote as cast, with the voter's identity at vote time so eligibility can be recounted. */
export interface RecordedVote extends ApprovalVote {
  session: string
  kind: Kind
  role: Role
  link?: string
}

/**
 * A record indexed by client-chosen strings (resources, claim keys, actor ids): always created
 * with a null prototype (`dict`), so `toString`, `constructor` or `__proto__` are ordinary keys.
 */
export type Dict<T> = Record<string, T>

/** An empty null-prototype record, or a copy of `from` as one. */
export function dict<T>(from?: Readonly<Dict<T>>): Dict<T> {
  return Object.assign(Object.create(null) as Dict<T>, from)
}

/** Mirror of one `approvals` Y.Map. `votes` is keyed by actor, in the order they were cast. */
export interface ApprovalEntry {
  session: string
  request: ApprovalRequest
  votes: Dict<RecordedVote>
  cancel?: ApprovalCancel
  status: ApprovalStatus
}

export interface CoordState {
  claims: Dict<ClaimRecord>
  /** resource → its holders; absent when nobody holds it */
  locks: Dict<LockValue>
  /** claim key → the waiting claim; a lock's queue is its entries sorted by `seq` */
  queue: Dict<QueueEntry>
  outcomes: Dict<OutcomeValue>
  approvals: Dict<ApprovalEntry>
  /** the last fencing token issued; 0 before the first grant */
  fence: number
  /** the last queue arrival number given out; 0 before the first claim had to wait */
  seq: number
}

export function emptyState(): CoordState {
  return { claims: dict(), locks: dict(), queue: dict(), outcomes: dict(), approvals: dict(), fence: 0, seq: 0 }
}

/** A copy whose maps can be written without touching `state` (their values are never mutated, only replaced). */
export function copyState(state: CoordState): CoordState {
  const { claims, locks, queue, outcomes, approvals, fence, seq } = state
  return { claims: dict(claims), locks: dict(locks), queue: dict(queue), outcomes: dict(outcomes), approvals: dict(approvals), fence, seq }
}

/**
 * Inputs of the reducer. `at` is the time in ms the caller saw the event; timer events are
 * fired with the current time (at or after the deadline), never earlier.
 */
export type CoordEvent =
  | { type: 'claim'; at: number; key: string; session: string; actor: string; value: unknown }
  | { type: 'release'; at: number; key: string; session: string }
  | { type: 'session-ended'; at: number; session: string }
  | { type: 'wait-timeout'; at: number; key: string }
  | { type: 'ttl-expired'; at: number; key: string }
  | { type: 'revoke'; at: number; resource: string; actor: string; role: Role; reason?: string }
  | { type: 'request'; at: number; key: string; session: string; actor: string; request: unknown }
  | { type: 'vote'; at: number; key: string; voter: Principal; vote: unknown }
  | { type: 'cancel'; at: number; key: string; session: string; actor: string; cancel: unknown }
  | { type: 'approval-expired'; at: number; key: string }

export type AuditType =
  | 'claim' // a claim arrived (before it is granted or queued)
  | 'queue' // it waits for its resources
  | 'grant' // it holds all its resources, with `token`
  | 'release' // its session released it (or ended while holding it)
  | 'cancel' // its session withdrew it (or ended) while it was queued
  | 'timeout' // waitMs ran out
  | 'expire' // ttlMs ran out
  | 'revoke' // an admin (`by`) force-released it
  | 'invalid' // it was malformed
  | 'session-end' // a session's grace period ended
  | 'request' // an approval was requested
  | 'vote' // a vote was counted
  | 'decision' // an approval reached a final `state`

/** One transition, for the audit log and the `activity` array. Only meaningful fields are set. */
export interface AuditEvent {
  type: AuditType
  at: number
  key?: string
  session?: string
  actor?: string
  resources?: string[]
  mode?: LockMode
  token?: number
  by?: string[]
  decision?: Decision
  state?: OutcomeState | ApprovalState
  title?: string
  action?: string
  reason?: string
}

/** What the glue must write back to the document after an event. */
export interface Changed {
  /** claim keys the server must delete (their session ended); client deletes are already there */
  claims: string[]
  /** resources whose `locks` entry changed; absent from `state.locks` means delete */
  locks: string[]
  /** claim keys whose `queue` entry changed; absent from `state.queue` means delete */
  queue: string[]
  /** claim keys whose `outcomes` entry changed; absent from `state.outcomes` means delete */
  outcomes: string[]
  /** approval keys whose `status` changed */
  approvals: string[]
  /** true when `meta.fence` changed */
  fence: boolean
  /** true when `meta.seq` changed */
  seq: boolean
}

export type ReduceResult = { ok: true; state: CoordState; changed: Changed; audit: AuditEvent[] } | { ok: false; reason: string }

/** `{ [name]: value }` when value is defined, else `{}`: keeps undefined out of the JSON. */
export function opt<K extends string, V>(name: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [name]: value }) as { [P in K]?: V }
}
