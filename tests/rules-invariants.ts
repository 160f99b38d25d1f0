// The invariants of docs/design.md §4 that the rules simulation (rules-sim.ts) checks after every
// step: fencing tokens, what `changed` lists, lock queues in arrival order without deadlock, and
// approvals that only votes decide and that never leave a final state. Written independently of
// the code under test.
import { isDeepStrictEqual } from 'node:util'
import * as assert from 'uvu/assert'
import { type ApprovalEntry, type CoordEvent, type CoordState, type ReduceResult, stateFromJson } from '../server/authority/rules/index.js'
import { type ApprovalRequest, type ApprovalStatus, type LockMode, type LockValue, type LockWaiter, lockQueues } from '../shared/coordination.js'
import type { Kind, Role } from '../shared/roles.js'

/** What the simulation has observed so far, which the checks read and extend. */
export interface Observed {
  readonly state: CoordState
  /** claim key → the order in which its claim arrived */
  readonly arrival: Map<string, number>
  /** every fencing token granted */
  readonly tokens: Set<number>
  /** approval key → the final status it reached */
  readonly finals: Map<string, ApprovalStatus>
}

/** The eligibility rule of docs/design.md §4. */
export function eligible(request: ApprovalRequest, voter: { actor: string; kind: Kind; role: Role }): boolean {
  const votes = voter.kind === 'human' && (voter.role === 'approver' || voter.role === 'admin')
  const self = voter.actor !== request.requester || request.allowSelfApproval === true
  const listed =
    request.approvers === undefined ||
    request.approvers.includes(voter.actor) ||
    request.approvers.includes('approver') ||
    (voter.role === 'admin' && request.approvers.includes('admin'))
  return votes && self && listed
}

export function checkTransition(sim: Observed, before: CoordState, result: ReduceResult & { ok: true }, event: CoordEvent): void {
  const { state: after, changed, audit } = result
  if (event.type === 'claim') sim.arrival.set(event.key, sim.arrival.size)
  // Fencing: one fresh token per grant, fence + 1 each time, never reused.
  const tokens = audit.filter((a) => a.type === 'grant').map((a) => a.token!)
  assert.equal(
    tokens,
    tokens.map((_, i) => before.fence + 1 + i),
    'grants take fence + 1, in order',
  )
  assert.is(after.fence, before.fence + tokens.length, 'fence is the last token')
  assert.is(changed.fence, tokens.length > 0)
  for (const token of tokens) {
    assert.not.ok(sim.tokens.has(token), `token ${token} reused`)
    sim.tokens.add(token)
  }
  for (const grant of audit.filter((a) => a.type === 'grant')) {
    const queued = before.queue[grant.key!] !== undefined
    assert.ok(queued || (event.type === 'claim' && event.key === grant.key), 'only the new claim or a waiter is granted')
  }
  checkChanged(before, result, event)
  if (event.type === 'session-ended') {
    const mine = (key: string): boolean => key.startsWith(`${event.session}:`)
    assert.not.ok(Object.keys(after.claims).some(mine) || Object.keys(after.outcomes).some(mine), 'an ended session leaves nothing behind')
  }
  for (const [key, entry] of Object.entries(after.approvals)) {
    if (entry.status.state === before.approvals[key]?.status.state) continue
    if (entry.status.state === 'approved') assert.is(event.type, 'vote', 'only votes approve')
    if (event.type === 'approval-expired') assert.is(entry.status.state, 'expired', 'expiry never approves')
  }
}

/** `changed` names every key whose server-owned value changed, so the glue misses no write. */
function checkChanged(before: CoordState, result: ReduceResult & { ok: true }, event: CoordEvent): void {
  const { state: after, changed } = result
  for (const name of ['locks', 'outcomes'] as const) {
    for (const key of new Set([...Object.keys(before[name]), ...Object.keys(after[name])])) {
      if (!isDeepStrictEqual(before[name][key], after[name][key])) assert.ok(changed[name].includes(key), `${name}.${key} changed but is not listed`)
    }
  }
  for (const [key, entry] of Object.entries(after.approvals)) {
    if (!isDeepStrictEqual(before.approvals[key]?.status, entry.status)) assert.ok(changed.approvals.includes(key), `approval ${key} status not listed`)
  }
  const dropped = Object.keys(before.claims).filter((key) => !(key in after.claims))
  assert.equal(changed.claims, event.type === 'session-ended' ? dropped : [], 'only the server deletes of an ended session are listed')
}

/** Each lock's waiters in arrival order. */
function queuesOf(state: CoordState): Map<string, LockWaiter[]> {
  return lockQueues(Object.entries(state.queue))
}

export function checkState(sim: Observed): void {
  const { state } = sim
  const queues = queuesOf(state)
  assert.ok(isDeepStrictEqual(stateFromJson(JSON.parse(JSON.stringify(state))), state), 'the state is plain JSON (null-prototype records)')
  for (const [key, entry] of Object.entries(state.queue)) {
    assert.ok(entry.seq >= 1 && entry.seq <= state.seq, `queue entry ${key} has seq ${entry.seq} outside 1..${state.seq}`)
    assert.equal(entry.resources, state.claims[key]?.value?.resources, `queue entry ${key} names its claim's resources`)
  }
  for (const resource of new Set([...Object.keys(state.locks), ...queues.keys()]))
    checkLock(sim, resource, state.locks[resource] ?? { holders: [] }, queues.get(resource) ?? [])
  for (const [key, record] of Object.entries(state.claims)) {
    if (!record.value) continue
    const holders = record.value.resources.map((r) => state.locks[r]?.holders.find((h) => h.claim === key))
    const queued = record.value.resources.map((r) => queues.get(r)?.some((w) => w.claim === key) ?? false)
    assert.ok(holders.every(Boolean) || holders.every((h) => !h), `claim ${key} holds some of its resources`)
    assert.ok(queued.every(Boolean) || queued.every((q) => !q), `claim ${key} waits for some of its resources`)
    assert.not.ok(holders[0] && queued[0], `claim ${key} both holds and waits`)
    if (holders[0]) {
      assert.ok(
        holders.every((h) => h!.token === holders[0]!.token),
        'one token per grant',
      )
      assert.equal(state.outcomes[key], { state: 'granted', at: holders[0].grantedAt, token: holders[0].token })
    }
    if (queued[0]) assert.ok(isBlocked(state, queues, key, record.value.resources, record.value.mode), `waiter ${key} could be granted`)
  }
  checkNoDeadlock(sim)
  for (const [key, entry] of Object.entries(state.approvals)) checkApproval(sim, key, entry)
}

function checkLock(sim: Observed, resource: string, lock: LockValue, queue: LockWaiter[]): void {
  if (resource in sim.state.locks) assert.ok(lock.holders.length > 0, 'locks without holders are deleted')
  if (lock.holders.length > 1)
    assert.ok(
      lock.holders.every((h) => h.mode === 'shared'),
      `two holders of ${resource}, not all shared`,
    )
  for (const entry of [...lock.holders, ...queue]) {
    const record = sim.state.claims[entry.claim]
    assert.ok(
      record?.value?.resources.includes(resource) && record.session === entry.session && record.actor === entry.actor,
      `orphan entry ${entry.claim} on ${resource}`,
    )
  }
  const order = queue.map((w) => sim.arrival.get(w.claim)!)
  assert.equal(
    order,
    [...order].sort((a, b) => a - b),
    `queue of ${resource} is in arrival order`,
  )
  for (const holder of lock.holders) {
    for (const waiter of queue) {
      if (holder.mode === 'exclusive' || waiter.mode === 'exclusive') {
        assert.ok(sim.arrival.get(holder.claim)! < sim.arrival.get(waiter.claim)!, `${holder.claim} overtook ${waiter.claim} on ${resource}`)
      }
    }
  }
  if (lock.holders.length > 0) assert.ok(lock.holders[lock.holders.length - 1]!.token <= sim.state.fence, 'tokens come from the fence')
}

/** The earliest waiter of all waits only for holders, which never wait: someone always progresses. */
function checkNoDeadlock(sim: Observed): void {
  const waiters = Object.entries(sim.state.queue).map(([claim, entry]) => ({ claim, ...entry }))
  if (waiters.length === 0) return
  const first = waiters.reduce((a, b) => (sim.arrival.get(a.claim)! <= sim.arrival.get(b.claim)! ? a : b))
  const resources = sim.state.claims[first.claim]!.value!.resources
  const heldAgainst = resources.some((r) => (sim.state.locks[r]?.holders ?? []).some((h) => h.mode === 'exclusive' || first.mode === 'exclusive'))
  assert.ok(heldAgainst, `earliest waiter ${first.claim} is not blocked by any holder`)
}

function isBlocked(state: CoordState, queues: Map<string, LockWaiter[]>, key: string, resources: string[], mode: LockMode): boolean {
  const clash = (other: LockMode): boolean => other === 'exclusive' || mode === 'exclusive'
  return resources.some((r) => {
    const queue = queues.get(r) ?? []
    const ahead = queue.slice(
      0,
      queue.findIndex((w) => w.claim === key),
    )
    return (state.locks[r]?.holders ?? []).some((h) => clash(h.mode)) || ahead.some((w) => clash(w.mode))
  })
}

function checkApproval(sim: Observed, key: string, entry: ApprovalEntry): void {
  const { request, status, votes } = entry
  const final = sim.finals.get(key)
  if (final) assert.equal(status, final, `approval ${key} left its final state`)
  else if (status.state !== 'pending') sim.finals.set(key, status)
  for (const [actor, vote] of Object.entries(votes)) {
    assert.ok(eligible(request, { actor, ...vote }), `ineligible vote by ${actor} (${vote.kind}, ${vote.role}) was stored`)
  }
  const by = status.by ?? []
  switch (status.state) {
    case 'approved':
      assert.ok(new Set(by).size === by.length && by.length >= (request.quorum ?? 1), 'quorum of distinct actors')
      assert.ok(
        by.every((actor) => votes[actor]?.decision === 'approve'),
        'approved by approvals',
      )
      assert.ok(status.at < (request.expiresAt ?? Infinity), 'never approved after expiresAt')
      break
    case 'rejected':
      assert.is(votes[by[0]!]?.decision, 'reject')
      break
    case 'cancelled':
      assert.ok(entry.cancel && by[0] === request.requester, 'cancelled by the requester')
      break
    case 'expired':
      assert.ok(status.at >= (request.expiresAt ?? Infinity), 'expired at expiresAt')
      break
    case 'pending':
      assert.is(entry.cancel, undefined)
      break
  }
}
