// Lock rules: examples for each rule, then random interleavings of 60 sessions (rules-sim.ts).
import * as fc from 'fast-check'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import {
  deadlines,
  advance,
  copyState,
  emptyState,
  reduce,
  stateFromJson,
  type AuditEvent,
  type CoordEvent,
  type CoordState,
  type StoredState,
} from '../server/authority/rules/index.js'
import { type ClaimValue, lockQueues } from '../shared/coordination.js'
import { actionsArb, simulate } from './rules-sim.js'

const session = (name: string): string => `${name}-session-0000000`
const A = session('a')
const B = session('b')
const C = session('c')
const D = session('d')

type Event<T extends CoordEvent['type']> = Extract<CoordEvent, { type: T }>

function claim(s: string, id: string, value: Partial<ClaimValue> & { resources: string[] }, at = 0): Event<'claim'> {
  return { type: 'claim', at, key: `${s}:${id}`, session: s, actor: s.split('-')[0]!, value: { mode: 'exclusive', ...value } }
}

const release = (s: string, id: string, at = 0): Event<'release'> => ({ type: 'release', at, key: `${s}:${id}`, session: s })

/** Applies events that must all be accepted; returns the state and every audit event. */
function run(events: CoordEvent[], from: CoordState = emptyState()): { state: CoordState; audit: AuditEvent[] } {
  let state = from
  const audit: AuditEvent[] = []
  for (const event of events) {
    const result = reduce(state, event)
    if (!result.ok) throw new Error(`${event.type} refused: ${result.reason}`)
    state = result.state
    audit.push(...result.audit)
  }
  return { state, audit }
}

function refuse(state: CoordState, event: CoordEvent, pattern: RegExp): void {
  const result = reduce(state, event)
  assert.not.ok(result.ok, `${event.type} should be refused`)
  if (!result.ok) assert.match(result.reason, pattern)
}

const holders = (state: CoordState, resource: string): string[] => state.locks[resource]?.holders.map((h) => h.claim) ?? []
const queue = (state: CoordState, resource: string): string[] => (lockQueues(Object.entries(state.queue)).get(resource) ?? []).map((w) => w.claim)

test('a free resource is granted at once with fence + 1, and changed names what to write', () => {
  const result = reduce(emptyState(), claim(A, 'c1', { resources: ['db'], ttlMs: 500 }, 100))
  assert.ok(result.ok)
  if (!result.ok) return
  const { state, changed, audit } = result
  assert.equal(state.locks.db, {
    holders: [{ claim: `${A}:c1`, session: A, actor: 'a', mode: 'exclusive', token: 1, grantedAt: 100, expiresAt: 600 }],
  })
  assert.equal(state.outcomes[`${A}:c1`], { state: 'granted', at: 100, token: 1 })
  assert.is(state.fence, 1)
  assert.equal(changed, { claims: [], locks: ['db'], queue: [], outcomes: [`${A}:c1`], approvals: [], fence: true, seq: false })
  assert.equal(
    audit.map((a) => a.type),
    ['claim', 'grant'],
  )
  assert.is(audit[1]!.token, 1)
})

test('tokens continue from a persisted fence', () => {
  const { state } = run([claim(A, 'c1', { resources: ['db'] })], { ...emptyState(), fence: 41 })
  assert.is(state.locks.db!.holders[0]!.token, 42)
  assert.is(state.fence, 42)
})

test('shared coexists with shared; exclusive waits; a later shared never overtakes a waiting exclusive', () => {
  const { state } = run([
    claim(A, 's1', { resources: ['r'], mode: 'shared' }),
    claim(B, 's2', { resources: ['r'], mode: 'shared' }),
    claim(C, 'x', { resources: ['r'] }),
    claim(D, 's3', { resources: ['r'], mode: 'shared' }),
  ])
  assert.equal(holders(state, 'r'), [`${A}:s1`, `${B}:s2`])
  assert.equal(queue(state, 'r'), [`${C}:x`, `${D}:s3`])
  const after = run([release(A, 's1'), release(B, 's2')], state).state
  assert.equal(holders(after, 'r'), [`${C}:x`], 'the exclusive goes first')
  assert.equal(
    run([release(C, 'x')], after).state.locks.r!.holders.map((h) => h.token),
    [4],
  )
})

test('all or nothing: a multi-resource claim holds all its resources with one token, or waits on all', () => {
  const { state } = run([claim(A, 'c1', { resources: ['b'] }), claim(B, 'c2', { resources: ['a', 'b'] })])
  assert.equal(holders(state, 'a'), [], 'a is free but not taken')
  assert.equal(queue(state, 'a'), [`${B}:c2`])
  assert.equal(queue(state, 'b'), [`${B}:c2`])
  const after = run([release(A, 'c1')], state).state
  assert.equal(after.locks.a!.holders[0]!.token, 2)
  assert.equal(after.locks.b!.holders[0]!.token, 2)
  assert.is(after.fence, 2)
})

test('a claim never overtakes an earlier conflicting waiter on any of its resources', () => {
  const { state } = run([
    claim(A, 'c1', { resources: ['a'] }),
    claim(B, 'c2', { resources: ['a', 'b'] }),
    claim(C, 'c3', { resources: ['b'] }),
    claim(D, 'c4', { resources: ['c'] }),
  ])
  assert.equal(holders(state, 'b'), [], 'b is free, yet C waits behind B')
  assert.equal(queue(state, 'b'), [`${B}:c2`, `${C}:c3`])
  assert.equal(holders(state, 'c'), [`${D}:c4`], 'unrelated claims are not held up')
  const after = run([release(A, 'c1')], state).state
  assert.equal(holders(after, 'b'), [`${B}:c2`])
  assert.equal(queue(after, 'b'), [`${C}:c3`])
})

test('crossed multi-resource claims cannot deadlock: arrival order decides', () => {
  const { state } = run([
    claim(A, 'h1', { resources: ['x'] }),
    claim(B, 'h2', { resources: ['y'] }),
    claim(C, 'xy', { resources: ['x', 'y'] }),
    claim(D, 'yx', { resources: ['y', 'x'] }),
    release(A, 'h1'),
  ])
  assert.equal(holders(state, 'x'), [], 'C still waits for y')
  const granted = run([release(B, 'h2')], state).state
  assert.equal(holders(granted, 'x'), [`${C}:xy`])
  assert.equal(holders(granted, 'y'), [`${C}:xy`])
  assert.equal(queue(granted, 'x'), [`${D}:yx`])
  const last = run([release(C, 'xy')], granted).state
  assert.equal(holders(last, 'y'), [`${D}:yx`])
})

test('after a release every waiter that is now grantable is granted, in arrival order', () => {
  const { state, audit } = run([
    claim(A, 'x', { resources: ['r', 's'] }),
    claim(B, 's1', { resources: ['r'], mode: 'shared' }),
    claim(C, 'only-s', { resources: ['s'] }),
    claim(D, 's2', { resources: ['r'], mode: 'shared' }),
    release(A, 'x'),
  ])
  assert.equal(holders(state, 'r'), [`${B}:s1`, `${D}:s2`])
  assert.equal(holders(state, 's'), [`${C}:only-s`])
  assert.equal(
    audit.filter((a) => a.type === 'grant').map((a) => [a.key, a.token]),
    [
      [`${A}:x`, 1],
      [`${B}:s1`, 2],
      [`${C}:only-s`, 3],
      [`${D}:s2`, 4],
    ],
  )
})

test('waitMs 0 is a try-lock: timeout at once if not grantable, granted if free', () => {
  const { state, audit } = run([claim(A, 'c1', { resources: ['r'] }, 5), claim(B, 'try', { resources: ['r'], waitMs: 0 }, 7)])
  assert.equal(queue(state, 'r'), [])
  assert.equal(state.outcomes[`${B}:try`], { state: 'timeout', at: 7, reason: 'not available at once (waitMs 0)' })
  assert.is(audit.at(-1)!.type, 'timeout')
  assert.equal(deadlines(state), [])
  assert.equal(run([claim(C, 'try', { resources: ['q'], waitMs: 0 })]).state.outcomes[`${C}:try`]!.state, 'granted')
})

test('waitMs: timeout when still queued at queuedAt + waitMs, never earlier, and the queue moves on', () => {
  const { state } = run([
    claim(A, 'c1', { resources: ['r'] }, 0),
    claim(B, 'x', { resources: ['r', 'q'], waitMs: 100 }, 10),
    claim(C, 'q', { resources: ['q'] }, 20),
  ])
  assert.equal(deadlines(state), [{ at: 110, event: { type: 'wait-timeout', at: 110, key: `${B}:x` } }])
  refuse(state, { type: 'wait-timeout', at: 109, key: `${B}:x` }, /may wait until 110/)
  refuse(state, { type: 'wait-timeout', at: 500, key: `${A}:c1` }, /not waiting/)
  const result = reduce(state, { type: 'wait-timeout', at: 111, key: `${B}:x` })
  assert.ok(result.ok)
  if (!result.ok) return
  assert.equal(result.state.outcomes[`${B}:x`], { state: 'timeout', at: 111, reason: 'not granted within waitMs 100 ms' })
  assert.equal(holders(result.state, 'q'), [`${C}:q`], 'the waiter behind the timed-out claim is granted')
  assert.equal(result.changed.locks, ['q'])
  assert.equal(result.changed.queue.sort(), [`${B}:x`, `${C}:q`])
  assert.ok(result.state.claims[`${B}:x`], 'the claim key stays until its session deletes it')
})

test('ttlMs: expiresAt counts from the grant; expiry frees the lock with outcome expired', () => {
  const { state } = run([claim(A, 'c1', { resources: ['r'] }, 0), claim(B, 't', { resources: ['r'], ttlMs: 50 }, 10), release(A, 'c1', 30)])
  const holder = state.locks.r!.holders[0]!
  assert.equal([holder.grantedAt, holder.expiresAt], [30, 80])
  refuse(state, { type: 'ttl-expired', at: 79, key: `${B}:t` }, /until 80/)
  refuse(state, { type: 'ttl-expired', at: 90, key: `${A}:c1` }, /does not hold/)
  const after = run([claim(C, 'w', { resources: ['r'] }, 40), { type: 'ttl-expired', at: 80, key: `${B}:t` }], state).state
  assert.equal(after.outcomes[`${B}:t`], { state: 'expired', at: 80, token: 2, reason: 'held for its ttlMs 50 ms' })
  assert.equal(holders(after, 'r'), [`${C}:w`])
})

test('revoke: admins only; every holder loses all its resources with outcome revoked', () => {
  const { state } = run([
    claim(A, 's1', { resources: ['r', 'other'], mode: 'shared' }),
    claim(B, 's2', { resources: ['r'], mode: 'shared' }),
    claim(C, 'w', { resources: ['r'] }),
  ])
  refuse(state, { type: 'revoke', at: 5, resource: 'r', actor: 'ann', role: 'approver' }, /only admins force-release/)
  refuse(state, { type: 'revoke', at: 5, resource: 'nothing', actor: 'root', role: 'admin' }, /nobody holds "nothing"/)
  const { state: after, audit } = run([{ type: 'revoke', at: 5, resource: 'r', actor: 'root', role: 'admin', reason: 'stuck' }], state)
  assert.equal(after.outcomes[`${A}:s1`], { state: 'revoked', at: 5, token: 1, reason: 'revoked by root: stuck' })
  assert.is(after.outcomes[`${B}:s2`]!.state, 'revoked')
  assert.is(after.locks.other, undefined, 'the revoked claim lost every resource')
  assert.equal(holders(after, 'r'), [`${C}:w`])
  assert.equal(
    audit.map((a) => a.type),
    ['revoke', 'revoke', 'grant'],
  )
  assert.equal(audit[0]!.by, ['root'])
})

test('release: holders release, waiters cancel; only the owning session; unknown keys refused', () => {
  const { state } = run([claim(A, 'h', { resources: ['r'] }), claim(B, 'w', { resources: ['r'] })])
  refuse(state, release(A, 'nope'), /there is no claim/)
  refuse(state, { type: 'release', at: 0, key: `${B}:w`, session: A }, /belongs to another session/)
  const cancelled = run([release(B, 'w')], state)
  assert.equal(
    cancelled.audit.map((a) => a.type),
    ['cancel'],
  )
  assert.equal(queue(cancelled.state, 'r'), [])
  const released = run([release(A, 'h')], cancelled.state)
  assert.equal(
    released.audit.map((a) => [a.type, a.token]),
    [['release', 1]],
  )
  assert.is(released.state.locks.r, undefined, 'an empty lock is deleted')
  assert.is(released.state.outcomes[`${A}:h`], undefined, 'the outcome goes with its claim')
})

test('a claim key is never reused while its claim or outcome is kept, and belongs to its session', () => {
  const { state } = run([claim(A, 'c1', { resources: ['r'] }), claim(A, 'w0', { resources: ['r'], waitMs: 0 })])
  refuse(state, claim(A, 'c1', { resources: ['r'] }), /already used/)
  refuse(run([release(A, 'c1')], state).state, claim(A, 'w0', { resources: ['r'] }), /already used/)
  refuse(state, { ...claim(A, 'c2', { resources: ['r'] }), session: B }, /belongs to another session/)
  refuse(state, { ...claim(A, 'c2', { resources: ['r'] }), key: 'bad' }, /bad key/)
})

test('a malformed claim that got through is recorded with outcome invalid and can be deleted', () => {
  const { state, audit } = run([{ type: 'claim', at: 3, key: `${A}:bad`, session: A, actor: 'a', value: { resources: [], mode: 'exclusive' } }])
  assert.equal(state.outcomes[`${A}:bad`], { state: 'invalid', at: 3, reason: 'claim resources must be an array of 1-16 resource names' })
  assert.equal(
    audit.map((a) => a.type),
    ['invalid'],
  )
  assert.is(run([release(A, 'bad')], state).state.claims[`${A}:bad`], undefined)
})

test('session-ended: releases and cancels its claims, drops its claims and outcomes, serves the queue', () => {
  const { state } = run([
    claim(A, 'h', { resources: ['r'] }),
    claim(A, 'done', { resources: ['r'], waitMs: 0 }),
    claim(B, 'w', { resources: ['r'] }),
    claim(A, 'w2', { resources: ['r'] }),
    claim(C, 'c', { resources: ['z'] }),
  ])
  const result = reduce(state, { type: 'session-ended', at: 9, session: A })
  assert.ok(result.ok)
  if (!result.ok) return
  const { state: after, changed, audit } = result
  assert.equal(Object.keys(after.claims).sort(), [`${B}:w`, `${C}:c`])
  assert.equal(Object.keys(after.outcomes).sort(), [`${B}:w`, `${C}:c`])
  assert.equal(changed.claims.sort(), [`${A}:done`, `${A}:h`, `${A}:w2`])
  assert.ok(changed.outcomes.includes(`${A}:h`) && changed.outcomes.includes(`${A}:done`))
  assert.equal(holders(after, 'r'), [`${B}:w`])
  assert.equal(
    audit.map((a) => [a.type, a.reason]),
    [
      ['session-end', undefined],
      ['release', 'session ended'],
      ['cancel', 'session ended'],
      ['grant', undefined],
    ],
  )
})

test('deadlines: one per claim even across resources, earliest first', () => {
  const { state } = run([claim(A, 'h', { resources: ['a', 'b'], ttlMs: 300 }, 0), claim(B, 'w', { resources: ['a', 'b'], waitMs: 100 }, 50)])
  assert.equal(
    deadlines(state).map((d) => [d.at, d.event.type, d.event.key]),
    [
      [150, 'wait-timeout', `${B}:w`],
      [300, 'ttl-expired', `${A}:h`],
    ],
  )
})

test('reduce refuses nonsense events and never mutates its input', () => {
  const { state } = run([claim(A, 'h', { resources: ['r'] })])
  const frozen = JSON.stringify(state)
  refuse(state, { type: 'bogus', at: 1 } as unknown as CoordEvent, /unknown event type "bogus"/)
  refuse(state, { ...release(A, 'h'), at: Number.NaN }, /finite/)
  run([claim(B, 'w', { resources: ['r'] }), release(A, 'h'), { type: 'session-ended', at: 2, session: B }], state)
  assert.is(JSON.stringify(state), frozen)
})

test('advance writes in place, and a refused or throwing event leaves the state exactly as it was', () => {
  const { state } = run([claim(A, 'h', { resources: ['r', 's'] }), claim(B, 'w', { resources: ['r'] }), claim(C, 'x', { resources: ['s'] })])
  const plain = (): unknown => JSON.parse(JSON.stringify(state))
  const before = plain()
  const refused = advance(state, release(B, 'nothing'))
  assert.not.ok(refused.ok)
  assert.equal(plain(), before, 'a refusal changes nothing')
  // A's release first deletes its claim and then rewrites `locks`, which is frozen: the rule throws midway.
  const locks = state.locks
  state.locks = Object.freeze(copyState(state).locks)
  assert.throws(() => advance(state, release(A, 'h', 5)), /read[ -]only|not extensible|Cannot/)
  state.locks = locks
  assert.equal(plain(), before, 'the claim deleted before the throw is back')
  assert.equal(queue(state, 'r'), [`${B}:w`], 'the queue is restored')
  const accepted = advance(state, release(A, 'h', 6))
  assert.ok(accepted.ok && accepted.state === state, 'success returns the same state, now including the event')
  assert.equal(holders(state, 'r'), [`${B}:w`])
  assert.equal(holders(state, 's'), [`${C}:x`])
})

test('a handoff among 100 waiters writes one lock, one queue entry and two outcomes', () => {
  const sessions = Array.from({ length: 101 }, (_, i) => `s${String(i).padStart(3, '0')}-session-0000000`)
  const { state } = run(sessions.map((s, i) => claim(s, 'c', { resources: ['hot'] }, i)))
  assert.is(queue(state, 'hot').length, 100)
  const result = reduce(state, release(sessions[0]!, 'c', 200))
  assert.ok(result.ok)
  if (!result.ok) return
  assert.equal(result.changed, {
    claims: [],
    locks: ['hot'],
    queue: [`${sessions[1]}:c`],
    outcomes: [`${sessions[0]}:c`, `${sessions[1]}:c`],
    approvals: [],
    fence: true,
    seq: false,
  })
  assert.equal(holders(result.state, 'hot'), [`${sessions[1]}:c`])
  assert.equal(
    queue(result.state, 'hot'),
    sessions.slice(2).map((s) => `${s}:c`),
  )
})

test('a checkpoint of layout 1 (waiters inside locks) upgrades to queue entries in the same order, keeping holders and fence', () => {
  const waiter = (s: string, id: string, queuedAt: number) => ({
    claim: `${s}:${id}`,
    session: s,
    actor: s.split('-')[0]!,
    mode: 'exclusive' as const,
    queuedAt,
  })
  const { state: now } = run(
    [
      claim(A, 'h', { resources: ['x'] }),
      claim(B, 'xy', { resources: ['x', 'y'] }, 5),
      claim(C, 'y', { resources: ['y'] }, 5),
      claim(D, 'x', { resources: ['x'] }, 6),
    ],
    { ...emptyState(), fence: 41 },
  )
  const holder = now.locks.x!.holders[0]!
  const old = {
    claims: now.claims,
    // C arrived after B with the same queuedAt and a smaller key: only the old queues' order says so.
    locks: { x: { holders: [holder], queue: [waiter(B, 'xy', 5), waiter(D, 'x', 6)] }, y: { holders: [], queue: [waiter(B, 'xy', 5), waiter(C, 'y', 5)] } },
    outcomes: { ...now.outcomes, ...Object.fromEntries(Array.from({ length: 70 }, (_, i) => [`${B}:gone${i}`, { state: 'granted', at: i, token: i + 1 }])) },
    approvals: {},
    fence: 42,
  } as unknown as StoredState
  const state = stateFromJson(JSON.parse(JSON.stringify(old)))
  assert.equal(state.locks.x, { holders: [holder] })
  assert.is(state.locks.y, undefined, 'a lock without holders has no entry')
  assert.equal(queue(state, 'x'), [`${B}:xy`, `${D}:x`])
  assert.equal(queue(state, 'y'), [`${B}:xy`, `${C}:y`])
  assert.is(state.seq, 3)
  assert.is(state.fence, 42)
  assert.equal(state.queue[`${B}:xy`], { resources: ['x', 'y'], mode: 'exclusive', actor: 'b', session: B, seq: 1, queuedAt: 5 })
  const gone = Object.keys(state.outcomes).filter((key) => key.includes(':gone'))
  assert.is(gone.length, 64, 'outcomes of claims already gone: the 64 newest per session')
  assert.not.ok(gone.includes(`${B}:gone0`))
  // The upgraded state runs on: releasing the holder grants B (x and y), token 43; C still waits.
  const after = run([release(A, 'h', 10)], state).state
  assert.equal(holders(after, 'x'), [`${B}:xy`])
  assert.is(after.locks.x!.holders[0]!.token, 43)
  assert.equal(queue(after, 'y'), [`${C}:y`])
})

test('property: lock invariants hold for random interleavings of 60 sessions', () => {
  const weights = { claim: 10, release: 5, end: 1, fire: 4, early: 1, revoke: 1, request: 1, vote: 1, cancel: 1, forge: 2 }
  fc.assert(fc.property(actionsArb(weights, 300), simulate), { numRuns: 200 })
})

test.run()
