// Human sentences for waits, locks and approvals, shared by the CLI and the MCP tools so people
// and agents read the same thing.
import type { LockHolder } from '../shared/coordination.js'
import type { WaitInfo } from './locks.js'
import type { ApprovalInfo, LockInfo } from './views.js'

/** 65_000 → `1m05s`; 3_600_000 → `1h00m`; under a second → `0s`. */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000))
  if (s < 60) return `${s}s`
  const m = Math.floor(s / 60)
  if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`
  const h = Math.floor(m / 60)
  if (h < 48) return `${h}h${String(m % 60).padStart(2, '0')}m`
  return `${Math.floor(h / 24)}d${h % 24}h`
}

export function describeHolder(holder: LockHolder, now = Date.now()): string {
  const expires = holder.expiresAt !== undefined ? `, expires in ${formatDuration(holder.expiresAt - now)}` : ''
  return `${holder.actor} (${holder.mode}, token ${holder.token}) for ${formatDuration(now - holder.grantedAt)}${expires}`
}

/** `db: position 2 in the queue; db held by alice (exclusive, token 7) for 1m05s` */
export function describeWait(info: WaitInfo, now = Date.now()): string {
  const place = info.position === 1 ? 'next in line' : `position ${info.position} in the queue`
  const blockers = info.blockers.map(({ resource, holders, ahead }) => {
    if (holders.length > 0) return `${resource} held by ${holders.map((h) => describeHolder(h, now)).join(', ')}`
    return `${resource}: ${ahead.length} ahead (${ahead.map((w) => w.actor).join(', ')})`
  })
  return `waiting ${formatDuration(now - info.since)} for ${info.resources.join(', ')}: ${place}${blockers.length ? `; ${blockers.join('; ')}` : ''}`
}

export function describeLock(lock: LockInfo, now = Date.now()): string {
  const held = lock.holders.length ? `held by ${lock.holders.map((h) => describeHolder(h, now)).join(', ')}` : 'free'
  const queue = lock.queue.length ? `; waiting: ${lock.queue.map((w) => `${w.actor} (${w.mode}) for ${formatDuration(now - w.queuedAt)}`).join(', ')}` : ''
  return `${lock.resource}: ${held}${queue}`
}

/** `pending: 1 more approval needed (approvers: bob, admin)`, `approved by bob: ship it`, … */
export function describeApprovalState(info: ApprovalInfo): string {
  const { status } = info
  if (status.state === 'pending') {
    const who = info.request.approvers ? `approvers: ${info.request.approvers.join(', ')}` : 'any human approver or admin'
    const expires = info.request.expiresAt !== undefined ? `, expires in ${formatDuration(info.request.expiresAt - Date.now())}` : ''
    return `pending: ${info.needed} more approval${info.needed === 1 ? '' : 's'} needed (${who}${expires})`
  }
  const by = status.by?.length ? ` by ${status.by.join(', ')}` : ''
  return `${status.state}${by}${status.reason ? `: ${status.reason}` : ''}`
}
