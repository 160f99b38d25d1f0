// Names that are also properties of Object.prototype (issue 12): `__proto__`, `constructor`,
// `toString` and `hasOwnProperty` pass the name patterns, so they must work like any other name as
// resource, approval id, actor id, session id, vote key and document path: claims granted, queued
// and released in order, votes counted, no refusal and no exception.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import * as Y from 'yjs'
import { connectPeer, waitFor } from './helpers/clients.js'
import { fetchAudit, getState, refusedWrites } from './helpers/coordination-api.js'
import { claim, holdersOf, locksOf, outcomesOf, release, requestApproval, vote, waitOutcome, waitStatus } from './helpers/coordination-maps.js'
import { joinCoord, who } from './helpers/coordination-peers.js'
import { Watcher } from './helpers/watcher.js'
import type { TestServer } from './helpers/server.js'
import { withServer } from './helpers/suite.js'

const NAMES = ['__proto__', 'constructor', 'toString', 'hasOwnProperty']
// Session ids need 16-64 characters: these are Object.prototype members of that length.
const SESSIONS = ['__defineGetter__', '__lookupGetter__', 'propertyIsEnumerable', '__defineSetter__']

let server: TestServer
withServer(test, (started) => (server = started), { args: ['--rate', '100000', '--burst', '100000'] })

test('prototype names as resources, actors and sessions: granted, queued, handed over and released', async () => {
  const ws = 'proto-locks'
  const watcher = await Watcher.start(server, ws)
  const first = await joinCoord(server, ws, await who('toString', 'editor', 'agent'), { session: SESSIONS[0]! })
  const second = await joinCoord(server, ws, await who('__proto__', 'editor', 'agent'), { session: SESSIONS[2]! })
  const held = claim(first, 'hasOwnProperty', { resources: NAMES, mode: 'exclusive' })
  const granted = await waitOutcome(first, held, ['granted'])
  const state = await getState(server, ws, first.who.token)
  assert.equal(Object.keys(state.locks).sort(), [...NAMES].sort(), 'the API lists every held lock, __proto__ included')
  const waiting = claim(second, 'constructor', { resources: NAMES, mode: 'exclusive' })
  await waitFor(() => watcher.waiters.has(waiting), 8000, 'the second claim was never queued')
  assert.is(outcomesOf(second.doc).get(waiting), undefined, 'the second claim must wait')
  release(first, held)
  const handed = await waitOutcome(second, waiting, ['granted'])
  assert.ok(handed.token! > granted.token!, 'the handoff takes a new fencing token')
  // The waiter is answered first (hooks.ts answerFirst): the watcher may see the handoff later.
  await waitOutcome(watcher.peer, waiting, ['granted'])
  for (const name of NAMES) assert.equal(holdersOf(watcher.doc, name), [waiting], `${name} is held by the second claim`)
  release(second, waiting)
  await waitFor(
    () => locksOf(watcher.doc).size === 0,
    8000,
    () => `locks left: ${JSON.stringify([...locksOf(watcher.doc).keys()])}`,
  )
  const audit = await fetchAudit(server, ws, first.who.token)
  assert.equal(refusedWrites(audit), [], 'nothing was refused')
  assert.equal(
    audit.filter((entry) => entry.type === 'grant').map((entry) => entry.data?.key),
    [held, waiting],
  )
  watcher.assertClean()
})

test('prototype names as approval ids, actors and vote keys: votes are counted', async () => {
  const ws = 'proto-approvals'
  const watcher = await Watcher.start(server, ws)
  const requester = await joinCoord(server, ws, await who('hasOwnProperty', 'editor', 'agent'), { session: SESSIONS[1]! })
  const voters = [
    await joinCoord(server, ws, await who('toString', 'approver'), { session: SESSIONS[3]! }),
    await joinCoord(server, ws, await who('__proto__', 'approver')),
    await joinCoord(server, ws, await who('constructor', 'approver')),
  ]
  const keys = NAMES.map((id) =>
    requestApproval(requester, id, { title: `deploy ${id}`, action: 'deploy', approvers: voters.map((v) => v.who.actor), quorum: 3 }),
  )
  // every voter must have received every approval before it can vote on it
  for (const key of keys) for (const peer of [watcher.peer, ...voters]) await waitStatus(peer, key, 'pending')
  for (const key of keys) for (const voter of voters) vote(voter, key, 'approve')
  for (const key of keys) {
    const status = await waitStatus(watcher.peer, key, 'approved')
    assert.equal([...status.by!].sort(), ['__proto__', 'constructor', 'toString'])
  }
  const audit = await fetchAudit(server, ws, requester.who.token)
  assert.equal(refusedWrites(audit), [], 'nothing was refused')
  assert.is(audit.filter((entry) => entry.type === 'vote').length, keys.length * voters.length)
  watcher.assertClean()
})

test('prototype names as document paths: written, synced and read back', async () => {
  const ws = 'proto-docs'
  const { token } = await who('writer', 'editor')
  for (const path of [...NAMES, 'constructor/toString']) {
    const writer = await connectPeer(server, `${ws}/${path}`, { token })
    writer.doc.getText('text').insert(0, `hello ${path}`)
    const reader = await connectPeer(server, `${ws}/${path}`, { token, doc: new Y.Doc() })
    await waitFor(
      () => reader.doc.getText('text').toString() === `hello ${path}`,
      8000,
      () => `${path}: the reader has ${JSON.stringify(reader.doc.getText('text').toString())}`,
    )
  }
})

test.run()
