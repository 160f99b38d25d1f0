// What waits for one person, as a pure function over plain views: approvals they may vote on and
// have not, their claims waiting in a lock's queue, and their own requests still pending. The
// CLI's `huddle inbox` and the dashboard's inbox both show this list.
import { ineligibility } from '../shared/eligibility.js'
import type { Kind, Role } from '../shared/roles.js'
import type { ApprovalInfo, LockInfo } from './views.js'

export type InboxKind = 'vote' | 'waiting' | 'requested'

export interface InboxItem {
  /** `vote`: yours to decide; `waiting`: your claim is queued; `requested`: yours, awaiting others */
  kind: InboxKind
  /** the approval key or the claim key */
  key: string
  title: string
  /** since when it waits, ms since the epoch */
  since: number
  /** a line saying what is going on */
  detail: string
}

export interface InboxPerson {
  actor: string
  kind: Kind
  role: Role
}

/** Oldest first within each kind; votes first, as they are what others wait for. */
export function inboxItems(me: InboxPerson, approvals: ApprovalInfo[], locks: LockInfo[]): InboxItem[] {
  const items: InboxItem[] = []
  for (const info of approvals) {
    if (info.status.state !== 'pending') continue
    if (info.request.requester === me.actor) {
      items.push({
        kind: 'requested',
        key: info.key,
        title: info.request.title,
        since: info.status.at,
        detail: `waiting for ${info.needed} more approval${info.needed === 1 ? '' : 's'}`,
      })
    }
    if (ineligibility(info.request, me) === null && !info.votes.some((vote) => vote.actor === me.actor)) {
      items.push({
        kind: 'vote',
        key: info.key,
        title: info.request.title,
        since: info.status.at,
        detail: `${info.request.requester} asks: ${info.request.action}`,
      })
    }
  }
  const claims = new Map<string, { since: number; resources: string[]; ahead: number; holders: Set<string> }>()
  for (const lock of locks) {
    lock.queue.forEach((waiter, position) => {
      if (waiter.actor !== me.actor) return
      const claim = claims.get(waiter.claim) ?? { since: waiter.queuedAt, resources: [], ahead: 0, holders: new Set<string>() }
      claim.resources.push(lock.resource)
      claim.ahead = Math.max(claim.ahead, position)
      for (const holder of lock.holders) claim.holders.add(holder.actor)
      claims.set(waiter.claim, claim)
    })
  }
  for (const [key, claim] of claims) {
    const held = claim.holders.size > 0 ? `held by ${[...claim.holders].join(', ')}` : 'being handed over'
    items.push({
      kind: 'waiting',
      key,
      title: claim.resources.join(', '),
      since: claim.since,
      detail: `${held}${claim.ahead > 0 ? `; ${claim.ahead} ahead of you` : ''}`,
    })
  }
  const order: Record<InboxKind, number> = { vote: 0, waiting: 1, requested: 2 }
  return items.sort((a, b) => order[a.kind] - order[b.kind] || a.since - b.since)
}
