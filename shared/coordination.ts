// The schema of a workspace's coordination document (docs/design.md §4, docs/authority.md), in one
// place for the server, the client library and the dashboard: the top-level types, key formats,
// value types and state enums. Values are plain JSON, so the rules in server/authority can be pure
// functions over them.
import type { Kind, Role } from './roles.js'

/** Top-level types of the coordination document. Any other top-level type is refused. */
export const COORDINATION_TYPES = ['claims', 'locks', 'queue', 'outcomes', 'approvals', 'sessions', 'meta', 'activity'] as const
export type CoordinationType = (typeof COORDINATION_TYPES)[number]
/** Each top-level type by name, for code that opens or compares one: `doc.getMap(COORD.locks)`. */
export const COORD: { readonly [T in CoordinationType]: T } = {
  claims: 'claims',
  locks: 'locks',
  queue: 'queue',
  outcomes: 'outcomes',
  approvals: 'approvals',
  sessions: 'sessions',
  meta: 'meta',
  activity: 'activity',
}
/** The types only the server writes. */
export const SERVER_ONLY_TYPES: readonly CoordinationType[] = ['locks', 'queue', 'outcomes', 'sessions', 'meta', 'activity']

/** Keys of `meta` (server only). */
export const META = {
  /** the last fencing token issued */
  fence: 'fence',
  /** the last queue arrival number given out */
  seq: 'seq',
  /** the server's --lease-grace, so clients know how long a silent connection may trust a lock */
  leaseGraceMs: 'leaseGraceMs',
} as const

/** Fields of an approval's Y.Map besides the `vote:<actorId>` ones. */
export const APPROVAL_FIELDS = { request: 'request', cancel: 'cancel', status: 'status' } as const
export const VOTE_PREFIX = 'vote:'

/** The approval field holding `actor`'s vote. */
export function voteField(actor: string): string {
  return `${VOTE_PREFIX}${actor}`
}

/** The actor of a `vote:<actorId>` field, or null for any other field. */
export function voterOf(field: string): string | null {
  return field.startsWith(VOTE_PREFIX) ? field.slice(VOTE_PREFIX.length) : null
}

/** `<sessionId>:<id>`, the key of a claim or an approval. */
export function ownedKey(session: string, id: string): string {
  return `${session}:${id}`
}

export const LOCK_MODES = ['exclusive', 'shared'] as const
export type LockMode = (typeof LOCK_MODES)[number]
export const MAX_CLAIM_RESOURCES = 16

/** `claims[<sessionId>:<claimId>]`, written once by its session; deleted to release or cancel. */
export interface ClaimValue {
  resources: string[]
  mode: LockMode
  waitMs?: number
  ttlMs?: number
  note?: string
}

export interface LockHolder {
  claim: string
  session: string
  actor: string
  mode: LockMode
  token: number
  grantedAt: number
  expiresAt?: number
}

/** `locks[<resource>]`, server only: who holds the resource now. Its waiters are in `queue`. */
export interface LockValue {
  holders: LockHolder[]
}

/**
 * `queue[<claim key>]`, server only: one waiting claim. `seq` is its workspace-wide arrival number
 * (from `meta.seq`), so a lock's queue is the entries naming its resource, sorted by `seq`.
 */
export interface QueueEntry {
  resources: string[]
  mode: LockMode
  actor: string
  session: string
  seq: number
  queuedAt: number
}

/** One waiter of one lock, as listings show it: a queue entry with its claim key. */
export interface LockWaiter extends QueueEntry {
  claim: string
}

/** Every lock's queue from the `queue` entries: resource → waiters in arrival order. */
export function lockQueues(entries: Iterable<[string, QueueEntry]>): Map<string, LockWaiter[]> {
  const queues = new Map<string, LockWaiter[]>()
  for (const [claim, entry] of entries) {
    if (!entry || !Array.isArray(entry.resources)) continue
    for (const resource of entry.resources) {
      const list = queues.get(resource) ?? []
      list.push({ claim, ...entry })
      queues.set(resource, list)
    }
  }
  for (const list of queues.values()) list.sort((a, b) => a.seq - b.seq)
  return queues
}

export const OUTCOME_STATES = ['granted', 'timeout', 'expired', 'revoked', 'invalid'] as const
export type OutcomeState = (typeof OUTCOME_STATES)[number]

/** `outcomes[<claim key>]`, server only. */
export interface OutcomeValue {
  state: OutcomeState
  at: number
  token?: number
  reason?: string
}

export interface ApprovalRequest {
  title: string
  action: string
  details?: unknown
  requester: string
  approvers?: string[]
  quorum?: number
  allowSelfApproval?: boolean
  expiresAt?: number
}

export type Decision = 'approve' | 'reject'

export interface ApprovalVote {
  decision: Decision
  reason?: string
  at: number
}

export interface ApprovalCancel {
  reason?: string
  at: number
}

export const APPROVAL_STATES = ['pending', 'approved', 'rejected', 'expired', 'cancelled'] as const
export type ApprovalState = (typeof APPROVAL_STATES)[number]
/** The states an approval never leaves. */
export const FINAL_APPROVAL_STATES: readonly ApprovalState[] = ['approved', 'rejected', 'expired', 'cancelled']

export function isFinal(state: ApprovalState): boolean {
  return FINAL_APPROVAL_STATES.includes(state)
}

/** Presence statuses a member publishes in awareness, most present first. */
export const PRESENCE_STATUSES = ['active', 'idle', 'away'] as const
export type PresenceStatus = (typeof PRESENCE_STATUSES)[number]

export interface ApprovalStatus {
  state: ApprovalState
  at: number
  by?: string[]
  reason?: string
}

/** `sessions[<sessionId>]`, server only. */
export interface SessionValue {
  actor: string
  name: string
  kind: Kind
  role: Role
  online: boolean
  connectedAt: number
  lastSeenAt: number
}

/**
 * An entry of the `activity` array (server only), and of the audit log as clients read it over
 * REST (which adds `workspace`, `prev` and `hash`).
 */
export interface ActivityEntry {
  seq: number
  at: number
  type: string
  actor?: string
  session?: string
  data?: Record<string, unknown>
}

/** Splits `<sessionId>:<id>` keys of `claims` and `approvals`. */
export function splitOwnedKey(key: string): { session: string; id: string } | null {
  const colon = key.indexOf(':')
  if (colon <= 0 || colon === key.length - 1) return null
  return { session: key.slice(0, colon), id: key.slice(colon + 1) }
}
