// A random-interleaving simulation of the authority's rules for the property tests: 60 sessions
// of 36 actors write claims, releases, votes, cancels and forged writes through `checkWrite` and
// `reduce`, sessions end, timers fire (on time, late and early), admins revoke. Every step checks
// the invariants of docs/design.md §4 (rules-invariants.ts) and that the authority's in-place
// `advance`, run over one state for the whole run, agrees with the pure `reduce` (refusals and
// throws included); the end of a run checks that replaying the log rebuilds the state.
import * as fc from 'fast-check'
import * as assert from 'uvu/assert'
import {
  advance,
  checkWrite,
  deadlines,
  earliestDeadline,
  dict,
  emptyState,
  reduce,
  replay,
  Y_MAP,
  type CoordEvent,
  type CoordState,
  type ReduceResult,
  type WriteCheck,
  type Principal,
} from '../server/authority/rules/index.js'
import type { ApprovalStatus, LockMode } from '../shared/coordination.js'
import type { Kind, Role } from '../shared/roles.js'
import { queuesOf } from '../server/authority/rules/queues.js'
import { checkState, checkTransition, eligible } from './rules-invariants.js'

/** Each resource's waiters in the order the queue index holds them (`dict` copies build it afresh). */
function queueOrder(state: CoordState): Array<[string, string[]]> {
  return [...queuesOf(state.queue)].map(([resource, waiters]): [string, string[]] => [resource, [...waiters.keys()]]).sort(([a], [b]) => (a < b ? -1 : 1))
}

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
  /** what the authority keeps: one state that `advance` writes into, event after event */
  readonly live: CoordState = emptyState()
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
    const inPlace = advance(this.live, event)
    this.log.push(event)
    assert.equal(inPlace, result, 'advance (in place) and reduce agree')
    if (result.ok) {
      checkTransition(this, before, result, event)
      this.state = result.state
    }
    assert.equal(this.live, this.state, 'the state advance wrote in place is the state reduce returned')
    assert.equal(queueOrder(this.live), queueOrder({ ...this.live, queue: dict(this.live.queue) }), 'the queue index kept in step matches one built afresh')
    assert.is(earliestDeadline(this.live), deadlines(this.live)[0]?.at ?? Infinity, 'the deadline index kept in step gives the earliest deadline')
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
    // the timer is armed from this one-pass minimum, never from the sorted list
    assert.is(earliestDeadline(this.state), due[0]?.at ?? Infinity, 'the earliest deadline')
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
