// Approval rules: examples for each rule, then random interleavings of 60 sessions (rules-sim.ts).
import * as fc from 'fast-check'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { deadlines, emptyState, reduce, replay, type CoordEvent, type CoordState, type Principal } from '../server/authority/rules/index.js'
import type { ApprovalRequest } from '../shared/coordination.js'
import { actionsArb, simulate } from './rules-sim.js'

const S1 = 'requester-session-1'
const S2 = 'requester-session-2'
const KEY = `${S1}:a1`
const ann: Principal = { session: 'ann-session-000000', actor: 'ann', kind: 'human', role: 'approver' }
const bob: Principal = { session: 'bob-session-000000', actor: 'bob', kind: 'human', role: 'approver' }
const root: Principal = { session: 'root-session-00000', actor: 'root', kind: 'human', role: 'admin' }
const bot: Principal = { session: 'bot-session-000000', actor: 'bot', kind: 'agent', role: 'admin' }
const ed: Principal = { session: 'ed-session-0000000', actor: 'ed', kind: 'human', role: 'editor' }
const req: Principal = { session: S1, actor: 'req', kind: 'human', role: 'admin' }

type Event<T extends CoordEvent['type']> = Extract<CoordEvent, { type: T }>

function request(extra: Partial<ApprovalRequest> = {}, at = 0): Event<'request'> {
  return { type: 'request', at, key: KEY, session: S1, actor: 'req', request: { title: 'Deploy v2', action: 'deploy', requester: 'req', ...extra } }
}

const vote = (voter: Principal, decision: 'approve' | 'reject', at = 1, reason?: string): Event<'vote'> => ({
  type: 'vote',
  at,
  key: KEY,
  voter,
  vote: { decision, at, ...(reason ? { reason } : {}) },
})

const cancel = (actor: string, session: string, at = 1): Event<'cancel'> => ({
  type: 'cancel',
  at,
  key: KEY,
  session,
  actor,
  cancel: { at, reason: 'no longer needed' },
})

function run(events: CoordEvent[], from: CoordState = emptyState()): CoordState {
  return events.reduce((state, event) => {
    const result = reduce(state, event)
    if (!result.ok) throw new Error(`${event.type} refused: ${result.reason}`)
    return result.state
  }, from)
}

function refuse(state: CoordState, event: CoordEvent, pattern: RegExp): void {
  const result = reduce(state, event)
  assert.not.ok(result.ok, `${event.type} should be refused`)
  if (!result.ok) assert.match(result.reason, pattern)
}

const status = (state: CoordState): unknown => state.approvals[KEY]!.status

test('a request starts pending, and changed names its status for writing', () => {
  const result = reduce(emptyState(), request({ expiresAt: 100 }, 5))
  assert.ok(result.ok)
  if (!result.ok) return
  assert.equal(
    { ...result.state.approvals[KEY]!, votes: { ...result.state.approvals[KEY]!.votes } },
    {
      session: S1,
      request: { title: 'Deploy v2', action: 'deploy', requester: 'req', expiresAt: 100 },
      votes: {},
      status: { state: 'pending', at: 5 },
    },
  )
  assert.equal(result.changed, { claims: [], locks: [], queue: [], outcomes: [], approvals: [KEY], fence: false, seq: false })
  assert.equal(result.audit, [{ type: 'request', at: 5, key: KEY, session: S1, actor: 'req', title: 'Deploy v2', action: 'deploy' }])
  assert.equal(deadlines(result.state), [{ at: 100, event: { type: 'approval-expired', at: 100, key: KEY } }])
})

test('request refusals: another session, another requester, twice, malformed', () => {
  refuse(emptyState(), { ...request(), session: S2 }, /belongs to another session/)
  refuse(emptyState(), { ...request(), actor: 'mallory' }, /requester must be mallory/)
  refuse(run([request()]), request(), /already has a request/)
  refuse(emptyState(), request({ title: '' }), /title must be a non-empty string/)
})

test('a request whose expiresAt has passed is expired at once', () => {
  const state = run([request({ expiresAt: 10 }, 10)])
  assert.equal(status(state), { state: 'expired', at: 10, reason: 'expiresAt had already passed when it was requested' })
})

test('approved once quorum distinct eligible actors approve', () => {
  const one = run([request(), vote(ann, 'approve', 3)])
  assert.equal(status(one), { state: 'approved', at: 3, by: ['ann'] })
  const pending = run([request({ quorum: 2 }), vote(ann, 'approve')])
  assert.is(pending.approvals[KEY]!.status.state, 'pending')
  refuse(pending, vote({ ...ann, session: 'ann-other-session-0' }, 'approve'), /votes are final: ann already voted/)
  assert.equal(status(run([vote(root, 'approve', 4)], pending)), { state: 'approved', at: 4, by: ['ann', 'root'] })
})

test('rejected as soon as one eligible actor rejects, even after approvals', () => {
  const state = run([request({ quorum: 2 }), vote(ann, 'approve'), vote(bob, 'reject', 2, 'not on Friday')])
  assert.equal(status(state), { state: 'rejected', at: 2, by: ['bob'], reason: 'not on Friday' })
})

test('agents, editors and (by default) the requester never vote', () => {
  const state = run([request()])
  refuse(state, vote(bot, 'approve'), /bot is an agent: only humans vote/)
  refuse(state, vote(ed, 'approve'), /ed has role editor/)
  refuse(state, vote(req, 'approve'), /req requested this approval, which does not allow self-approval/)
  assert.equal(status(run([request({ allowSelfApproval: true }), vote(req, 'approve')])), { state: 'approved', at: 1, by: ['req'] })
})

test('approvers limits voters by actor id or by role name (a role includes the ones above it)', () => {
  const byId = run([request({ approvers: ['bob'] })])
  refuse(byId, vote(ann, 'approve'), /ann is not among the approvers \(bob\)/)
  assert.is(run([vote(bob, 'approve')], byId).approvals[KEY]!.status.state, 'approved')
  const admins = run([request({ approvers: ['admin'] })])
  refuse(admins, vote(ann, 'approve'), /not among the approvers/)
  assert.is(run([vote(root, 'approve')], admins).approvals[KEY]!.status.state, 'approved')
  assert.is(run([request({ approvers: ['approver'] }), vote(root, 'approve')]).approvals[KEY]!.status.state, 'approved')
})

test('eligibility is rechecked when deciding: a recorded vote that is not eligible does not count', () => {
  const state = run([request({ quorum: 2 })])
  // As if a vote had been recorded by a voter who no longer qualifies (say, restored state).
  const entry = state.approvals[KEY]!
  const tampered: CoordState = {
    ...state,
    approvals: { [KEY]: { ...entry, votes: { bot: { decision: 'approve', at: 1, session: bot.session, kind: 'agent', role: 'admin' } } } },
  }
  assert.is(run([vote(ann, 'approve')], tampered).approvals[KEY]!.status.state, 'pending')
  assert.equal(status(run([vote(ann, 'approve'), vote(bob, 'approve', 2)], tampered)), { state: 'approved', at: 2, by: ['ann', 'bob'] })
})

test('cancelled by any session of the requester, only while pending', () => {
  const state = run([request()])
  refuse(state, cancel('ann', ann.session), /only the requester req can cancel/)
  refuse(state, { ...cancel('req', S2), cancel: { reason: 'x' } }, /cancel at must be a time/)
  const cancelled = run([cancel('req', S2, 7)], state)
  assert.equal(status(cancelled), { state: 'cancelled', at: 7, by: ['req'], reason: 'no longer needed' })
  assert.equal(cancelled.approvals[KEY]!.cancel, { at: 7, reason: 'no longer needed' })
})

test('expired at expiresAt, never earlier; a timeout never approves', () => {
  const state = run([request({ quorum: 2, expiresAt: 50 }), vote(ann, 'approve', 10)])
  refuse(state, { type: 'approval-expired', at: 49, key: KEY }, /expires at 50, not yet/)
  refuse(state, vote(bob, 'approve', 50), /expired at 50/)
  refuse(state, cancel('req', S1, 60), /expired at 50/)
  const expired = run([{ type: 'approval-expired', at: 52, key: KEY }], state)
  assert.equal(status(expired), { state: 'expired', at: 52, reason: 'no decision before expiresAt' })
  refuse(run([request()]), { type: 'approval-expired', at: 52, key: KEY }, /has no expiresAt/)
  refuse(emptyState(), { type: 'approval-expired', at: 52, key: KEY }, /there is no approval/)
})

test('a final state never changes', () => {
  const approved = run([request({ expiresAt: 50 }), vote(ann, 'approve')])
  refuse(approved, vote(bob, 'reject'), /already approved/)
  refuse(approved, cancel('req', S1), /already approved/)
  refuse(approved, { type: 'approval-expired', at: 60, key: KEY }, /already approved/)
  const rejected = run([request(), vote(ann, 'reject')])
  refuse(rejected, vote(bob, 'approve'), /already rejected/)
  refuse(emptyState(), vote(ann, 'approve'), /there is no approval/)
  refuse(run([request()]), { ...vote(ann, 'approve'), vote: { decision: 'yes', at: 1 } }, /decision must be/)
})

test('an approval survives the end of its requester session; replay rebuilds it', () => {
  const events: CoordEvent[] = [request(), { type: 'session-ended', at: 2, session: S1 }, vote(ann, 'approve', 3)]
  const state = run(events)
  assert.is(state.approvals[KEY]!.status.state, 'approved')
  assert.equal(replay(events), state)
})

test('property: approval invariants hold for random interleavings of 60 sessions', () => {
  const weights = { claim: 3, release: 1, end: 1, fire: 3, early: 1, revoke: 1, request: 4, vote: 10, cancel: 2, forge: 3 }
  fc.assert(fc.property(actionsArb(weights, 250), simulate), { numRuns: 200 })
})

test.run()
