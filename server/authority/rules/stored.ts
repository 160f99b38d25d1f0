// Reading the state back from its JSON (a checkpoint). Every record becomes null-prototype again,
// and a checkpoint of layout 1 — each lock's waiters in an array inside `locks[resource]`, before
// the queue moved under its own keys — is upgraded: the waiters become `queue` entries numbered in
// the one arrival order all the old queues agree with, and outcomes of claims already gone (layout 1
// kept them for the session's life) are cut to the newest per session.
import { type LockMode, type LockValue, type OutcomeValue, type QueueEntry, splitOwnedKey } from '../../../shared/coordination.js'
import { type ApprovalEntry, type ClaimRecord, type CoordState, dict, type Dict } from './state.js'

/** Outcomes kept per session for claims that are gone (only a layout-1 state has such). */
export const GONE_OUTCOMES_KEPT = 64

interface LayoutOneWaiter {
  claim: string
  session: string
  actor: string
  mode: LockMode
  queuedAt: number
}

/** A stored state of either layout. */
export type StoredState = Omit<CoordState, 'locks' | 'queue' | 'seq'> & {
  locks: Dict<LockValue & { queue?: LayoutOneWaiter[] }>
  queue?: Dict<QueueEntry>
  seq?: number
}

export function stateFromJson(json: StoredState): CoordState {
  const claims = dict(json.claims)
  const approvals = dict<ApprovalEntry>()
  for (const [key, entry] of Object.entries(json.approvals)) approvals[key] = { ...entry, votes: dict(entry.votes) }
  const locks = dict<LockValue>()
  for (const [resource, lock] of Object.entries(json.locks)) if (lock.holders.length > 0) locks[resource] = { holders: lock.holders }
  const queue = json.queue ? dict(json.queue) : queueFromLayoutOne(json.locks, claims)
  const seq = json.seq ?? Object.keys(queue).length
  return { claims, locks, queue, outcomes: boundGoneOutcomes(dict(json.outcomes), claims), approvals, fence: json.fence, seq }
}

/**
 * Numbers the waiters of layout-1 queues 1, 2, … in an order every old queue agrees with (a claim
 * joined all its queues at once, so there is one); ties go to the earlier `queuedAt`, then the
 * smaller key, as layout 1 granted them.
 */
function queueFromLayoutOne(locks: StoredState['locks'], claims: Dict<ClaimRecord>): Dict<QueueEntry> {
  const waiters = new Map<string, LayoutOneWaiter>()
  const after = new Map<string, Set<string>>()
  const before = new Map<string, number>()
  for (const lock of Object.values(locks)) {
    const list = lock.queue ?? []
    list.forEach((waiter, index) => {
      waiters.set(waiter.claim, waiter)
      if (!before.has(waiter.claim)) before.set(waiter.claim, 0)
      const next = list[index + 1]
      if (!next) return
      const set = after.get(waiter.claim) ?? new Set<string>()
      if (!set.has(next.claim)) before.set(next.claim, (before.get(next.claim) ?? 0) + 1)
      set.add(next.claim)
      after.set(waiter.claim, set)
    })
  }
  const queue = dict<QueueEntry>()
  let seq = 0
  const ready = [...waiters.keys()].filter((key) => before.get(key) === 0)
  while (ready.length > 0) {
    ready.sort((a, b) => waiters.get(a)!.queuedAt - waiters.get(b)!.queuedAt || (a < b ? -1 : a > b ? 1 : 0))
    const key = ready.shift()!
    const waiter = waiters.get(key)!
    const resources = claims[key]?.value?.resources ?? Object.keys(locks).filter((r) => locks[r]!.queue?.some((w) => w.claim === key))
    queue[key] = { resources, mode: waiter.mode, actor: waiter.actor, session: waiter.session, seq: ++seq, queuedAt: waiter.queuedAt }
    for (const next of after.get(key) ?? []) {
      const left = before.get(next)! - 1
      before.set(next, left)
      if (left === 0) ready.push(next)
    }
  }
  return queue
}

function boundGoneOutcomes(outcomes: Dict<OutcomeValue>, claims: Dict<ClaimRecord>): Dict<OutcomeValue> {
  const gone = new Map<string, Array<[string, OutcomeValue]>>()
  for (const [key, outcome] of Object.entries(outcomes)) {
    if (claims[key]) continue
    const session = splitOwnedKey(key)?.session ?? ''
    const list = gone.get(session) ?? []
    list.push([key, outcome])
    gone.set(session, list)
  }
  for (const list of gone.values()) {
    list.sort(([, a], [, b]) => b.at - a.at)
    for (const [key] of list.slice(GONE_OUTCOMES_KEPT)) delete outcomes[key]
  }
  return outcomes
}
