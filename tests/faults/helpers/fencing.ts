// The fencing-history checker (in the spirit of Jepsen's Hazelcast FencedLock analysis): it records
// every grant with its fencing token and the time it was seen, by observers of the coordination
// document and by the clients that hold the locks, and checks that
//   - no token is ever issued to two different claims (also across server crashes),
//   - tokens rise with real time: a grant seen complete before another claim was even made has a
//     lower token,
//   - no two clients ever believed they held conflicting locks at the same time, and for every pair
//     of conflicting grants the one with the lower token ended (as its holder saw it) before the
//     other began.
import type * as Y from 'yjs'
import type { LockValue } from '../../../shared/coordination.js'

export interface ObservedGrant {
  claim: string
  token: number
  resources: string[]
  mode: 'exclusive' | 'shared'
  /** transaction counter of the observer at which it was first seen */
  transaction: number
}

/** Watches a coordination document's `locks` after every transaction. */
export class GrantObserver {
  readonly grants = new Map<string, ObservedGrant>()
  readonly violations: string[] = []
  private transactions = 0
  /** largest token seen in any earlier transaction */
  private maxBefore = 0

  constructor(
    readonly doc: Y.Doc,
    readonly name = 'observer',
  ) {
    doc.on('afterTransaction', () => this.check())
    this.check()
  }

  private violation(text: string): void {
    if (this.violations.length < 100) this.violations.push(`${this.name}: ${text}`)
  }

  private check(): void {
    this.transactions++
    let maxNow = this.maxBefore
    const fresh: ObservedGrant[] = []
    for (const [resource, lock] of this.doc.getMap<LockValue>('locks').entries()) {
      for (const holder of lock?.holders ?? []) {
        const known = this.grants.get(holder.claim)
        if (known) {
          if (known.token !== holder.token) this.violation(`claim ${holder.claim} held with token ${holder.token} on ${resource}, ${known.token} before`)
          if (!known.resources.includes(resource)) known.resources.push(resource)
          continue
        }
        const grant = { claim: holder.claim, token: holder.token, resources: [resource], mode: holder.mode, transaction: this.transactions }
        this.grants.set(holder.claim, grant)
        fresh.push(grant)
        maxNow = Math.max(maxNow, holder.token)
      }
    }
    // Grants that arrive in one transaction (one merged batch) are simultaneous; only across
    // transactions must tokens rise.
    for (const grant of fresh)
      if (grant.token <= this.maxBefore) this.violation(`new grant ${grant.claim} has token ${grant.token}, not above ${this.maxBefore} seen earlier`)
    this.maxBefore = maxNow
  }
}

/** What a lock client saw of one of its own grants. */
export interface HeldGrant {
  claim: string
  session: string
  resources: string[]
  mode: 'exclusive' | 'shared'
  token: number
  /** client clock: when the claim was written, when the grant was seen, when the release was sent */
  claimedAt: number
  seenAt: number
  releasedAt?: number
}

/** Checks a set of client-side grant histories (plus any observers') against each other. */
export function checkFencingHistory(held: HeldGrant[], observers: GrantObserver[] = []): { violations: string[]; grants: number; tokens: number } {
  const violations: string[] = []
  const byToken = new Map<number, string>()
  const note = (token: number, claim: string, where: string) => {
    const other = byToken.get(token)
    if (other !== undefined && other !== claim) violations.push(`token ${token} was issued twice: to ${other} and to ${claim} (${where})`)
    else byToken.set(token, claim)
  }
  for (const grant of held) note(grant.token, grant.claim, 'seen by its client')
  for (const observer of observers) {
    for (const grant of observer.grants.values()) note(grant.token, grant.claim, `seen by ${observer.name}`)
    violations.push(...observer.violations)
  }
  // Real-time order: a grant its client had seen before another claim was made has a lower token.
  const sortedBySeen = [...held].sort((a, b) => a.seenAt - b.seenAt)
  const sortedByClaim = [...held].sort((a, b) => a.claimedAt - b.claimedAt)
  let maxSeenToken = 0
  let index = 0
  for (const grant of sortedByClaim) {
    while (index < sortedBySeen.length && sortedBySeen[index]!.seenAt < grant.claimedAt) maxSeenToken = Math.max(maxSeenToken, sortedBySeen[index++]!.token)
    if (grant.token <= maxSeenToken)
      violations.push(
        `claim ${grant.claim} (made at ${grant.claimedAt}) got token ${grant.token}, but token ${maxSeenToken} had already been seen granted before it was made`,
      )
  }
  // Mutual exclusion with fencing order, per resource.
  const byResource = new Map<string, HeldGrant[]>()
  for (const grant of held) for (const resource of grant.resources) byResource.set(resource, [...(byResource.get(resource) ?? []), grant])
  for (const [resource, grants] of byResource) {
    grants.sort((a, b) => a.token - b.token)
    for (let i = 0; i < grants.length; i++) {
      const earlier = grants[i]!
      for (let j = i + 1; j < grants.length; j++) {
        const later = grants[j]!
        if (earlier.mode === 'shared' && later.mode === 'shared') continue
        const end = earlier.releasedAt ?? Infinity
        if (end > later.seenAt) {
          violations.push(
            `${resource}: ${earlier.claim} (token ${earlier.token}, ${earlier.mode}) was held by its client until ${earlier.releasedAt ?? 'the end'}, but ${later.claim} (token ${later.token}, ${later.mode}) saw its grant at ${later.seenAt}`,
          )
        }
      }
    }
  }
  return { violations, grants: held.length, tokens: byToken.size }
}

/**
 * Counts the transactions after which `doc` holds updates it could not apply in full (Yjs keeps
 * them pending until what they build on arrives). A server that sends every client its sync
 * step 2 before anything that builds on it never causes one; when it does, the client shows a
 * state that never existed (a deletion applied, its replacement missing).
 */
export class PendingWatch {
  count = 0
  first: string | null = null

  constructor(
    readonly doc: Y.Doc,
    readonly name: string,
  ) {
    doc.on('afterTransaction', () => {
      if (doc.store.pendingStructs === null && doc.store.pendingDs === null) return
      this.count++
      this.first ??= `${name}: an update from the server could not be applied in full at ${new Date().toISOString()} (pending structs: ${doc.store.pendingStructs !== null}, pending deletions: ${doc.store.pendingDs !== null})`
    })
  }
}
