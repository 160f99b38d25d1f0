// Lock-only connections (shared/lock-channel.ts). A request becomes a write of the session's own
// claim key, made by the server as that session's write, so the authority judges it exactly like a
// client's update (rules, audit, refusals). What a transaction changes about a session's claims
// becomes the notices its lock-only connections get once the change is written.
import type * as Y from 'yjs'
import { type ClaimValue, type LockValue, META, type OutcomeValue, ownedKey, splitOwnedKey } from '../../shared/coordination.js'
import type { LockNotice, LockRequest } from '../../shared/lock-channel.js'
import type { RequestContext, SessionNotice } from '../rooms/hooks.js'
import type { CoordinationMaps } from './maps.js'
import { hadValueBefore } from './ydoc.js'

type Type = Y.AbstractType<unknown>

export function answerLockRequest(maps: CoordinationMaps, context: RequestContext, request: LockRequest): void {
  const { session } = context.writer
  switch (request.op) {
    case 'ping':
      return context.reply({ op: 'pong', leaseGraceMs: maps.meta.get(META.leaseGraceMs) as number })
    case 'resume':
      for (const id of request.ids) context.reply(standing(maps, ownedKey(session, id), id))
      return
    case 'acquire': {
      const key = ownedKey(session, request.id)
      // sent again after a reconnect that lost the answer: say where it stands
      if (maps.claims.has(key)) return context.reply(standing(maps, key, request.id))
      const refusals = context.writeAs(() => maps.claims.set(key, request.claim))
      if (refusals && refusals.length > 0) context.reply({ op: 'refused', id: request.id, reason: refusals.join('; ') })
      return
    }
    case 'release': {
      const key = ownedKey(session, request.id)
      // the `released` notice comes from the change itself (lockNotices)
      if (maps.claims.has(key)) context.writeAs(() => maps.claims.delete(key))
      else context.reply({ op: 'released', id: request.id })
    }
  }
}

/**
 * The notices `transaction` means for the sessions whose claims it touched: an outcome written,
 * or a claim that existed and is gone (released, withdrawn, or ended with its session). A claim
 * refused in the same transaction that wrote it never existed: its writer gets `refused` instead.
 */
export function lockNotices(maps: CoordinationMaps, transaction: Y.Transaction): SessionNotice[] {
  const changed = transaction.changed as Map<Type, Set<string | null>>
  const notices: SessionNotice[] = []
  for (const key of changed.get(maps.claims as Type) ?? []) {
    if (key === null || maps.claims.has(key) || !hadValueBefore(transaction, maps.claims as Type, key)) continue
    const owner = splitOwnedKey(key)
    if (owner) notices.push({ session: owner.session, notice: { op: 'released', id: owner.id } })
  }
  for (const key of changed.get(maps.outcomes as Type) ?? []) {
    const owner = key === null ? null : splitOwnedKey(key)
    const outcome = owner && maps.claims.has(key!) ? (maps.outcomes.get(key!) as OutcomeValue | undefined) : undefined
    if (owner && outcome) notices.push({ session: owner.session, notice: outcomeNotice(maps, key!, owner.id, outcome) })
  }
  return notices
}

/** Where claim `key` stands now. */
function standing(maps: CoordinationMaps, key: string, id: string): LockNotice {
  if (!maps.claims.has(key)) return { op: 'released', id }
  const outcome = maps.outcomes.get(key) as OutcomeValue | undefined
  return outcome ? outcomeNotice(maps, key, id, outcome) : { op: 'queued', id }
}

function outcomeNotice(maps: CoordinationMaps, key: string, id: string, outcome: OutcomeValue): LockNotice {
  const claim = maps.claims.get(key) as ClaimValue | undefined
  const resource = claim?.resources[0]
  const holder = resource === undefined ? undefined : (maps.locks.get(resource) as LockValue | undefined)?.holders.find((h) => h.claim === key)
  return { op: 'outcome', id, outcome, ...(holder?.expiresAt !== undefined ? { expiresAt: holder.expiresAt } : {}) }
}
