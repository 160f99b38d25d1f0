// Lock rules (docs/design.md §4, docs/authority.md). A claim holds all of its resources or none;
// exclusive excludes everything, shared coexists with shared. A claim that has to wait gets one queue entry with a
// workspace-wide arrival number (`seq`), so all queues agree with one global arrival order; a claim
// is granted only when no holder conflicts and no earlier waiter conflicts on any of its
// resources. The earliest waiter therefore waits only for holders, which never wait themselves:
// no deadlock.
import { splitOwnedKey } from '../../../shared/coordination.js'
import type { ClaimValue, LockHolder, LockMode, LockValue, QueueEntry } from '../../../shared/coordination.js'
import { roleAtLeast } from '../../../shared/roles.js'
import { opt, type ClaimRecord, type CoordEvent } from './state.js'
import type { Tx } from './tx.js'
import { LIMITS, parseClaimValue, parseOwnedKey, show } from '../../../shared/values.js'

type Event<T extends CoordEvent['type']> = Extract<CoordEvent, { type: T }>
type Refusal = string | null
interface Valid extends ClaimRecord {
  value: ClaimValue
}

const NO_LOCK: LockValue = { holders: [] }

export function claim(tx: Tx, e: Event<'claim'>): Refusal {
  const parts = parseOwnedKey(e.key)
  if (typeof parts === 'string') return parts
  if (parts.session !== e.session) return `claim ${show(e.key)} belongs to another session`
  if (tx.claims[e.key] || tx.outcomes[e.key]) return `claim key ${show(e.key)} was already used in this session; claim under a new id`
  const value = parseClaimValue(e.value)
  const base = { type: 'claim', key: e.key, session: e.session, actor: e.actor } as const
  if (typeof value === 'string') {
    tx.mirrorClaim(e.key, { session: e.session, actor: e.actor, at: e.at, value: null })
    tx.setOutcome(e.key, { state: 'invalid', at: e.at, reason: value })
    tx.log({ ...base, type: 'invalid', reason: value })
    return null
  }
  const record: Valid = { session: e.session, actor: e.actor, at: e.at, value }
  tx.mirrorClaim(e.key, record)
  tx.log({ ...base, resources: value.resources, mode: value.mode })
  if (!isBlocked(tx, value)) grant(tx, e.key, record)
  else if (value.waitMs === 0) timeout(tx, e.key, record, 'not available at once (waitMs 0)')
  else enqueue(tx, e.key, record)
  return null
}

/** The session deleted its claim: release it if held, leave the queue if waiting. */
export function release(tx: Tx, e: Event<'release'>): Refusal {
  const record = tx.claims[e.key]
  if (!record) return `there is no claim ${show(e.key)}`
  if (record.session !== e.session) return `claim ${show(e.key)} belongs to another session`
  tx.mirrorClaim(e.key, undefined)
  endClaim(tx, e.key, record)
  // The session read the outcome before deleting its claim: the outcome goes with it.
  if (tx.outcomes[e.key]) tx.setOutcome(e.key, undefined)
  return null
}

/** The grace period is over: end every claim of the session and forget its outcomes. */
export function sessionEnded(tx: Tx, e: Event<'session-ended'>): Refusal {
  tx.log({ type: 'session-end', session: e.session })
  for (const [key, record] of Object.entries(tx.claims)) {
    if (record.session !== e.session) continue
    endClaim(tx, key, record, 'session ended')
    tx.dropClaim(key)
  }
  for (const key of Object.keys(tx.outcomes)) {
    if (splitOwnedKey(key)?.session === e.session) tx.setOutcome(key, undefined)
  }
  return null
}

export function waitTimeout(tx: Tx, e: Event<'wait-timeout'>): Refusal {
  const record = validClaim(tx, e.key)
  const waiter = tx.queue[e.key]
  if (!record || !waiter || record.value.waitMs === undefined) return `claim ${show(e.key)} is not waiting with a waitMs`
  const due = waiter.queuedAt + record.value.waitMs
  if (e.at < due) return `claim ${show(e.key)} may wait until ${due}`
  detach(tx, e.key, record.value)
  timeout(tx, e.key, record, `not granted within waitMs ${record.value.waitMs} ms`)
  return null
}

export function ttlExpired(tx: Tx, e: Event<'ttl-expired'>): Refusal {
  const record = validClaim(tx, e.key)
  const holder = record && findHolder(tx, e.key, record.value)
  if (!record || holder?.expiresAt === undefined) return `claim ${show(e.key)} does not hold a lock with a ttlMs`
  if (e.at < holder.expiresAt) return `claim ${show(e.key)} may hold its lock until ${holder.expiresAt}`
  detach(tx, e.key, record.value)
  const reason = `held for its ttlMs ${record.value.ttlMs} ms`
  tx.setOutcome(e.key, { state: 'expired', at: e.at, token: holder.token, reason })
  tx.log({ type: 'expire', key: e.key, session: record.session, actor: record.actor, resources: record.value.resources, token: holder.token, reason })
  return null
}

/** An admin force-releases every holder of `resource`; each loses all of its resources. */
export function revoke(tx: Tx, e: Event<'revoke'>): Refusal {
  if (!roleAtLeast(e.role, 'admin')) return `${e.actor} has role ${e.role}: only admins force-release locks`
  if (e.reason !== undefined && e.reason.length > LIMITS.reason) return `reason is longer than ${LIMITS.reason} characters`
  const holders = tx.locks[e.resource]?.holders ?? []
  if (holders.length === 0) return `nobody holds ${show(e.resource)}`
  const reason = `revoked by ${e.actor}${e.reason ? `: ${e.reason}` : ''}`
  for (const holder of holders) {
    const record = validClaim(tx, holder.claim)
    if (!record) continue
    detach(tx, holder.claim, record.value)
    tx.setOutcome(holder.claim, { state: 'revoked', at: e.at, token: holder.token, reason })
    tx.log({
      type: 'revoke',
      key: holder.claim,
      session: holder.session,
      actor: holder.actor,
      resources: record.value.resources,
      token: holder.token,
      by: [e.actor],
      reason,
    })
  }
  return null
}

/**
 * Grants every waiter that became grantable, earliest first. Only waiters on resources whose
 * holders or waiters changed can have become grantable, and on each such resource only those up
 * to its first exclusive waiter: everyone behind that one conflicts with it, whether it is granted
 * now (as a holder) or not (as an earlier waiter). One pass is enough: a grant adds a holder, which
 * never unblocks anyone, and a waiter granted during the pass blocks those behind it as a holder
 * exactly as it did as a waiter.
 */
export function grantWaiters(tx: Tx): void {
  const moved = tx.movedResources()
  if (moved.size === 0) return
  const queues = tx.queues()
  const candidates = new Map<string, QueueEntry>()
  for (const resource of moved) {
    for (const [key, entry] of queues.get(resource) ?? []) {
      candidates.set(key, entry)
      if (entry.mode === 'exclusive') break
    }
  }
  const earliestFirst = [...candidates].sort(([, a], [, b]) => a.seq - b.seq)
  for (const [key, entry] of earliestFirst) {
    const record = validClaim(tx, key)
    if (!record || entry.resources.some((resource) => heldAgainst(tx.locks[resource], entry.mode))) continue
    if (!entry.resources.some((resource) => waitedAgainst(queues.get(resource), entry.mode, entry.seq))) grant(tx, key, record)
  }
}

export function conflicts(a: LockMode, b: LockMode): boolean {
  return a === 'exclusive' || b === 'exclusive'
}

/** For a claim that has not been queued: does any holder or any waiter conflict with it? */
function isBlocked(tx: Tx, value: ClaimValue): boolean {
  if (value.resources.some((resource) => heldAgainst(tx.locks[resource], value.mode))) return true
  const queues = tx.queues()
  return value.resources.some((resource) => waitedAgainst(queues.get(resource), value.mode, Infinity))
}

function heldAgainst(lock: LockValue | undefined, mode: LockMode): boolean {
  return lock?.holders.some((holder) => conflicts(holder.mode, mode)) ?? false
}

/** A conflicting waiter in `waiters` (one resource's queue, in arrival order) that arrived before `seq`. */
function waitedAgainst(waiters: ReadonlyMap<string, QueueEntry> | undefined, mode: LockMode, seq: number): boolean {
  for (const waiter of waiters?.values() ?? []) {
    if (waiter.seq >= seq) return false
    if (conflicts(waiter.mode, mode)) return true
  }
  return false
}

/** One token per grant, however many resources the claim holds. */
function grant(tx: Tx, key: string, record: Valid): void {
  const { value } = record
  const token = tx.nextToken()
  const holder: LockHolder = {
    claim: key,
    session: record.session,
    actor: record.actor,
    mode: value.mode,
    token,
    grantedAt: tx.at,
    ...opt('expiresAt', value.ttlMs === undefined ? undefined : tx.at + value.ttlMs),
  }
  for (const resource of value.resources) tx.setLock(resource, { holders: [...(tx.locks[resource] ?? NO_LOCK).holders, holder] })
  if (tx.queue[key]) tx.setQueued(key, undefined)
  tx.setOutcome(key, { state: 'granted', at: tx.at, token })
  tx.log({ type: 'grant', key, session: record.session, actor: record.actor, resources: value.resources, mode: value.mode, token })
}

function enqueue(tx: Tx, key: string, record: Valid): void {
  const { value } = record
  tx.setQueued(key, { resources: value.resources, mode: value.mode, actor: record.actor, session: record.session, seq: tx.nextSeq(), queuedAt: tx.at })
  tx.log({ type: 'queue', key, session: record.session, actor: record.actor, resources: value.resources, mode: value.mode })
}

function timeout(tx: Tx, key: string, record: Valid, reason: string): void {
  tx.setOutcome(key, { state: 'timeout', at: tx.at, reason })
  tx.log({ type: 'timeout', key, session: record.session, actor: record.actor, resources: record.value.resources, reason })
}

/** Releases a held claim or withdraws a queued one; a finished claim has nothing to end. */
function endClaim(tx: Tx, key: string, record: ClaimRecord, reason?: string): void {
  if (!record.value) return
  const { holder, queued } = detach(tx, key, record.value)
  const base = { key, session: record.session, actor: record.actor, resources: record.value.resources, ...opt('reason', reason) }
  if (holder) tx.log({ ...base, type: 'release', token: holder.token })
  else if (queued) tx.log({ ...base, type: 'cancel' })
}

/** Removes `key` from the holders of its resources, or from the queue. */
function detach(tx: Tx, key: string, value: ClaimValue): { holder?: LockHolder; queued: boolean } {
  const holder = findHolder(tx, key, value)
  const queued = tx.queue[key] !== undefined
  if (queued) tx.setQueued(key, undefined)
  if (holder) {
    for (const resource of value.resources) tx.setLock(resource, { holders: (tx.locks[resource] ?? NO_LOCK).holders.filter((h) => h.claim !== key) })
  }
  return { ...opt('holder', holder), queued }
}

// All-or-nothing: a claim's place in its first resource's lock is its place in all of them.
function findHolder(tx: Tx, key: string, value: ClaimValue): LockHolder | undefined {
  return tx.locks[value.resources[0]!]?.holders.find((h) => h.claim === key)
}

function validClaim(tx: Tx, key: string): Valid | undefined {
  const record = tx.claims[key]
  return record?.value ? (record as Valid) : undefined
}
