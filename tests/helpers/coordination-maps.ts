// The maps of a workspace's coordination document as the authority's tests use them: reading
// them, the legitimate writes of a peer (recorded in the ledger) and waiting for an outcome or
// an approval's status.
import * as Y from 'yjs'
import {
  type ApprovalRequest,
  type ClaimValue,
  COORD,
  type LockValue,
  lockQueues,
  type OutcomeValue,
  type QueueEntry,
  voteField,
} from '../../shared/coordination.js'
import { type Peer, waitFor } from './clients.js'
import { type CoordPeer, ledger } from './coordination-peers.js'

export const claimsOf = (doc: Y.Doc) => doc.getMap<ClaimValue>(COORD.claims)
export const locksOf = (doc: Y.Doc) => doc.getMap<LockValue>(COORD.locks)
export const queueMapOf = (doc: Y.Doc) => doc.getMap<QueueEntry>(COORD.queue)
export const outcomesOf = (doc: Y.Doc) => doc.getMap<OutcomeValue>(COORD.outcomes)
export const approvalsOf = (doc: Y.Doc) => doc.getMap<Y.Map<unknown>>(COORD.approvals)

/** Claims `resources` under `<session>:<id>` (recorded as legitimate); returns the claim key. */
export function claim(peer: CoordPeer, id: string, value: ClaimValue): string {
  const key = `${peer.session}:${id}`
  ledger.claims.set(key, JSON.parse(JSON.stringify(value)) as ClaimValue)
  claimsOf(peer.doc).set(key, value)
  return key
}

/** Deletes the peer's own claim: release, or cancel while queued. */
export function release(peer: CoordPeer, key: string): void {
  ledger.released.add(key)
  claimsOf(peer.doc).delete(key)
}

export async function waitOutcome(
  peer: Peer,
  key: string,
  states: string[] = ['granted', 'timeout', 'expired', 'revoked', 'invalid'],
  timeoutMs = 8000,
): Promise<OutcomeValue> {
  return waitFor(
    () => {
      const outcome = outcomesOf(peer.doc).get(key)
      return outcome && states.includes(outcome.state) ? outcome : null
    },
    timeoutMs,
    () =>
      `claim ${key}: no outcome in ${states.join('/')} (outcome: ${JSON.stringify(outcomesOf(peer.doc).get(key))}, locks: ${JSON.stringify(locksOf(peer.doc).toJSON())})`,
  )
}

export function holdersOf(doc: Y.Doc, resource: string): string[] {
  return (locksOf(doc).get(resource)?.holders ?? []).map((holder) => holder.claim)
}

/** The claim keys waiting for `resource`, in arrival order (`queue` entries sorted by seq). */
export function queueOf(doc: Y.Doc, resource: string): string[] {
  return (lockQueues(queueMapOf(doc).entries()).get(resource) ?? []).map((waiter) => waiter.claim)
}

export function queueEntryOf(doc: Y.Doc, key: string): QueueEntry | undefined {
  return queueMapOf(doc).get(key)
}

/** Creates the approval's Y.Map with its request, in one transaction; returns the key. */
export function requestApproval(peer: CoordPeer, id: string, fields: Omit<ApprovalRequest, 'requester'> & { requester?: string }): string {
  const key = `${peer.session}:${id}`
  const value: ApprovalRequest = { requester: peer.who.actor, ...fields }
  ledger.requests.set(key, JSON.parse(JSON.stringify(value)) as ApprovalRequest)
  const map = new Y.Map<unknown>()
  peer.doc.transact(() => {
    approvalsOf(peer.doc).set(key, map)
    map.set('request', value)
  })
  return key
}

export function approvalMap(doc: Y.Doc, key: string): Y.Map<unknown> {
  const map = approvalsOf(doc).get(key)
  if (!(map instanceof Y.Map)) throw new Error(`no approval map ${key} (have ${[...approvalsOf(doc).keys()].join(', ')})`)
  return map
}

export function vote(peer: CoordPeer, key: string, decision: 'approve' | 'reject', reason?: string): void {
  approvalMap(peer.doc, key).set(voteField(peer.who.actor), { decision, at: Date.now(), ...(reason ? { reason } : {}) })
}

export function cancelApproval(peer: CoordPeer, key: string, reason?: string): void {
  approvalMap(peer.doc, key).set('cancel', { at: Date.now(), ...(reason ? { reason } : {}) })
}

export interface StatusValue {
  state: string
  at: number
  by?: string[]
  reason?: string
}

export function statusOf(doc: Y.Doc, key: string): StatusValue | undefined {
  const map = approvalsOf(doc).get(key)
  return map instanceof Y.Map ? (map.get('status') as StatusValue | undefined) : undefined
}

export async function waitStatus(peer: Peer, key: string, state: string, timeoutMs = 8000): Promise<StatusValue> {
  return waitFor(
    () => {
      const status = statusOf(peer.doc, key)
      return status?.state === state ? status : null
    },
    timeoutMs,
    () => `approval ${key}: status never became ${state} (is ${JSON.stringify(statusOf(peer.doc, key))})`,
  )
}
