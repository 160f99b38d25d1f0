// checkWrite: who may write which key of the coordination document, and what values pass.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { checkWrite, LIMITS, Y_MAP, Y_TYPE, type WriteCheck, type Principal } from '../server/authority/rules/index.js'

const SESSION = 'sessionAAAAAAAAAAAA'
const OTHER = 'sessionBBBBBBBBBBBB'
const editor: Principal = { session: SESSION, actor: 'ed', kind: 'human', role: 'editor' }
const agent: Principal = { session: SESSION, actor: 'bot', kind: 'agent', role: 'admin' }
const approver: Principal = { session: SESSION, actor: 'ann', kind: 'human', role: 'approver' }
const viewer: Principal = { session: SESSION, actor: 'vi', kind: 'human', role: 'viewer' }
const claim = { resources: ['repo/main', 'db:prod'], mode: 'exclusive', waitMs: 1000, ttlMs: 5000, note: 'deploy' }
const request = { title: 'Deploy', action: 'deploy', requester: 'ed', approvers: ['approver'], quorum: 1, expiresAt: 10 }

function write(partial: Partial<WriteCheck>): string | null {
  return checkWrite({ type: 'claims', key: `${SESSION}:c1`, before: undefined, after: claim, writer: editor, ...partial })
}

function refused(partial: Partial<WriteCheck>, pattern: RegExp): void {
  const reason = write(partial)
  assert.ok(reason !== null, `expected a refusal matching ${pattern}`)
  assert.match(reason!, pattern)
}

test('unknown top-level types are refused', () => {
  refused({ type: 'secrets' }, /unknown top-level type "secrets".*claims, locks/)
})

test('server-only types are refused for every client, admins included', () => {
  for (const type of ['locks', 'outcomes', 'sessions', 'meta', 'activity']) {
    refused({ type, key: 'x', after: 1, writer: { ...editor, role: 'admin' } }, /written by the server only/)
  }
})

test('viewers write nothing', () => {
  refused({ writer: viewer }, /viewers cannot write/)
  refused({ writer: viewer, before: claim, after: undefined }, /viewers cannot write/)
})

test('a write that changes nothing is allowed', () => {
  assert.is(write({ after: undefined }), null)
})

test('claims: set once by the owning session, editors and above', () => {
  assert.is(write({}), null)
  assert.is(write({ writer: agent }), null)
  assert.is(write({ after: { resources: ['a'], mode: 'shared' } }), null)
  refused({ key: `${OTHER}:c1` }, /belongs to another session/)
  refused({ key: 'nocolon' }, /bad key/)
  refused({ key: `${SESSION}:has space` }, /bad id/)
  refused({ key: `${SESSION}:${'x'.repeat(LIMITS.id + 1)}` }, /bad id/)
  refused({ before: claim }, /set once/)
  refused({ subKey: 'mode' }, /not maps/)
})

test('claims: deleted only by the owning session', () => {
  assert.is(write({ before: claim, after: undefined }), null)
  refused({ key: `${OTHER}:c1`, before: claim, after: undefined }, /belongs to another session/)
})

test('claims: malformed values are refused with what to fix', () => {
  const cases: Array<[unknown, RegExp]> = [
    ['deploy', /claim must be a JSON object/],
    [null, /claim must be a JSON object/],
    [[], /claim must be a JSON object/],
    [Y_MAP, /claim must be a JSON object/],
    [{ ...claim, ttl: 5 }, /unknown claim field "ttl"/],
    [{ mode: 'shared' }, /resources must be an array of 1-16/],
    [{ ...claim, resources: [] }, /1-16/],
    [{ ...claim, resources: Array.from({ length: 17 }, (_, i) => `r${i}`) }, /1-16/],
    [{ ...claim, resources: ['ok', 'not ok'] }, /bad lock resource "not ok"/],
    [{ ...claim, resources: ['x'.repeat(201)] }, /bad lock resource/],
    [{ ...claim, resources: ['a', 'a'] }, /must not repeat/],
    [{ ...claim, mode: 'read' }, /mode must be "exclusive" or "shared", not "read"/],
    [{ ...claim, waitMs: -1 }, /waitMs must be a non-negative number/],
    [{ ...claim, waitMs: '5' }, /waitMs/],
    [{ ...claim, ttlMs: Number.NaN }, /ttlMs/],
    [{ ...claim, ttlMs: Number.POSITIVE_INFINITY }, /ttlMs/],
    [{ ...claim, note: 7 }, /note must be a string/],
    [{ ...claim, note: 'x'.repeat(LIMITS.note + 1) }, /note is 501 characters long; the limit is 500/],
  ]
  for (const [after, pattern] of cases) refused({ after }, pattern)
  assert.is(write({ after: { ...claim, resources: Array.from({ length: 16 }, (_, i) => `r${i}`), note: 'x'.repeat(LIMITS.note), waitMs: 0, ttlMs: 0 } }), null)
})

const approvals = (partial: Partial<WriteCheck>): Partial<WriteCheck> => ({ type: 'approvals', key: `${SESSION}:a1`, ...partial })

test('approvals: the Y.Map is created once by the owning session', () => {
  assert.is(write(approvals({ after: Y_MAP })), null)
  refused(approvals({ key: `${OTHER}:a1`, after: Y_MAP }), /belongs to another session/)
  refused(approvals({ after: { request } }), /must be a Y.Map/)
  refused(approvals({ after: Y_TYPE }), /must be a Y.Map/)
  refused(approvals({ before: Y_MAP, after: Y_MAP }), /cannot be replaced or deleted/)
  refused(approvals({ before: Y_MAP, after: undefined }), /cannot be replaced or deleted/)
  refused(approvals({ key: 'bad', after: Y_MAP }), /bad key/)
  refused(approvals({ key: 'bad', subKey: 'vote:ann', after: { decision: 'approve', at: 1 }, writer: approver }), /bad key/)
})

test('approvals: request written once by the creating session, for its own actor', () => {
  const req = (partial: Partial<WriteCheck>): Partial<WriteCheck> => approvals({ subKey: 'request', after: request, ...partial })
  assert.is(write(req({})), null)
  assert.is(write(req({ writer: { ...agent, actor: 'ed' } })), null)
  refused(req({ key: `${OTHER}:a1` }), /belongs to another session/)
  refused(req({ before: request }), /written once/)
  refused(req({ after: { ...request, requester: 'someone' } }), /requester must be you \(ed\), not "someone"/)
})

test('approvals: malformed requests are refused with what to fix', () => {
  const big = { blob: 'x'.repeat(LIMITS.details) }
  const cases: Array<[unknown, RegExp]> = [
    [42, /approval request must be a JSON object/],
    [{ ...request, by: 'me' }, /unknown approval request field "by"/],
    [{ ...request, title: '' }, /title must be a non-empty string/],
    [{ ...request, title: 'x'.repeat(LIMITS.title + 1) }, /title is 201 characters/],
    [{ ...request, action: undefined }, /action must be a non-empty string/],
    [{ ...request, details: big }, /details are 16395 characters of JSON; the limit is 16384/],
    [{ ...request, details: { n: 1n } }, /details must be a JSON value/],
    [{ ...request, requester: 'bad actor' }, /requester: bad actor id/],
    [{ ...request, approvers: [] }, /approvers must be an array of 1-32/],
    [{ ...request, approvers: Array.from({ length: 33 }, (_, i) => `a${i}`) }, /1-32/],
    [{ ...request, approvers: ['ann', 'bad actor'] }, /approvers: bad actor id/],
    [{ ...request, approvers: ['ann', 'ann'] }, /must not repeat/],
    [{ ...request, quorum: 0 }, /quorum must be a whole number from 1 to 32/],
    [{ ...request, quorum: 1.5 }, /quorum/],
    [{ ...request, quorum: 33 }, /quorum/],
    [{ ...request, approvers: ['ann', 'bob'], quorum: 3 }, /quorum 3 can never be reached by 2 listed approver/],
    [{ ...request, allowSelfApproval: 'yes' }, /allowSelfApproval must be true or false/],
    [{ ...request, expiresAt: 'soon' }, /expiresAt must be a time/],
  ]
  for (const [after, pattern] of cases) refused(approvals({ subKey: 'request', after }), pattern)
  assert.is(
    write(approvals({ subKey: 'request', after: { ...request, approvers: ['approver', 'ann'], quorum: 3 } })),
    null,
    'a role name can supply any quorum',
  )
})

test('approvals: vote:<actor> only by that human approver, once', () => {
  const vote = { decision: 'approve', reason: 'looks good', at: 5 }
  const cast = (partial: Partial<WriteCheck>): Partial<WriteCheck> =>
    approvals({ key: `${OTHER}:a1`, subKey: 'vote:ann', after: vote, writer: approver, ...partial })
  assert.is(write(cast({})), null)
  assert.is(write(cast({ subKey: 'vote:root', writer: { ...approver, actor: 'root', role: 'admin' } })), null)
  refused(cast({ subKey: 'vote:bob' }), /vote:bob can only be written by "bob"; you are ann/)
  refused(cast({ subKey: 'vote:bot', writer: agent }), /bot is an agent: only humans vote/)
  refused(cast({ subKey: 'vote:ed', writer: editor }), /ed has role editor: voting needs role approver or admin/)
  refused(cast({ before: vote, after: { ...vote, decision: 'reject' } }), /votes are final: ann already voted/)
  refused(cast({ before: vote, after: undefined }), /votes are final/)
  refused(cast({ after: { ...vote, decision: 'maybe' } }), /decision must be "approve" or "reject", not "maybe"/)
  refused(cast({ after: { decision: 'approve' } }), /vote at must be a time/)
  refused(cast({ after: { ...vote, reason: 'x'.repeat(LIMITS.reason + 1) } }), /reason is 1001 characters/)
  refused(cast({ after: { ...vote, weight: 2 } }), /unknown vote field "weight"/)
})

test('approvals: cancel once; status by the server only; no other fields', () => {
  const cancel = (partial: Partial<WriteCheck>): Partial<WriteCheck> => approvals({ key: `${OTHER}:a1`, subKey: 'cancel', after: { at: 3 }, ...partial })
  assert.is(write(cancel({})), null, 'whether the writer is the requester is for reduce to check')
  assert.is(write(cancel({ after: { at: 3, reason: 'not needed' } })), null)
  refused(cancel({ before: { at: 1 } }), /already cancelled/)
  refused(cancel({ after: { reason: 'x' } }), /cancel at must be a time/)
  refused(cancel({ after: 'now' }), /cancel must be a JSON object/)
  refused(approvals({ subKey: 'status', after: { state: 'approved', at: 1 }, writer: { ...approver, role: 'admin' } }), /status is written by the server only/)
  refused(approvals({ subKey: 'votes', after: {} }), /unknown approval field "votes"/)
})

test('refusal messages never throw on hostile values', () => {
  const hostile: unknown = Object.assign(Object.create(null), { toString: 5 })
  refused({ after: { ...claim, mode: hostile } }, /mode must be/)
  refused({ after: { ...claim, mode: Symbol('x') } }, /mode must be/)
  refused({ type: 'x'.repeat(500) }, /\.\.\."/)
  // The name checks quote the value too: lib0 decodes `{"__proto__": null}` into such an object,
  // which `String()` throws on, and a throw in the hook fails the whole workspace room.
  refused({ after: { ...claim, resources: [hostile] } }, /bad lock resource/)
  refused(approvals({ subKey: 'request', after: { ...request, requester: hostile } }), /requester: bad actor id/)
  refused(approvals({ subKey: 'request', after: { ...request, approvers: [hostile] } }), /approvers: bad actor id/)
})

test.run()
