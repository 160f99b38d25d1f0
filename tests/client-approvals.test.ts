// The client library's approvals against a real server: request then decided(), votes, rejects,
// cancels, events for new requests and decisions, listing, checks made before sending (agents,
// self-approval, finished approvals, bad values), and a write the server refuses explained.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { type ApprovalInfo, type Huddle, HuddleError } from '../client-lib/node.js'
import { rejectionOf, waitFor } from './helpers/clients.js'
import type { TestServer } from './helpers/server.js'
import { libraryClients, withServer } from './helpers/suite.js'
import type { Kind, Role } from '../shared/roles.js'

const WS = 'approvals'
let server: TestServer
const connectAs = libraryClients(test, WS, () => server)
withServer(test, (started) => (server = started))

function client(actor: string, role: Role, kind: Kind = 'human'): Promise<Huddle> {
  return connectAs(actor, role, { kind })
}

test('request, then decided(): approved once the quorum of humans approves; events on the approver side', async () => {
  const [agent, bob, carol] = await Promise.all([client('ci-bot', 'editor', 'agent'), client('bob', 'approver'), client('carol', 'admin')])
  const seen: ApprovalInfo[] = []
  const decisions: ApprovalInfo[] = []
  bob.approvals.on('request', (info) => seen.push(info))
  bob.approvals.on('decision', (info) => decisions.push(info))
  const handle = await agent.approvals.request({ title: 'Deploy v2', action: 'deploy', details: { pr: 42 }, quorum: 2, expiresInMs: 60_000 })
  assert.is(handle.info.status.state, 'pending')
  assert.is(handle.info.request.requester, 'ci-bot')
  assert.is(handle.info.needed, 2)
  const progress: number[] = []
  const decided = handle.decided({ onChange: (info) => progress.push(info.needed) })
  await waitFor(() => seen.length === 1, 3000, 'bob hears of the request')
  assert.is(seen[0]!.id, handle.id)

  const afterBob = await bob.approvals.vote(handle.id, 'approve', 'looks fine')
  assert.is(afterBob.status.state, 'pending')
  assert.is(afterBob.needed, 1)
  const afterCarol = await carol.approvals.vote(handle.key, 'approve')
  assert.is(afterCarol.status.state, 'approved')
  const final = await decided
  assert.is(final.status.state, 'approved')
  assert.equal(final.status.by, ['bob', 'carol'])
  assert.equal(
    final.votes.map((v) => [v.actor, v.decision, v.reason]),
    [
      ['bob', 'approve', 'looks fine'],
      ['carol', 'approve', undefined],
    ],
  )
  assert.ok(progress.includes(1), 'onChange saw the first vote counted')
  await waitFor(() => decisions.length === 1, 3000, 'bob hears of the decision')
  assert.is(decisions[0]!.status.state, 'approved')
})

test('one rejection decides; the reason reaches the requester', async () => {
  const [agent, bob] = await Promise.all([client('ci-bot', 'editor', 'agent'), client('bob', 'approver')])
  const handle = await agent.approvals.request({ title: 'Drop table', action: 'sql' })
  await bob.approvals.vote(handle.id, 'reject', 'not on a Friday')
  const final = await handle.decided()
  assert.is(final.status.state, 'rejected')
  assert.equal(final.status.by, ['bob'])
  assert.is(final.status.reason, 'not on a Friday')
})

test('cancel by the requester; expiry; list by state', async () => {
  const [agent, bob] = await Promise.all([client('ci-bot', 'editor', 'agent'), client('bob', 'approver')])
  const handle = await agent.approvals.request({ title: 'Rotate keys', action: 'rotate' })
  const notMine = await rejectionOf(HuddleError, bob.approvals.cancel(handle.id))
  assert.is(notMine.code, 'forbidden')
  assert.match(notMine.message, /only the requester ci-bot can cancel it/)
  const cancelled = await handle.cancel('no longer needed')
  assert.is(cancelled.status.state, 'cancelled')
  assert.is(cancelled.status.reason, 'no longer needed')
  assert.is((await handle.decided()).status.state, 'cancelled')

  const brief = await agent.approvals.request({ title: 'Quick one', action: 'x', expiresInMs: 200 })
  assert.is((await brief.decided()).status.state, 'expired')
  const late = await rejectionOf(HuddleError, bob.approvals.vote(brief.id, 'approve'))
  assert.match(late.message, /cannot vote on \w+ \("Quick one"\): it (is already expired|has expired)/)

  const pending = await agent.approvals.request({ title: 'Still open', action: 'x' })
  await waitFor(() => bob.approvals.get(pending.key), 3000, 'bob has the new request')
  const listed = bob.approvals.list({ state: 'pending' })
  assert.ok(listed.some((info) => info.key === pending.key))
  assert.ok(listed.every((info) => info.status.state === 'pending'))
  assert.ok(bob.approvals.list({ state: 'cancelled' }).some((info) => info.key === handle.key))
})

test('votes that would be refused are reported before sending', async () => {
  const [agent, bob, viewer] = await Promise.all([client('ci-bot', 'editor', 'agent'), client('bob', 'approver'), client('vic', 'viewer')])
  const handle = await agent.approvals.request({ title: 'Only carol', action: 'x', approvers: ['carol'] })
  const cases: Array<[Huddle, RegExp]> = [
    [agent, /ci-bot is an agent: only humans vote/],
    [bob, /bob is not among the approvers \(carol\)/],
    [viewer, /vic has role viewer: voting needs role approver or admin/],
  ]
  for (const [voter, message] of cases) {
    const error = await rejectionOf(HuddleError, voter.approvals.vote(handle.id, 'approve'))
    assert.is(error.code, 'forbidden')
    assert.match(error.message, message)
  }
  const own = await bob.approvals.request({ title: 'Mine', action: 'x' })
  assert.match((await rejectionOf(HuddleError, bob.approvals.vote(own.id, 'approve'))).message, /requested this approval, which does not allow self-approval/)
  const missing = await rejectionOf(HuddleError, bob.approvals.vote('nope', 'approve'))
  assert.is(missing.code, 'not-found')
  assert.match(missing.message, /huddle approvals/)
})

test('bad requests are refused before sending, with what to fix', async () => {
  const agent = await client('ci-bot', 'editor', 'agent')
  const cases: Array<[Parameters<Huddle['approvals']['request']>[0], RegExp]> = [
    [{ title: '', action: 'x' }, /title must be a non-empty string/],
    [{ title: 't'.repeat(201), action: 'x' }, /title is 201 characters long; the limit is 200/],
    [{ title: 't', action: 'x', quorum: 3, approvers: ['bob', 'carol'] }, /quorum 3 can never be reached by 2 listed approver/],
    [{ title: 't', action: 'x', quorum: 0 }, /quorum must be a whole number from 1 to 32/],
    [{ title: 't', action: 'x', approvers: ['has space'] }, /approvers: bad actor id/],
    [{ title: 't', action: 'x', details: 'x'.repeat(17_000) }, /details are \d+ characters of JSON; the limit is 16384/],
    [{ title: 't', action: 'x', expiresInMs: -5 }, /expiresInMs must be a positive number/],
  ]
  for (const [request, message] of cases) {
    const error = await rejectionOf(HuddleError, agent.approvals.request(request))
    assert.is(error.code, 'invalid-argument')
    assert.match(error.message, message)
  }
  const viewer = await client('vic', 'viewer')
  assert.is((await rejectionOf(HuddleError, viewer.approvals.request({ title: 't', action: 'x' }))).code, 'forbidden')
})

test('a vote the server refuses is undone and rejected with the server reason', async () => {
  const agent = await client('ci-bot', 'editor', 'agent')
  // Two sessions of the same actor vote at once: each passes the local checks, the server counts one.
  const [bobA, bobB] = await Promise.all([client('bob', 'approver'), client('bob', 'approver')])
  const fresh = await agent.approvals.request({ title: 'Race', action: 'x', quorum: 2 })
  await waitFor(() => bobA.approvals.get(fresh.id) && bobB.approvals.get(fresh.id), 3000, 'both sessions have the request')
  const results = await Promise.allSettled([bobA.approvals.vote(fresh.id, 'approve'), bobB.approvals.vote(fresh.id, 'reject', 'no')])
  const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected')
  assert.is(refused.length, 1, JSON.stringify(results))
  assert.is(refused[0]!.reason.code, 'refused')
  assert.match(refused[0]!.reason.message, /votes are final: bob already voted/)
  await waitFor(() => Object.keys(bobA.approvals.get(fresh.id)!.votes).length === 1, 5000, 'the refused vote is undone everywhere')
  // The requester's socket carries its own copy of the counted vote, which may still be unread.
  await waitFor(
    () => fresh.info.votes.length === 1,
    5000,
    () => `the requester sees ${fresh.info.votes.length} votes, not 1`,
  )
})

test.run()
