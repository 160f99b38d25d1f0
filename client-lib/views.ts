// Plain-JSON views of the coordination document, the same whether it came from a live Y.Doc or
// from the REST API, so listings look alike everywhere.
import type { ApprovalCancel, ApprovalRequest, ApprovalStatus, Decision, LockHolder, LockValue, LockWaiter, QueueEntry } from '../shared/coordination.js'
import { APPROVAL_FIELDS, lockQueues, splitOwnedKey, voterOf } from '../shared/coordination.js'
import { HuddleError } from './errors.js'

/** A resource with its holders and its queue (waiters in arrival order). */
export interface LockInfo {
  resource: string
  holders: LockHolder[]
  queue: LockWaiter[]
}

export interface VoteInfo {
  actor: string
  decision: Decision
  reason?: string
  at: number
}

export interface ApprovalInfo {
  /** `<sessionId>:<id>`, the key in the document */
  key: string
  /** the part after the session: what people paste */
  id: string
  request: ApprovalRequest
  status: ApprovalStatus
  votes: VoteInfo[]
  cancel?: ApprovalCancel
  /** approvals needed in all (the request's quorum, default 1) */
  quorum: number
  /** approvals still missing while pending (votes are only stored when they counted) */
  needed: number
}

export { isFinal } from '../shared/coordination.js'

/** Every resource held or waited for, from the `locks` and `queue` entries. */
export function lockInfos(locks: Iterable<[string, unknown]>, queue: Iterable<[string, unknown]>): LockInfo[] {
  const queues = lockQueues(queue as Iterable<[string, QueueEntry]>)
  const infos = new Map<string, LockInfo>()
  for (const [resource, value] of locks)
    infos.set(resource, { resource, holders: (value as LockValue | undefined)?.holders ?? [], queue: queues.get(resource) ?? [] })
  for (const [resource, waiters] of queues) if (!infos.has(resource)) infos.set(resource, { resource, holders: [], queue: waiters })
  return [...infos.values()].sort((a, b) => a.resource.localeCompare(b.resource))
}

/** The approval, or null while it has no request or no status yet (not accepted by the server). */
export function approvalInfo(key: string, fields: Record<string, unknown>): ApprovalInfo | null {
  const parts = splitOwnedKey(key)
  const request = fields[APPROVAL_FIELDS.request] as ApprovalRequest | undefined
  const status = fields[APPROVAL_FIELDS.status] as ApprovalStatus | undefined
  if (!parts || !request || !status) return null
  const votes: VoteInfo[] = Object.entries(fields)
    .filter(([field]) => voterOf(field) !== null)
    .map(([field, vote]) => ({ actor: voterOf(field)!, ...(vote as Omit<VoteInfo, 'actor'>) }))
    .sort((a, b) => a.at - b.at)
  const quorum = request.quorum ?? 1
  const approvals = votes.filter((vote) => vote.decision === 'approve').length
  const cancel = fields[APPROVAL_FIELDS.cancel] as ApprovalCancel | undefined
  return {
    key,
    id: parts.id,
    request,
    status,
    votes,
    ...(cancel ? { cancel } : {}),
    quorum,
    needed: status.state === 'pending' ? Math.max(0, quorum - approvals) : 0,
  }
}

export function approvalInfos(approvals: Record<string, unknown>): ApprovalInfo[] {
  return Object.entries(approvals)
    .map(([key, fields]) => approvalInfo(key, (fields ?? {}) as Record<string, unknown>))
    .filter((info): info is ApprovalInfo => info !== null)
    .sort((a, b) => a.status.at - b.status.at || a.key.localeCompare(b.key))
}

/** The shortest name that finds each approval: its id, or its full key when the id is shared. */
export function displayIds(infos: ApprovalInfo[]): Map<string, string> {
  const count = new Map<string, number>()
  for (const info of infos) count.set(info.id, (count.get(info.id) ?? 0) + 1)
  return new Map(infos.map((info) => [info.key, count.get(info.id) === 1 ? info.id : info.key]))
}

/** Finds an approval by full key or by id; explains what to paste when there is none or several. */
export function findApproval(infos: ApprovalInfo[], idOrKey: string): ApprovalInfo {
  const exact = infos.find((info) => info.key === idOrKey)
  if (exact) return exact
  const matches = infos.filter((info) => info.id === idOrKey)
  if (matches.length === 1) return matches[0]!
  if (matches.length > 1)
    throw new HuddleError('not-found', `approval id ${idOrKey} is ambiguous: use one of the full keys ${matches.map((m) => m.key).join(', ')}`)
  throw new HuddleError('not-found', `no approval ${JSON.stringify(idOrKey)} in this workspace: list them with \`huddle approvals\``)
}
