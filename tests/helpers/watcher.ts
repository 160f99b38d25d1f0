// The Watcher of the authority's end-to-end tests (tests/authority-*.test.ts): a viewer that checks
// every state of the coordination document it observes against the rules of docs/design.md §4,
// judging what it sees against the ledger of legitimate writes (coordination-peers.ts); its checks
// of approvals are in watcher-approvals.ts.
import * as Y from 'yjs'
import type { LockValue, LockWaiter } from '../../shared/coordination.js'
import { COORD, COORDINATION_TYPES, lockQueues, SERVER_ONLY_TYPES } from '../../shared/coordination.js'
import { newSession } from './clients.js'
import { canonical, hasLiveContent } from './coordination-compare.js'
import { claimsOf, locksOf, outcomesOf, queueMapOf } from './coordination-maps.js'
import { type CoordPeer, joinCoord, ledger, who } from './coordination-peers.js'
import type { ServerLike } from './server.js'
import { ApprovalChecks } from './watcher-approvals.js'

interface Grant {
  claim: string
  token: number
  resource: string
  holder: LockValue['holders'][number]
}

/**
 * A viewer that checks the whole coordination document after every transaction it observes
 * (observeDeep on every type, and afterTransaction for types nobody should have created), and
 * records the order in which claims showed up in each lock and were granted.
 */
export class Watcher {
  readonly violations: string[] = []
  /** transactions (received updates) checked */
  checks = 0
  /** resource → claim keys in the order they first appeared in its lock (holders, then queue) */
  readonly arrival = new Map<string, string[]>()
  /** grants in the order the watcher saw them */
  readonly grants: Grant[] = []
  /** every queue entry seen, by claim key */
  readonly waiters = new Map<string, LockWaiter>()
  /** resource → the largest number of holders seen at once */
  readonly maxHolders = new Map<string, number>()
  /**
   * resource → every hold the watcher saw: from the check (transaction) where the claim appeared
   * among the holders to the one where it was gone (`to` undefined while still held)
   */
  readonly holds = new Map<string, Array<{ claim: string; from: number; to?: number; fromMs: number; toMs?: number }>>()
  private readonly seenClaims = new Set<string>()
  private readonly seenHolders = new Set<string>()
  private readonly seenActivity = new Map<number, string>()
  private readonly approvals = new ApprovalChecks({
    violation: (text) => this.violation(text),
    writerOk: (item, allowed) => this.writerOk(item, allowed),
    isClient: (client) => this.isClient(client),
  })
  private maxToken = 0
  private lastFence = 0
  private lastChecked: Y.Transaction | null = null

  private constructor(readonly peer: CoordPeer) {
    const doc = peer.doc
    for (const name of COORDINATION_TYPES) {
      const type = name === COORD.activity ? doc.getArray(name) : doc.getMap(name)
      type.observeDeep((_events, transaction) => this.check(transaction))
    }
    doc.on('afterTransaction', (transaction: Y.Transaction) => this.check(transaction))
  }

  static async start(server: ServerLike, workspace: string, actor = `watcher-${newSession().slice(0, 6)}`): Promise<Watcher> {
    const identity = await who(actor, 'viewer')
    const doc = new Y.Doc()
    // Attach the checks before the first sync, so the initial state is checked too.
    const session = newSession()
    ledger.registerClient(doc.clientID, session, actor)
    const peerPromise = joinCoord(server, workspace, identity, { doc, session })
    const watcher = new Watcher({ doc, session, who: identity, workspace } as CoordPeer)
    const peer = await peerPromise
    Object.assign(watcher, { peer })
    return watcher
  }

  get doc(): Y.Doc {
    return this.peer.doc
  }

  /** every state of each approval's status, in order */
  get statusHistory(): ReadonlyMap<string, string[]> {
    return this.approvals.statusHistory
  }

  /** Fails with every violation seen so far. */
  assertClean(): void {
    if (this.violations.length > 0) throw new Error(`the watcher saw ${this.violations.length} invalid state(s):\n${this.violations.slice(0, 15).join('\n')}`)
  }

  private violation(text: string): void {
    if (this.violations.length < 200) this.violations.push(`[check ${this.checks}] ${text}`)
  }

  private check(transaction: Y.Transaction): void {
    if (transaction === this.lastChecked) return
    this.lastChecked = transaction
    this.checks++
    const doc = this.doc
    try {
      this.checkTopLevel(doc)
      this.checkServerOnly(doc)
      this.checkClaims(doc)
      this.checkLocks(doc)
      this.trackHolds(doc)
      this.checkOutcomes(doc)
      this.checkMeta(doc)
      this.checkSessions(doc)
      this.checkActivity(doc)
      this.approvals.check(doc)
    } catch (error) {
      this.violation(`check crashed: ${(error as Error).stack}`)
    }
  }

  private isClient(client: number): boolean {
    return ledger.clients.has(client) && ledger.clients.get(client)!.session !== this.peer.session
  }

  private checkTopLevel(doc: Y.Doc): void {
    for (const [name, type] of doc.share) {
      if (!(COORDINATION_TYPES as readonly string[]).includes(name)) {
        if (hasLiveContent(type)) this.violation(`unknown top-level type ${name} has content: ${JSON.stringify(type.toJSON?.() ?? null)}`)
        continue
      }
      if (name === COORD.activity) {
        for (const item of type._map.values()) if (!item.deleted) this.violation(`activity has a map entry`)
      } else {
        for (let item = type._start; item !== null; item = item.right) if (!item.deleted) this.violation(`${name} has list content`)
      }
    }
  }

  private checkServerOnly(doc: Y.Doc): void {
    for (const name of SERVER_ONLY_TYPES) {
      const type = doc.share.get(name)!
      for (const [key, item] of type._map) {
        if (!item.deleted && this.isClient(item.id.client))
          this.violation(`${name}.${key} was written by client ${item.id.client} (${JSON.stringify(ledger.clients.get(item.id.client))})`)
      }
      for (let item = type._start; item !== null; item = item.right) {
        if (!item.deleted && this.isClient(item.id.client)) this.violation(`${name} holds list content of client ${item.id.client}`)
      }
    }
  }

  private writerOk(item: Y.Item | undefined, allowed: (owner: { session: string; actor: string }) => boolean): boolean {
    if (!item) return true
    const owner = ledger.clients.get(item.id.client)
    return !owner || !this.isClient(item.id.client) || allowed(owner)
  }

  private checkClaims(doc: Y.Doc): void {
    const claims = claimsOf(doc)
    const sessions = doc.getMap(COORD.sessions)
    for (const [key, item] of claims._map) {
      if (item.deleted) continue
      const value = claims.get(key)
      const legit = ledger.claims.get(key)
      if (!legit) this.violation(`claim ${key} was never written by its session: ${JSON.stringify(value)}`)
      else if (canonical(value) !== canonical(legit)) this.violation(`claim ${key} is ${JSON.stringify(value)}, its session wrote ${JSON.stringify(legit)}`)
      const session = key.slice(0, key.indexOf(':'))
      if (!this.writerOk(item, (owner) => owner.session === session)) this.violation(`claim ${key} written by another session's client ${item.id.client}`)
      this.seenClaims.add(key)
    }
    for (const key of this.seenClaims) {
      const session = key.slice(0, key.indexOf(':'))
      if (!claims.has(key) && !ledger.released.has(key) && sessions.has(session))
        this.violation(`claim ${key} vanished while its session ${session} is alive and never released it`)
    }
  }

  private checkLocks(doc: Y.Doc): void {
    const locks = locksOf(doc)
    const outcomes = outcomesOf(doc)
    const meta = doc.getMap(COORD.meta)
    const fence = meta.get('fence') as number | undefined
    const fresh: Grant[] = []
    const queues = this.checkQueue(doc, meta.get('seq') as number | undefined)
    for (const resource of new Set([...locks.keys(), ...queues.keys()])) {
      const lock = locks.get(resource) ?? { holders: [] }
      if (!Array.isArray(lock.holders) || 'queue' in lock || (locks.has(resource) && lock.holders.length === 0)) {
        this.violation(`locks.${resource} is malformed (holders only, never empty): ${JSON.stringify(lock)}`)
        continue
      }
      const waiting = queues.get(resource) ?? []
      const order = this.arrival.get(resource) ?? []
      for (const entry of [...lock.holders, ...waiting]) if (!order.includes(entry.claim)) order.push(entry.claim)
      this.arrival.set(resource, order)
      this.maxHolders.set(resource, Math.max(this.maxHolders.get(resource) ?? 0, lock.holders.length))
      if (lock.holders.some((h) => h.mode === 'exclusive') && lock.holders.length > 1)
        this.violation(`locks.${resource}: an exclusive holder shares it: ${JSON.stringify(lock.holders)}`)
      for (const holder of lock.holders) {
        const value = ledger.claims.get(holder.claim)
        if (!value) {
          this.violation(`locks.${resource} lists ${holder.claim}, which no session claimed`)
          continue
        }
        if (holder.session !== holder.claim.slice(0, holder.claim.indexOf(':')) || holder.mode !== value.mode || !value.resources.includes(resource)) {
          this.violation(`locks.${resource} holder ${JSON.stringify(holder)} does not match claim ${JSON.stringify(value)}`)
        }
        // All or nothing: held on every one of its resources at once.
        for (const other of value.resources) {
          if (!locks.get(other)?.holders.some((h) => h.claim === holder.claim)) this.violation(`${holder.claim} is held on ${resource} but not on ${other}`)
        }
        if (queueMapOf(doc).has(holder.claim)) this.violation(`${holder.claim} both holds ${resource} and is queued`)
        const outcome = outcomes.get(holder.claim)
        if (outcome?.state !== 'granted' || outcome.token !== holder.token)
          this.violation(`holder ${holder.claim} of ${resource} has token ${holder.token} but outcome ${JSON.stringify(outcome)}`)
        if (fence === undefined || holder.token > fence) this.violation(`holder token ${holder.token} is above meta.fence ${fence}`)
        if (!this.seenHolders.has(holder.claim)) {
          this.seenHolders.add(holder.claim)
          fresh.push({ claim: holder.claim, token: holder.token, resource, holder })
        }
      }
    }
    // Grants that arrive in one (merged) update are granted in token order, but the map lists them
    // in its own order: each must be above every token seen before this update, and all distinct.
    fresh.sort((a, b) => a.token - b.token)
    for (const [index, grant] of fresh.entries()) {
      if (grant.token <= this.maxToken) this.violation(`new grant ${grant.claim} has token ${grant.token}, not above ${this.maxToken}`)
      if (index > 0 && grant.token === fresh[index - 1]!.token)
        this.violation(`grants ${fresh[index - 1]!.claim} and ${grant.claim} share token ${grant.token}`)
    }
    if (fresh.length) this.maxToken = Math.max(this.maxToken, fresh[fresh.length - 1]!.token)
    this.grants.push(...fresh)
  }

  /** Checks every `queue` entry against its claim; returns each lock's queue in arrival order. */
  private checkQueue(doc: Y.Doc, seq: number | undefined): Map<string, LockWaiter[]> {
    const queue = queueMapOf(doc)
    const seqs = new Set<number>()
    for (const [key, entry] of queue.entries()) {
      const value = ledger.claims.get(key)
      if (!entry || !Array.isArray(entry.resources) || typeof entry.seq !== 'number' || typeof entry.queuedAt !== 'number') {
        this.violation(`queue.${key} is malformed: ${JSON.stringify(entry)}`)
        continue
      }
      if (!value) this.violation(`queue.${key}: no session claimed it`)
      else if (entry.session !== key.slice(0, key.indexOf(':')) || entry.mode !== value.mode || canonical(entry.resources) !== canonical(value.resources)) {
        this.violation(`queue.${key} = ${JSON.stringify(entry)} does not match claim ${JSON.stringify(value)}`)
      }
      if (seqs.has(entry.seq)) this.violation(`queue.${key} shares seq ${entry.seq} with another waiter`)
      seqs.add(entry.seq)
      if (seq === undefined || entry.seq > seq) this.violation(`queue.${key} has seq ${entry.seq}, above meta.seq ${seq}`)
      const outcome = outcomesOf(doc).get(key)
      if (outcome) this.violation(`queued claim ${key} already has an outcome ${JSON.stringify(outcome)}`)
      if (!this.waiters.has(key)) this.waiters.set(key, { claim: key, ...entry })
    }
    return lockQueues(queue.entries())
  }

  private trackHolds(doc: Y.Doc): void {
    const locks = locksOf(doc)
    const resources = new Set([...this.holds.keys(), ...locks.keys()])
    for (const resource of resources) {
      const now = new Set((locks.get(resource)?.holders ?? []).map((holder) => holder.claim))
      const list = this.holds.get(resource) ?? []
      for (const hold of list) {
        if (hold.to === undefined && !now.has(hold.claim)) {
          hold.to = this.checks
          hold.toMs = Date.now()
        }
      }
      for (const claim of now) {
        if (!list.some((hold) => hold.claim === claim && hold.to === undefined)) list.push({ claim, from: this.checks, fromMs: Date.now() })
      }
      this.holds.set(resource, list)
    }
  }

  private checkOutcomes(doc: Y.Doc): void {
    for (const [key, outcome] of outcomesOf(doc).entries()) {
      if (!ledger.claims.has(key)) this.violation(`outcome for ${key}, which no session claimed`)
      if (!['granted', 'timeout', 'expired', 'revoked', 'invalid'].includes(outcome?.state))
        this.violation(`outcome ${key} is malformed: ${JSON.stringify(outcome)}`)
    }
  }

  private checkMeta(doc: Y.Doc): void {
    const meta = doc.getMap(COORD.meta)
    for (const key of meta.keys()) if (key !== 'fence' && key !== 'seq' && key !== 'leaseGraceMs') this.violation(`meta.${key} exists`)
    const grace = meta.get('leaseGraceMs')
    if (grace !== undefined && (typeof grace !== 'number' || grace < 0)) this.violation(`meta.leaseGraceMs is ${JSON.stringify(grace)}`)
    const fence = meta.get('fence')
    if (fence === undefined) return
    if (typeof fence !== 'number' || fence < this.lastFence) this.violation(`meta.fence went from ${this.lastFence} to ${JSON.stringify(fence)}`)
    else this.lastFence = fence
  }

  private checkSessions(doc: Y.Doc): void {
    for (const [session, value] of doc.getMap<{ actor: string }>(COORD.sessions).entries()) {
      const actor = ledger.sessions.get(session)
      if (actor === undefined || value?.actor !== actor) this.violation(`sessions.${session} = ${JSON.stringify(value)} (expected actor ${actor})`)
    }
  }

  private checkActivity(doc: Y.Doc): void {
    const entries = doc.getArray<{ seq: number; type: string }>(COORD.activity).toArray()
    let previous = -Infinity
    for (const entry of entries) {
      if (typeof entry?.seq !== 'number' || typeof entry.type !== 'string') {
        this.violation(`activity entry is malformed: ${JSON.stringify(entry)}`)
        continue
      }
      if (entry.seq <= previous) this.violation(`activity seq ${entry.seq} after ${previous}`)
      previous = entry.seq
      const seen = this.seenActivity.get(entry.seq)
      const text = `${entry.type}@${JSON.stringify((entry as { at?: number }).at)}`
      if (seen !== undefined && seen !== text) this.violation(`activity entry ${entry.seq} changed from ${seen} to ${text}`)
      this.seenActivity.set(entry.seq, text)
    }
    const first = entries[0]?.seq ?? Infinity
    const present = new Set(entries.map((entry) => entry.seq))
    for (const seq of this.seenActivity.keys()) {
      if (seq >= first && !present.has(seq)) this.violation(`activity entry ${seq} vanished from the middle`)
    }
  }
}
