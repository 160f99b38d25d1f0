// Who may vote on an approval (docs/design.md §4): the same rule for the server's authority, the client
// library (checked before a vote is sent) and the dashboard (which explains why someone may not).
import type { ApprovalRequest } from './coordination.js'
import { isRole, roleAtLeast, type Kind, type Role } from './roles.js'

/** Why `voter` may not vote on `request`, or null when eligible. */
export function ineligibility(request: ApprovalRequest, voter: { actor: string; kind: Kind; role: Role }): string | null {
  const { actor, kind, role } = voter
  if (kind !== 'human') return `${actor} is an agent: only humans vote`
  if (!roleAtLeast(role, 'approver')) return `${actor} has role ${role}: voting needs role approver or admin`
  if (actor === request.requester && !request.allowSelfApproval) return `${actor} requested this approval, which does not allow self-approval`
  // A role name stands for everyone with at least that role, as roles include the ones below.
  const listed = request.approvers?.some((entry) => entry === actor || (isRole(entry) && roleAtLeast(role, entry)))
  if (listed === false) return `${actor} is not among the approvers (${request.approvers!.join(', ')})`
  return null
}
