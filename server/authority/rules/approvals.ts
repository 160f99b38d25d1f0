// Approval rules (docs/design.md §4). An approval is pending until exactly one final state: approved
// (quorum of distinct eligible approvals), rejected (one eligible rejection), expired (expiresAt
// passed; a timeout never approves) or cancelled (by the requester). Every decision recounts
// all votes against the eligibility rules, so a vote only counts if it is eligible then.
import type { ApprovalStatus } from '../../../shared/coordination.js'
import { dict, opt, type ApprovalEntry, type CoordEvent, type RecordedVote } from './state.js'
import type { Tx } from './tx.js'
import { ineligibility } from '../../../shared/eligibility.js'
import { parseCancel, parseOwnedKey, parseRequest, parseVote, show } from '../../../shared/values.js'

type Event<T extends CoordEvent['type']> = Extract<CoordEvent, { type: T }>
type Refusal = string | null

export function request(tx: Tx, e: Event<'request'>): Refusal {
  const parts = parseOwnedKey(e.key)
  if (typeof parts === 'string') return parts
  if (parts.session !== e.session) return `approval ${show(e.key)} belongs to another session`
  if (tx.approvals[e.key]) return `approval ${show(e.key)} already has a request`
  const request = parseRequest(e.request)
  if (typeof request === 'string') return request
  if (request.requester !== e.actor) return `requester must be ${e.actor}, not ${show(request.requester)}`
  tx.log({ type: 'request', key: e.key, session: e.session, actor: e.actor, title: request.title, action: request.action })
  const late = request.expiresAt !== undefined && e.at >= request.expiresAt
  const status: ApprovalStatus = late
    ? { state: 'expired', at: e.at, reason: 'expiresAt had already passed when it was requested' }
    : { state: 'pending', at: e.at }
  const entry: ApprovalEntry = { session: e.session, request, votes: dict(), status }
  tx.setApproval(e.key, entry, true)
  if (late) logDecision(tx, e.key, entry)
  return null
}

export function vote(tx: Tx, e: Event<'vote'>): Refusal {
  const entry = tx.approvals[e.key]
  const closed = notOpen(entry, e.key, e.at)
  if (closed || !entry) return closed
  const { voter } = e
  const vote = parseVote(e.vote)
  if (typeof vote === 'string') return vote
  if (entry.votes[voter.actor]) return `votes are final: ${voter.actor} already voted on ${show(e.key)}`
  const ineligible = ineligibility(entry.request, voter)
  if (ineligible) return ineligible
  // One person can redeem a link as several guests; the link, not the guest, gets one vote.
  if (voter.link !== undefined && Object.values(entry.votes).some((cast) => cast.link === voter.link))
    return `one vote per share link: a guest of link ${voter.link} already voted on ${show(e.key)}`
  const recorded: RecordedVote = { ...vote, session: voter.session, kind: voter.kind, role: voter.role, ...opt('link', voter.link) }
  const votes = dict(entry.votes)
  votes[voter.actor] = recorded
  const next: ApprovalEntry = { ...entry, votes }
  tx.log({ type: 'vote', key: e.key, session: voter.session, actor: voter.actor, decision: vote.decision, ...opt('reason', vote.reason) })
  const decided = decide(next, e.at)
  tx.setApproval(e.key, decided ?? next, decided !== undefined)
  if (decided) logDecision(tx, e.key, decided)
  return null
}

export function cancel(tx: Tx, e: Event<'cancel'>): Refusal {
  const entry = tx.approvals[e.key]
  const closed = notOpen(entry, e.key, e.at)
  if (closed || !entry) return closed
  const cancel = parseCancel(e.cancel)
  if (typeof cancel === 'string') return cancel
  if (e.actor !== entry.request.requester) return `only the requester ${entry.request.requester} can cancel ${show(e.key)}`
  const status: ApprovalStatus = { state: 'cancelled', at: e.at, by: [e.actor], ...opt('reason', cancel.reason) }
  const next: ApprovalEntry = { ...entry, cancel, status }
  tx.setApproval(e.key, next, true)
  logDecision(tx, e.key, next)
  return null
}

export function expire(tx: Tx, e: Event<'approval-expired'>): Refusal {
  const entry = tx.approvals[e.key]
  if (!entry) return `there is no approval ${show(e.key)}`
  if (entry.status.state !== 'pending') return `approval ${show(e.key)} is already ${entry.status.state}`
  const { expiresAt } = entry.request
  if (expiresAt === undefined) return `approval ${show(e.key)} has no expiresAt`
  if (e.at < expiresAt) return `approval ${show(e.key)} expires at ${expiresAt}, not yet`
  const next: ApprovalEntry = { ...entry, status: { state: 'expired', at: e.at, reason: 'no decision before expiresAt' } }
  tx.setApproval(e.key, next, true)
  logDecision(tx, e.key, next)
  return null
}

/** The entry with its final status if the counted votes decide it now, else undefined. */
function decide(entry: ApprovalEntry, at: number): ApprovalEntry | undefined {
  const counted = Object.entries(entry.votes).filter(([actor, v]) => ineligibility(entry.request, { actor, ...v }) === null)
  const rejection = counted.find(([, v]) => v.decision === 'reject')
  if (rejection) {
    const [actor, v] = rejection
    return { ...entry, status: { state: 'rejected', at, by: [actor], ...opt('reason', v.reason) } }
  }
  const approvers = counted.filter(([, v]) => v.decision === 'approve').map(([actor]) => actor)
  if (approvers.length < (entry.request.quorum ?? 1)) return undefined
  return { ...entry, status: { state: 'approved', at, by: approvers } }
}

/** Why the approval takes no more votes or cancels, or null while it is pending. */
function notOpen(entry: ApprovalEntry | undefined, key: string, at: number): Refusal {
  if (!entry) return `there is no approval ${show(key)}`
  if (entry.status.state !== 'pending') return `approval ${show(key)} is already ${entry.status.state}`
  const { expiresAt } = entry.request
  // Its timer may not have fired yet, but the approval is over: expiry wins over a late vote.
  if (expiresAt !== undefined && at >= expiresAt) return `approval ${show(key)} expired at ${expiresAt}`
  return null
}

function logDecision(tx: Tx, key: string, entry: ApprovalEntry): void {
  const { state, by, reason } = entry.status
  tx.log({ type: 'decision', key, session: entry.session, actor: entry.request.requester, state, ...opt('by', by), ...opt('reason', reason) })
}
