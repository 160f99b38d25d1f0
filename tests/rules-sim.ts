// A random-interleaving simulation of the authority's rules for the property tests: 60 sessions
// of 36 actors write claims, releases, votes, cancels and forged writes through `checkWrite` and
// `reduce`, sessions end, timers fire (on time, late and early), admins revoke. Every step checks
// the invariants of docs/design.md §4; the end of a run checks that replaying the log rebuilds the state.
import * as fc from 'fast-check'
import { isDeepStrictEqual } from 'node:util'
import * as assert from 'uvu/assert'
import {
  checkWrite,
  deadlines,
  emptyState,
  reduce,
  replay,
  stateFromJson,
  Y_MAP,
  type ApprovalEntry,
  type CoordEvent,
  type CoordState,
  type ReduceResult,
  type WriteCheck,
  type Principal,
} from '../server/authority/rules/index.js'
import { type ApprovalRequest, type ApprovalStatus, type LockMode, type LockValue, type LockWaiter, lockQueues } from '../shared/coordination.js'
import type { Kind, Role } from '../shared/roles.js'

export const RESOURCES = ['r0', 'r1', 'r2', 'r3', 'r4', 'r5']
const ROLE_CYCLE: Role[] = ['viewer', 'editor', 'approver', 'admin', 'approver', 'editor', 'approver']
const ACTORS = Array.from({ length: 36 }, (_, i) => ({
  actor: `actor${i}`,
  kind: (i % 3 === 2 ? 'agent' : 'human') as Kind,
  role: ROLE_CYCLE[i % ROLE_CYCLE.length]!,
}))
export const WRITERS: Principal[] = Array.from({ length: 60 }, (_, i) => ({
  session: `session-${String(i).padStart(2, '0')}-abcdefgh`,
  ...ACTORS[i % ACTORS.length]!,
}))
const APPROVER_CHOICES = ['approver', 'admin', 'actor2', 'actor3', 'actor4', 'actor9', 'actor10', 'actor21']

export type Action =
  | { t: 'claim'; w: number; res: string[]; mode: LockMode; waitMs: number | undefined; ttlMs: number | undefined; dt: number }
  | { t: 'release'; w: number; pick: number; dt: number }
  | { t: 'end'; w: number; dt: number }
  | { t: 'fire'; pick: number; dt: number }
  | { t: 'early'; pick: number; dt: number }
  | { t: 'revoke'; w: number; r: number; dt: number }
  | { t: 'request'; w: number; approvers: string[] | undefined; quorum: number | undefined; self: boolean; expiresIn: number | undefined; dt: number }
  | { t: 'vote'; w: number; pick: number; approve: boolean; dt: number }
  | { t: 'cancel'; w: number; pick: number; dt: number }
  | { t: 'forge'; w: number; kind: number; pick: number; dt: number }

export type Weights = Record<Action['t'], number>

const FORGERIES = 15

export function actionsArb(weights: Weights, maxLength: number): fc.Arbitrary<Action[]> {
  const w = fc.integer({ min: 0, max: WRITERS.length - 1 })
  const dt = fc.integer({ min: 0, max: 40 })
  const pick = fc.nat(1000)
  const arbs: Record<Action['t'], fc.Arbitrary<Action>> = {
    claim: fc.record({
      t: fc.constant('claim' as const),
      w,
      dt,
      res: fc.subarray(RESOURCES, { minLength: 1, maxLength: 3 }),
      mode: fc.constantFrom<LockMode>('exclusive', 'shared', 'shared'),
      waitMs: fc.option(fc.constantFrom(0, 20, 100, 500), { nil: undefined }),
      ttlMs: fc.option(fc.constantFrom(0, 30, 200, 1000), { nil: undefined }),
    }),
    release: fc.record({ t: fc.constant('release' as const), w, pick, dt }),
    end: fc.record({ t: fc.constant('end' as const), w, dt }),
    fire: fc.record({ t: fc.constant('fire' as const), pick, dt }),
    early: fc.record({ t: fc.constant('early' as const), pick, dt }),
    revoke: fc.record({ t: fc.constant('revoke' as const), w, r: fc.nat(RESOURCES.length - 1), dt }),
    request: fc.record({
      t: fc.constant('request' as const),
      w,
      dt,
      approvers: fc.option(fc.subarray(APPROVER_CHOICES, { minLength: 1, maxLength: 4 }), { nil: undefined }),
      quorum: fc.option(fc.integer({ min: 1, max: 3 }), { nil: undefined }),
      self: fc.boolean(),
      expiresIn: fc.option(fc.integer({ min: -5, max: 2000 }), { nil: undefined }),
    }),
    vote: fc.record({ t: fc.constant('vote' as const), w, pick, approve: fc.boolean(), dt }),
    cancel: fc.record({ t: fc.constant('cancel' as const), w, pick, dt }),
    forge: fc.record({ t: fc.constant('forge' as const), w, kind: fc.nat(FORGERIES - 1), pick, dt }),
  }
  const weighted = (Object.keys(arbs) as Action['t'][]).filter((t) => weights[t] > 0).map((t) => ({ arbitrary: arbs[t], weight: weights[t] }))
  return fc.array(fc.oneof(...weighted), { minLength: Math.ceil(maxLength / 2), maxLength, size: 'max' })
}

/** Runs one interleaving, checking every invariant after every step, then the replay. */
export function simulate(actions: Action[]): void {
  const sim = new Sim()
  for (const action of actions) sim.step(action)
  assert.equal(replay(sim.log), sim.state, 'replaying the log rebuilds the state')
  assert.equal(replay(JSON.parse(JSON.stringify(sim.log)) as CoordEvent[]), sim.state, 'replaying the stored (JSON) log rebuilds the state')
}

class Sim {
  state: CoordState = emptyState()
  now = 1_000
  readonly log: CoordEvent[] = []
  readonly arrival = new Map<string, number>()
  readonly tokens = new Set<number>()
  readonly finals = new Map<string, ApprovalStatus>()
  private serial = 0

  step(a: Action): void {
    this.now += a.dt
    const writer = 'w' in a ? WRITERS[a.w]! : WRITERS[0]!
    switch (a.t) {
      case 'claim':
        return this.claim(writer, a)
      case 'release':
        return this.release(writer, a.pick)
      case 'end':
        return void this.apply({ type: 'session-ended', at: this.now, session: writer.session })
      case 'fire':
        return this.fire(a.pick)
      case 'early':
        return this.early(a.pick)
      case 'revoke':
        return this.revoke(writer, RESOURCES[a.r]!)
      case 'request':
        return this.request(writer, a)
      case 'vote':
        return this.vote(writer, a.pick, a.approve)
      case 'cancel':
        return this.cancel(writer, a.pick)
      case 'forge':
        return forge(this, writer, a.kind, a.pick)
    }
  }

  apply(event: CoordEvent): ReduceResult {
    const before = deepFreeze(this.state)
    const result = reduce(before, event)
    this.log.push(event)
    if (result.ok) {
      checkTransition(this, before, result, event)
      this.state = result.state
    }
    checkState(this)
    return result
  }

  /** A client write: refused writes never reach the reducer, as the glue undoes them. */
  write(check: WriteCheck, event: CoordEvent): ReduceResult | null {
    return checkWrite(check) === null ? this.apply(event) : null
  }

  nextKey(writer: Principal, prefix: string): string {
    this.serial += 1
    return `${writer.session}:${prefix}${this.serial}`
  }

  /** Mostly a pending approval, so votes and cancels often land while they still matter. */
  approvalKey(pick: number): string | undefined {
    const all = Object.keys(this.state.approvals)
    const pending = all.filter((key) => this.state.approvals[key]!.status.state === 'pending')
    const keys = pick % 4 === 0 || pending.length === 0 ? all : pending
    return keys.length === 0 ? undefined : keys[pick % keys.length]
  }

  private claim(writer: Principal, a: Action & { t: 'claim' }): void {
    const key = this.nextKey(writer, 'c')
    const value = { resources: a.res, mode: a.mode, ...def('waitMs', a.waitMs), ...def('ttlMs', a.ttlMs) }
    const result = this.write(
      { type: 'claims', key, before: undefined, after: value, writer },
      { type: 'claim', at: this.now, key, session: writer.session, actor: writer.actor, value },
    )
    assert.is(result === null, writer.role === 'viewer', 'only viewers are refused a well-formed claim')
    if (result) assert.ok(result.ok, 'a fresh claim is accepted')
  }

  private release(writer: Principal, pick: number): void {
    const own = Object.keys(this.state.claims).filter((key) => this.state.claims[key]!.session === writer.session)
    if (own.length === 0) return
    const key = own[pick % own.length]!
    const result = this.write(
      { type: 'claims', key, before: this.state.claims[key]!.value ?? {}, after: undefined, writer },
      { type: 'release', at: this.now, key, session: writer.session },
    )
    if (result) assert.ok(result.ok, 'a session releases its own claim')
  }

  private fire(pick: number): void {
    const due = deadlines(this.state)
    if (due.length === 0) return
    const next = due[pick % due.length]!
    this.now = Math.max(this.now, next.at)
    const result = this.apply({ ...next.event, at: this.now })
    assert.ok(result.ok, `a due deadline fires: ${result.ok ? '' : result.reason}`)
  }

  private early(pick: number): void {
    const future = deadlines(this.state).filter((d) => d.at > this.now)
    if (future.length === 0) return
    const result = this.apply({ ...future[pick % future.length]!.event, at: this.now })
    assert.not.ok(result.ok, 'a timer that fires early changes nothing')
  }

  private revoke(writer: Principal, resource: string): void {
    const held = (this.state.locks[resource]?.holders.length ?? 0) > 0
    const result = this.apply({ type: 'revoke', at: this.now, resource, actor: writer.actor, role: writer.role })
    assert.is(result.ok, held && writer.role === 'admin', 'only an admin revokes, and only a held lock')
  }

  private request(writer: Principal, a: Action & { t: 'request' }): void {
    const key = this.nextKey(writer, 'a')
    const request = {
      title: 'Deploy',
      action: 'deploy',
      requester: writer.actor,
      ...def('approvers', a.approvers),
      ...def('quorum', a.quorum),
      ...(a.self ? { allowSelfApproval: true } : {}),
      ...def('expiresAt', a.expiresIn === undefined ? undefined : this.now + a.expiresIn),
    }
    if (checkWrite({ type: 'approvals', key, before: undefined, after: Y_MAP, writer }) !== null) return
    const result = this.write(
      { type: 'approvals', key, subKey: 'request', before: undefined, after: request, writer },
      { type: 'request', at: this.now, key, session: writer.session, actor: writer.actor, request },
    )
    if (result) assert.ok(result.ok, 'a well-formed request from its own session is accepted')
  }

  private vote(writer: Principal, pick: number, approve: boolean): void {
    const key = this.approvalKey(pick)
    if (!key) return
    const entry = this.state.approvals[key]!
    const vote = { decision: approve ? 'approve' : 'reject', at: this.now }
    const result = this.write(
      { type: 'approvals', key, subKey: `vote:${writer.actor}`, before: entry.votes[writer.actor], after: vote, writer },
      { type: 'vote', at: this.now, key, voter: writer, vote },
    )
    if (!result) return
    const open = entry.status.state === 'pending' && !(this.now >= (entry.request.expiresAt ?? Infinity))
    assert.is(result.ok, open && eligible(entry.request, writer), 'a vote counts exactly when open and eligible')
  }

  /** Half the time from a session of the requester, often not the one that asked. */
  private cancel(someone: Principal, pick: number): void {
    const key = this.approvalKey(pick)
    if (!key) return
    const entry = this.state.approvals[key]!
    const requesters = WRITERS.filter((w) => w.actor === entry.request.requester)
    const writer = pick % 2 === 0 ? requesters[pick % requesters.length]! : someone
    const result = this.write(
      { type: 'approvals', key, subKey: 'cancel', before: entry.cancel, after: { at: this.now }, writer },
      { type: 'cancel', at: this.now, key, session: writer.session, actor: writer.actor, cancel: { at: this.now } },
    )
    if (!result) return
    const open = entry.status.state === 'pending' && !(this.now >= (entry.request.expiresAt ?? Infinity))
    assert.is(result.ok, open && writer.actor === entry.request.requester, 'only the requester cancels, while pending')
  }
}

/** Writes no honest client makes: each must be refused, by checkWrite or by the reducer. */
function forge(sim: Sim, writer: Principal, kind: number, pick: number): void {
  const others = WRITERS.filter((w) => w.actor !== writer.actor)
  const other = others[pick % others.length]!
  const claimKeys = Object.keys(sim.state.claims)
  const someClaim = claimKeys[pick % Math.max(1, claimKeys.length)]
  const approval = sim.approvalKey(pick)
  const value = { resources: ['r0'], mode: 'exclusive' }
  const refused = (check: Omit<WriteCheck, 'writer'>): void =>
    assert.ok(checkWrite({ ...check, writer }) !== null, `forged write refused: ${JSON.stringify(check)}`)
  const rejected = (event: CoordEvent): void => assert.not.ok(sim.apply(event).ok, `forged event refused: ${event.type}`)
  switch (kind) {
    case 0:
      return refused({ type: pick % 2 ? 'queue' : 'locks', key: 'r0', before: sim.state.locks.r0, after: { holders: [] } })
    case 1:
      return refused({ type: 'outcomes', key: someClaim ?? 'x', before: undefined, after: { state: 'granted', at: 1, token: 1 } })
    case 2:
      return refused({ type: 'meta', key: 'fence', before: sim.state.fence, after: 0 })
    case 3:
      return refused({ type: 'claims', key: `${other.session}:stolen`, before: undefined, after: value })
    case 4:
      return someClaim ? refused({ type: 'claims', key: someClaim, before: {}, after: value }) : undefined
    case 5:
      return approval ? refused({ type: 'approvals', key: approval, subKey: 'status', before: undefined, after: { state: 'approved', at: 1 } }) : undefined
    case 6:
      return approval
        ? refused({ type: 'approvals', key: approval, subKey: `vote:${other.actor}`, before: undefined, after: { decision: 'approve', at: 1 } })
        : undefined
    case 7:
      return refused({ type: 'evil', key: 'x', before: undefined, after: 1 })
    case 8:
      return refused({ type: 'sessions', key: writer.session, before: undefined, after: { role: 'admin' } })
    case 9:
      return refused({ type: 'activity', key: '0', before: undefined, after: 'hello' })
    case 10: {
      const theirs = claimKeys.find((key) => sim.state.claims[key]!.session !== writer.session)
      return theirs ? rejected({ type: 'release', at: sim.now, key: theirs, session: writer.session }) : undefined
    }
    case 11: {
      const voted = approval && Object.keys(sim.state.approvals[approval]!.votes)[0]
      const voter = voted && WRITERS.find((w) => w.actor === voted)
      return voter ? rejected({ type: 'vote', at: sim.now, key: approval!, voter, vote: { decision: 'reject', at: sim.now } }) : undefined
    }
    case 12: {
      const key = sim.nextKey(writer, 'a')
      return rejected({
        type: 'request',
        at: sim.now,
        key,
        session: writer.session,
        actor: writer.actor,
        request: { title: 't', action: 'a', requester: other.actor },
      })
    }
    case 13: {
      // A malformed claim that got past the glue is recorded with outcome `invalid`.
      const key = sim.nextKey(writer, 'c')
      const result = sim.apply({ type: 'claim', at: sim.now, key, session: writer.session, actor: writer.actor, value: { resources: [], mode: 'x' } })
      assert.ok(result.ok && result.state.outcomes[key]?.state === 'invalid', 'a malformed claim ends invalid')
      return
    }
    default: {
      const agent = WRITERS.find((w) => w.kind === 'agent' && w.role === 'admin')!
      return approval ? rejected({ type: 'vote', at: sim.now, key: approval, voter: agent, vote: { decision: 'approve', at: sim.now } }) : undefined
    }
  }
}

/** The eligibility rule of docs/design.md §4, written independently of the code under test. */
function eligible(request: ApprovalRequest, voter: { actor: string; kind: Kind; role: Role }): boolean {
  const votes = voter.kind === 'human' && (voter.role === 'approver' || voter.role === 'admin')
  const self = voter.actor !== request.requester || request.allowSelfApproval === true
  const listed =
    request.approvers === undefined ||
    request.approvers.includes(voter.actor) ||
    request.approvers.includes('approver') ||
    (voter.role === 'admin' && request.approvers.includes('admin'))
  return votes && self && listed
}

function checkTransition(sim: Sim, before: CoordState, result: ReduceResult & { ok: true }, event: CoordEvent): void {
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

function checkState(sim: Sim): void {
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

function checkLock(sim: Sim, resource: string, lock: LockValue, queue: LockWaiter[]): void {
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
function checkNoDeadlock(sim: Sim): void {
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

function checkApproval(sim: Sim, key: string, entry: ApprovalEntry): void {
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

function def<K extends string, V>(name: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [name]: value }) as { [P in K]?: V }
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value)
    for (const child of Object.values(value)) deepFreeze(child)
  }
  return value
}
