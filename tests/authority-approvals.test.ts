// Approvals end to end (docs/design.md §4): an agent requests, the server writes the status, only
// eligible humans vote, quorum/reject/expiry/cancel decide once and for all, and a decision reaches
// the requester's next session after the one that asked is gone.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import * as Y from 'yjs'
import { voteField } from '../shared/coordination.js'
import { cleanupClients, newSession, waitFor } from './helpers/clients.js'
import { fetchAudit, refusedWrites } from './helpers/coordination-api.js'
import { waitCaughtUp, waitConverged } from './helpers/coordination-compare.js'
import { approvalMap, cancelApproval, requestApproval, statusOf, vote, waitStatus } from './helpers/coordination-maps.js'
import { clientReady, type CoordPeer, joinCoord, ledger, runCoordClient, who } from './helpers/coordination-peers.js'
import { Watcher } from './helpers/watcher.js'
import { NO_RATE_LIMIT, type TestServer } from './helpers/server.js'
import { withServer } from './helpers/suite.js'

const GRACE_MS = 1500
let server: TestServer
withServer(test, (started) => void (server = started), { args: [...NO_RATE_LIMIT, '--lease-grace', `${GRACE_MS}ms`] })

test.after.each(() => {
  cleanupClients()
})

async function refusalsOf(ws: string, peer: CoordPeer): Promise<string[]> {
  return refusedWrites(await fetchAudit(server, ws, peer.who.token), peer.session).map((entry) => entry.data!.reason!)
}

/**
 * Waits until each peer has the approval in `state`. A peer acts only on what it has seen: the
 * watcher seeing a status says nothing about another peer's socket, whose copy of the same
 * broadcast may still be unread (a vote on a map it lacks throws; a vote concurrent with an
 * earlier vote of its actor may be hidden by Yjs and never refused).
 */
async function allSee(peers: CoordPeer[], key: string, state: string): Promise<void> {
  await Promise.all(peers.map((peer) => waitStatus(peer, key, state)))
}

/** Writes a vote that must be refused and waits until the server's correction is back. */
async function refusedVote(ws: string, watcher: Watcher, peer: CoordPeer, key: string, decision: 'approve' | 'reject', reason: RegExp): Promise<void> {
  await waitConverged(peer, watcher.peer)
  const before = (await refusalsOf(ws, peer)).length
  const stored = approvalMap(watcher.doc, key).get(`vote:${peer.who.actor}`)
  vote(peer, key, decision)
  await waitConverged(peer, watcher.peer)
  const reasons = await refusalsOf(ws, peer)
  assert.is(reasons.length, before + 1, `the vote of ${peer.who.actor} was not refused`)
  assert.match(reasons[reasons.length - 1]!, reason)
  assert.equal(approvalMap(watcher.doc, key).get(`vote:${peer.who.actor}`), stored, 'a refused vote must leave what was stored')
}

test('an agent requests, its vote is refused, a human approver approves', async () => {
  const ws = 'appr-basic'
  const watcher = await Watcher.start(server, ws)
  const agent = await joinCoord(server, ws, await who('build-bot', 'admin', 'agent'))
  const human = await joinCoord(server, ws, await who('alice', 'approver'))
  const key = requestApproval(agent, 'deploy', { title: 'Deploy v2', action: 'deploy production', details: { version: 2 } })
  const pending = await waitStatus(watcher.peer, key, 'pending')
  assert.equal(Object.keys(pending).sort(), ['at', 'state'])
  await allSee([agent, human], key, 'pending')
  // The agent (even with role admin) may not vote, not even on its own request.
  await refusedVote(ws, watcher, agent, key, 'approve', /agent/)
  assert.is(statusOf(watcher.doc, key)!.state, 'pending')
  vote(human, key, 'approve', 'looks good')
  const approved = await waitStatus(agent, key, 'approved')
  assert.equal(approved.by, ['alice'])
  await waitStatus(watcher.peer, key, 'approved')
  const audit = await fetchAudit(server, ws, human.who.token)
  const types = audit.filter((entry) => entry.data?.key === key).map((entry) => entry.type)
  assert.equal(
    types.filter((type) => type !== 'refused'),
    ['request', 'vote', 'decision'],
  )
  assert.equal(watcher.statusHistory.get(key), ['pending', 'approved'])
  watcher.assertClean()
})

test('quorum 2 needs two distinct approvers; a second vote by the same one is refused', async () => {
  const ws = 'appr-quorum'
  const watcher = await Watcher.start(server, ws)
  const agent = await joinCoord(server, ws, await who('q-bot', 'editor', 'agent'))
  const first = await joinCoord(server, ws, await who('q-ann', 'approver'))
  const firstAgain = await joinCoord(server, ws, await who('q-ann', 'approver')) // another session, same actor
  const second = await joinCoord(server, ws, await who('q-ben', 'admin'))
  const editor = await joinCoord(server, ws, await who('q-ed', 'editor'))
  const key = requestApproval(agent, 'q', { title: 'Drop table', action: 'drop users_old', quorum: 2 })
  await allSee([watcher.peer, first, firstAgain, second, editor], key, 'pending')
  vote(first, key, 'approve')
  await waitFor(() => approvalMap(watcher.doc, key).get('vote:q-ann'), 5000, 'the first vote never arrived')
  assert.is(statusOf(watcher.doc, key)!.state, 'pending', 'one approval is not a quorum of 2')
  await refusedVote(ws, watcher, firstAgain, key, 'approve', /votes are final/)
  await refusedVote(ws, watcher, editor, key, 'approve', /role editor/)
  assert.is(statusOf(watcher.doc, key)!.state, 'pending')
  vote(second, key, 'approve')
  const approved = await waitStatus(watcher.peer, key, 'approved')
  assert.equal(approved.by, ['q-ann', 'q-ben'])
  watcher.assertClean()
})

test('one eligible rejection rejects; an ineligible one (not among the approvers) is refused', async () => {
  const ws = 'appr-reject'
  const watcher = await Watcher.start(server, ws)
  const agent = await joinCoord(server, ws, await who('r-bot', 'editor', 'agent'))
  const outsider = await joinCoord(server, ws, await who('r-out', 'approver'))
  const listed = await joinCoord(server, ws, await who('r-listed', 'approver'))
  const admin = await joinCoord(server, ws, await who('r-admin', 'admin'))
  const key = requestApproval(agent, 'r', { title: 'Rotate keys', action: 'rotate', approvers: ['r-listed', 'admin'], quorum: 3 })
  await allSee([watcher.peer, outsider, listed, admin], key, 'pending')
  await refusedVote(ws, watcher, outsider, key, 'reject', /not among the approvers/)
  assert.is(statusOf(watcher.doc, key)!.state, 'pending')
  vote(listed, key, 'approve')
  await waitFor(() => approvalMap(watcher.doc, key).get('vote:r-listed'), 5000, 'the approval vote never arrived')
  vote(admin, key, 'reject', 'not today')
  const rejected = await waitStatus(agent, key, 'rejected')
  assert.equal(rejected.by, ['r-admin'])
  assert.is(rejected.reason, 'not today')
  watcher.assertClean()
})

test('expiresAt expires a pending approval; later votes are refused', async () => {
  const ws = 'appr-expire'
  const watcher = await Watcher.start(server, ws)
  const agent = await joinCoord(server, ws, await who('e-bot', 'editor', 'agent'))
  const human = await joinCoord(server, ws, await who('e-ann', 'approver'))
  const expiresAt = Date.now() + 2000
  const key = requestApproval(agent, 'e', { title: 'Maybe', action: 'later', expiresAt })
  await waitStatus(watcher.peer, key, 'pending')
  const expired = await waitStatus(agent, key, 'expired')
  assert.ok(expired.at >= expiresAt, 'expired before expiresAt')
  await refusedVote(ws, watcher, human, key, 'approve', /expired/)
  assert.is(statusOf(watcher.doc, key)!.state, 'expired')
  assert.equal(watcher.statusHistory.get(key), ['pending', 'expired'])
  watcher.assertClean()
})

test('the requester cancels (another actor may not); final states never change', async () => {
  const ws = 'appr-cancel'
  const watcher = await Watcher.start(server, ws)
  const agent = await joinCoord(server, ws, await who('c-bot', 'editor', 'agent'))
  const other = await joinCoord(server, ws, await who('c-eve', 'editor'))
  const human = await joinCoord(server, ws, await who('c-ann', 'approver'))
  const human2 = await joinCoord(server, ws, await who('c-bob', 'approver'))
  const key = requestApproval(agent, 'c', { title: 'Cancel me', action: 'nothing' })
  await allSee([watcher.peer, other, human], key, 'pending')
  const before = (await refusalsOf(ws, other)).length
  cancelApproval(other, key)
  await waitConverged(other, watcher.peer)
  assert.is((await refusalsOf(ws, other)).length, before + 1)
  assert.match((await refusalsOf(ws, other)).pop()!, /only the requester/)
  assert.is(statusOf(watcher.doc, key)!.state, 'pending')
  // The agent writes the same key as the refused cancel: without that (deleted) item its write is
  // concurrent with it and, if Yjs orders it first, hidden (never reaching the authority). Equal
  // JSON cannot tell, the item's clock can.
  await waitCaughtUp(agent, other)
  cancelApproval(agent, key, 'no longer needed')
  const cancelled = await waitStatus(watcher.peer, key, 'cancelled')
  assert.equal(cancelled.by, ['c-bot'])
  await refusedVote(ws, watcher, human, key, 'approve', /already cancelled/)

  // An approved request stays approved: later rejections, cancels and votes are refused.
  const key2 = requestApproval(agent, 'c2', { title: 'Keep me', action: 'something' })
  await allSee([watcher.peer, human, human2], key2, 'pending')
  vote(human, key2, 'approve')
  const approved = await waitStatus(watcher.peer, key2, 'approved')
  await refusedVote(ws, watcher, human2, key2, 'reject', /already approved/)
  const refusedBefore = (await refusalsOf(ws, agent)).length
  cancelApproval(agent, key2)
  await waitConverged(agent, watcher.peer)
  assert.is((await refusalsOf(ws, agent)).length, refusedBefore + 1)
  assert.equal(statusOf(watcher.doc, key2), approved)
  assert.equal(watcher.statusHistory.get(key2), ['pending', 'approved'])
  watcher.assertClean()
})

test('a vote that crosses a refused forgery of the same key is refused with a reason, not lost; cast again, it counts', async () => {
  const ws = 'appr-crossed'
  const watcher = await Watcher.start(server, ws)
  const agent = await joinCoord(server, ws, await who('x-bot', 'editor', 'agent'))
  // Concurrent writes of one map key are ordered by client id, the larger last: the forger's
  // refused write must sort after the approver's for the approver's to be the one hidden.
  const aliceDoc = new Y.Doc()
  aliceDoc.clientID = 1000
  const forgerDoc = new Y.Doc()
  forgerDoc.clientID = 4_000_000_000
  const alice = await joinCoord(server, ws, await who('x-alice', 'approver'), { doc: aliceDoc })
  const forger = await joinCoord(server, ws, await who('x-mallory', 'editor'), { doc: forgerDoc })
  const key = requestApproval(agent, 'x', { title: 'Crossed', action: 'cross' })
  await allSee([watcher.peer, alice, forger], key, 'pending')
  // Alice goes offline, the forger writes her vote (refused and deleted by the server), and Alice,
  // who never received the forgery, votes: her vote and the forged one cross.
  alice.provider.disconnect()
  const forgeriesBefore = (await refusalsOf(ws, forger)).length
  approvalMap(forger.doc, key).set(voteField('x-alice'), { decision: 'reject', at: Date.now() })
  await waitFor(async () => (await refusalsOf(ws, forger)).length > forgeriesBefore, 10_000, 'the forged vote was never refused')
  vote(alice, key, 'approve')
  alice.provider.connect()
  await waitFor(
    async () => (await refusalsOf(ws, alice)).find((reason) => /crossed another write of the same key/.test(reason)),
    10_000,
    "Alice's hidden vote was never refused: it vanished without a word",
  )
  await waitConverged(alice, watcher.peer)
  assert.is(statusOf(watcher.doc, key)!.state, 'pending')
  // Written again, on top of what she now has, it counts.
  vote(alice, key, 'approve')
  const approved = await waitStatus(watcher.peer, key, 'approved')
  assert.equal(approved.by, ['x-alice'])
  watcher.assertClean()
})

test("an approval outlives the requester's crashed session; its next session sees the decision", async () => {
  const ws = 'appr-crash'
  const watcher = await Watcher.start(server, ws)
  const agentWho = await who('crash-bot', 'editor', 'agent')
  const session = newSession()
  const key = `${session}:deploy`
  const request = { title: 'Deploy', action: 'deploy after crash', requester: 'crash-bot' }
  ledger.requests.set(key, request)
  const child = runCoordClient(server, ws, agentWho, session, { REQUEST_ID: 'deploy', REQUEST: JSON.stringify(request) })
  await clientReady(child, session, agentWho.actor)
  await child.line(/^status \{"state":"pending"/)
  await child.kill9()
  const sessions = watcher.doc.getMap<{ online: boolean }>('sessions')
  await waitFor(() => sessions.get(session)?.online === false, 5000, 'the server never saw the requester go')
  const human = await joinCoord(server, ws, await who('crash-ann', 'approver'))
  vote(human, key, 'approve')
  await waitStatus(watcher.peer, key, 'approved')
  // The old session's grace period ends; the approval stays.
  await waitFor(() => !sessions.has(session), GRACE_MS + 5000, 'the crashed session never ended')
  const audit = await fetchAudit(server, ws, human.who.token)
  assert.ok(audit.some((entry) => entry.type === 'session-end' && entry.session === session))
  const next = await joinCoord(server, ws, agentWho)
  assert.is.not(next.session, session)
  const status = statusOf(next.doc, key)
  assert.is(status?.state, 'approved', `the new session sees ${JSON.stringify(status)}`)
  assert.equal(status?.by, ['crash-ann'])
  assert.equal(approvalMap(next.doc, key).get('request'), request)
  watcher.assertClean()
})

test.run()
