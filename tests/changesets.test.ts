// Change sets against a real server (docs/agents.md): propose and apply without an approval, with
// one (a human approves through the ordinary approval path and stock clients of both documents see
// the change), rejection, cancel, revert, a guarded document held by someone else, documents
// that moved since the proposal, and the limits and refusals.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import * as Y from 'yjs'
import { type Huddle, HuddleError } from '../client-lib/node.js'
import { connectPeer, mintToken, rejectionOf, waitFor } from './helpers/clients.js'
import type { TestServer } from './helpers/server.js'
import { libraryClients, withServer } from './helpers/suite.js'

const WS = 'changes'
let server: TestServer
let agent: Huddle
let bob: Huddle
const connectAs = libraryClients(test, WS, () => server)
withServer(test, (started) => (server = started))

test.before(async () => {
  agent = await connectAs('claude', 'editor', { kind: 'agent' })
  bob = await connectAs('bob', 'approver')
})

async function post(path: string, body: unknown, role: 'viewer' | 'editor' = 'editor'): Promise<{ status: number; json: { error?: string } }> {
  const token = await mintToken(`poster-${role}`, role, WS)
  const response = await fetch(`${server.httpUrl}/api/workspaces/${WS}/changesets${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  })
  return { status: response.status, json: (await response.json()) as { error?: string } }
}

async function auditTypes(changeset: string): Promise<string[]> {
  const entries = await agent.api.audit({ limit: 1000 })
  return entries.filter((entry) => (entry.data as { changeset?: string } | undefined)?.changeset === changeset).map((entry) => entry.type)
}

test('without an approval: proposed as pending with a patch per document, applied on request', async () => {
  await agent.docs.write('one.md', 'alpha\nbeta\n')
  await agent.docs.write('two.md', 'gamma\n')
  const watcher = await connectPeer(server, `${WS}/one.md`, { token: await mintToken('ann', 'viewer', WS) })
  const proposed = await agent.changesets.propose({ title: 'Rename beta', docs: { 'one.md': 'alpha\nBETA\n', 'two.md': 'gamma\nBETA too\n' } })
  assert.is(proposed.status, 'pending')
  const pending = await agent.changesets.get(proposed.id)
  assert.match(pending.docs['one.md']!.patch!, /-beta\n\+BETA/)
  assert.match(pending.docs['two.md']!.patch!, /\+BETA too/)
  assert.is(await agent.docs.read('one.md'), 'alpha\nbeta\n', 'nothing changes before the apply')
  const applied = await agent.changesets.apply(proposed.id)
  assert.is(applied.status, 'applied')
  assert.is(applied.moved, undefined)
  assert.is(await agent.docs.read('one.md'), 'alpha\nBETA\n')
  assert.is(await agent.docs.read('two.md'), 'gamma\nBETA too\n')
  await waitFor(() => watcher.doc.getText('body').toString() === 'alpha\nBETA\n', 5000, 'a stock client never saw the change')
  assert.equal(await auditTypes(proposed.id), ['changeset.proposed', 'changeset.applied'])
  const versions = await agent.docs.history('one.md')
  assert.ok(
    versions.some((version) => version.reason === 'before-changeset'),
    'a version is taken before the apply',
  )
  const again = await rejectionOf(HuddleError, agent.changesets.apply(proposed.id))
  assert.match(again.message, /already applied; propose a new one/)
  assert.ok((await agent.changesets.list()).some((info) => info.id === proposed.id && info.status === 'applied'))
  watcher.destroy()
})

test('with an approval: a human approves through the approval path and both documents change', async () => {
  await agent.docs.write('spec.md', 'spec v1\n')
  await agent.docs.write('plan.md', 'plan v1\n')
  const spec = await connectPeer(server, `${WS}/spec.md`, { token: await mintToken('ann', 'viewer', WS) })
  const plan = await connectPeer(server, `${WS}/plan.md`, { token: await mintToken('ann', 'viewer', WS) })
  const proposed = await agent.changesets.propose({ title: 'v2 of both', docs: { 'spec.md': 'spec v2\n', 'plan.md': 'plan v2\n' }, approval: true })
  assert.is(proposed.status, 'pending')
  const info = await agent.changesets.get(proposed.id)
  const key = info.approval!.key
  await waitFor(() => bob.approvals.list().some((approval) => approval.key === key), 5000, 'bob never saw the approval request')
  const request = bob.approvals.list().find((approval) => approval.key === key)!.request
  const details = request.details as { changeset: string; documents: Array<{ path: string; patch: string }> }
  assert.is(details.changeset, proposed.id)
  assert.match(details.documents.find((doc) => doc.path === 'spec.md')!.patch, /-spec v1\n\+spec v2/)
  assert.is(request.requester, 'claude')
  const refused = await rejectionOf(HuddleError, agent.changesets.apply(proposed.id))
  assert.match(refused.message, /waits for its approval/)
  assert.is(await agent.docs.read('spec.md'), 'spec v1\n')
  await bob.approvals.vote(key, 'approve')
  const final = await agent.changesets.wait(proposed.id, { timeoutMs: 10_000, intervalMs: 50 })
  assert.is(final.status, 'applied')
  assert.is(final.by, 'claude', 'applied for its proposer')
  await waitFor(() => spec.doc.getText('body').toString() === 'spec v2\n', 5000, 'spec.md never changed for its stock client')
  await waitFor(() => plan.doc.getText('body').toString() === 'plan v2\n', 5000, 'plan.md never changed for its stock client')
  assert.equal(await auditTypes(proposed.id), ['changeset.proposed', 'changeset.applied'])
  spec.destroy()
  plan.destroy()
})

test('the proposer cannot approve their own change set; a rejection leaves the documents alone', async () => {
  const carol = await connectAs('carol', 'approver')
  await carol.docs.write('rejected.md', 'keep me\n')
  const proposed = await carol.changesets.propose({ title: 'Drop it', docs: { 'rejected.md': '' }, approval: true })
  const key = (await carol.changesets.get(proposed.id)).approval!.key
  await waitFor(() => carol.approvals.list().some((approval) => approval.key === key), 5000, 'carol never saw her request')
  const self = await rejectionOf(HuddleError, carol.approvals.vote(key, 'approve'))
  assert.match(self.message, /self-approval/)
  await waitFor(() => bob.approvals.list().some((approval) => approval.key === key), 5000, 'bob never saw the request')
  await bob.approvals.vote(key, 'reject', 'not today')
  const final = await carol.changesets.wait(proposed.id, { timeoutMs: 10_000, intervalMs: 50 })
  assert.is(final.status, 'rejected')
  assert.is(await carol.docs.read('rejected.md'), 'keep me\n')
})

test('cancel by the proposer withdraws the approval; revert takes an applied change set out again', async () => {
  await agent.docs.write('cancel.md', 'as is\n')
  const proposed = await agent.changesets.propose({ title: 'Maybe', docs: { 'cancel.md': 'changed\n' }, approval: { quorum: 1 } })
  const other = await rejectionOf(HuddleError, bob.changesets.cancel(proposed.id))
  assert.match(other.message, /only its proposer claude/)
  assert.is((await agent.changesets.cancel(proposed.id)).status, 'cancelled')
  const key = (await agent.changesets.get(proposed.id)).approval!.key
  await waitFor(() => bob.approvals.list().find((approval) => approval.key === key)?.status.state === 'cancelled', 5000, 'the approval was never cancelled')
  assert.is(await agent.docs.read('cancel.md'), 'as is\n')

  await agent.docs.write('revert.md', 'one\ntwo\nthree\n')
  const applied = await agent.changesets.propose({ title: 'Two to 2', docs: { 'revert.md': 'one\n2\nthree\n' } })
  await agent.changesets.apply(applied.id)
  // An unrelated later edit survives the revert.
  await agent.docs.write('revert.md', 'zero\none\n2\nthree\n')
  assert.is((await agent.changesets.revert(applied.id)).status, 'reverted')
  assert.is(await agent.docs.read('revert.md'), 'zero\none\ntwo\nthree\n')
  assert.equal(await auditTypes(applied.id), ['changeset.proposed', 'changeset.applied', 'changeset.reverted'])
})

test("a document guarded by someone else is a conflict naming the holder; the proposer's own guard is not", async () => {
  const dana = await connectAs('dana', 'editor')
  await agent.docs.write('held.md', 'held\n')
  const lock = await dana.locks.acquire('doc:held.md')
  await waitFor(() => agent.locks.list().some((info) => info.resource === 'doc:held.md'), 5000, 'the lock was never seen')
  const proposed = await agent.changesets.propose({ title: 'Sneak in', docs: { 'held.md': 'mine\n' } })
  assert.is(proposed.status, 'conflict')
  const info = await agent.changesets.get(proposed.id)
  assert.match(info.reason!, /doc:held.md is locked by dana/)
  assert.match(info.reason!, /wait for the lock to be released/)

  // Locked after the proposal: the apply becomes a conflict, and nothing is written.
  await agent.docs.write('later.md', 'later\n')
  const pending = await agent.changesets.propose({ title: 'Later', docs: { 'later.md': 'changed\n', 'held2.md': 'new\n' } })
  const late = await dana.locks.acquire('doc:held2.md')
  const conflict = await agent.changesets.apply(pending.id)
  assert.is(conflict.status, 'conflict')
  assert.is(await agent.docs.read('later.md'), 'later\n', 'no document of a change set in conflict changes')

  const own = await agent.locks.acquire('doc:mine.md')
  const mine = await agent.changesets.propose({ title: 'Mine', docs: { 'mine.md': 'by the holder\n' } })
  assert.is(mine.status, 'pending')
  assert.is((await agent.changesets.apply(mine.id)).status, 'applied')
  assert.is(await agent.docs.read('mine.md'), 'by the holder\n')
  await Promise.all([lock.release(), late.release(), own.release()])
})

test('a document changed since the proposal is merged and listed as moved', async () => {
  await agent.docs.write('moving.md', 'head\nmiddle\ntail\n')
  const proposed = await agent.changesets.propose({ title: 'Tail', docs: { 'moving.md': 'head\nmiddle\nTAIL\n', 'still.md': 'new\n' } })
  const human = await connectPeer(server, `${WS}/moving.md`, { token: await mintToken('ann', 'editor', WS) })
  human.doc.getText('body').insert(0, 'typed ')
  await waitFor(async () => (await agent.docs.read('moving.md')).startsWith('typed '), 5000, 'the human edit never landed')
  const applied = await agent.changesets.apply(proposed.id)
  assert.is(applied.status, 'applied')
  assert.equal(applied.moved, ['moving.md'])
  assert.is(applied.docs['moving.md']!.moved, true)
  assert.is(applied.docs['still.md']!.moved, undefined)
  assert.match(applied.docs['moving.md']!.patch!, /-tail\n\+TAIL/, 'the patch stays the one that was proposed')
  assert.is(await agent.docs.read('moving.md'), 'typed head\nmiddle\nTAIL\n')
  await waitFor(() => human.doc.getText('body').toString() === 'typed head\nmiddle\nTAIL\n', 5000, 'the human never saw the merge')
  human.destroy()
})

test('a Yjs update against the current state is a change too', async () => {
  await agent.docs.write('yjs.md', 'hello\n')
  const copy = new Y.Doc()
  const peer = await connectPeer(server, `${WS}/yjs.md`, { token: await mintToken('ann', 'viewer', WS), doc: copy })
  const before = Y.encodeStateVector(copy)
  copy.getText('body').insert(5, ' world')
  const update = Y.encodeStateAsUpdate(copy, before)
  peer.destroy()
  const proposed = await bob.changesets.propose({ title: 'By update', docs: { 'yjs.md': update } })
  assert.match((await agent.changesets.get(proposed.id)).docs['yjs.md']!.patch!, /-hello\n\+hello world/)
  assert.is((await agent.changesets.apply(proposed.id)).status, 'applied')
  assert.is(await agent.docs.read('yjs.md'), 'hello world\n')
  // The history attributes the change to its proposer, not to whoever applied it.
  const [line] = await agent.docs.blame('yjs.md')
  assert.is(line!.actor, 'bob')
})

test('an approval that expires leaves the change set expired and the documents alone', async () => {
  await agent.docs.write('expiring.md', 'stays\n')
  const proposed = await agent.changesets.propose({ title: 'Too late', docs: { 'expiring.md': 'gone\n' }, approval: { expiresInMs: 300 } })
  const final = await agent.changesets.wait(proposed.id, { timeoutMs: 10_000, intervalMs: 50 })
  assert.is(final.status, 'expired')
  assert.is(await agent.docs.read('expiring.md'), 'stays\n')
})

test("naming the lock holder's session does not get past its guard", async () => {
  const erin = await connectAs('erin', 'editor')
  await agent.docs.write('spoof.md', 'guarded\n')
  const lock = await erin.locks.acquire('doc:spoof.md')
  const spoofed = await post('', { title: 'Spoof', docs: { 'spoof.md': { text: 'overwritten\n' } }, session: erin.session })
  assert.is(spoofed.status, 201)
  assert.is((spoofed.json as { status?: string }).status, 'conflict')
  assert.is(await agent.docs.read('spoof.md'), 'guarded\n')
  await lock.release()
})

test('limits and refusals say what to do', async () => {
  const none = await post('', { title: 'Nothing', docs: {} })
  assert.is(none.status, 400)
  assert.match(none.json.error!, /1 to 64 documents, not 0: split/)
  const many = await post('', { title: 'Many', docs: Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`d${i}.md`, { text: 'x' }])) })
  assert.is(many.status, 400)
  assert.match(many.json.error!, /1 to 64 documents, not 65/)
  const big = await post('', { title: 'Big', docs: { 'a.md': { text: 'x'.repeat(5 * 1024 * 1024) }, 'b.md': { text: 'y'.repeat(4 * 1024 * 1024) } } })
  assert.is(big.status, 400)
  assert.match(big.json.error!, /limit is 8388608 \(8 MiB\) in total/)
  const badPath = await post('', { title: 'Bad', docs: { '../etc/passwd': { text: 'x' } } })
  assert.is(badPath.status, 400)
  assert.match(badPath.json.error!, /bad document path .*A-Z, a-z, 0-9/)
  const badShape = await post('', { title: 'Shape', docs: { 'a.md': 'just text' } })
  assert.is(badShape.status, 400)
  assert.match(badShape.json.error!, /\{"text": "<new text>"\}/)
  const noTitle = await post('', { docs: { 'a.md': { text: 'x' } } })
  assert.is(noTitle.status, 400)
  assert.match(noTitle.json.error!, /send a "title"/)
  const viewer = await post('', { title: 'Viewer', docs: { 'a.md': { text: 'x' } } }, 'viewer')
  assert.is(viewer.status, 403)
  assert.match(viewer.json.error!, /needs role editor/)
  const unknown = await post('/cs-nope/apply', {})
  assert.is(unknown.status, 404)
  assert.match(unknown.json.error!, /GET \/api\/workspaces\/changes\/changesets lists them/)
  const badUpdate = await post('', { title: 'Update', docs: { 'a.md': { update: '////////' } } })
  assert.is(badUpdate.status, 400)
  assert.match(badUpdate.json.error!, /is not a Yjs update .*send {"text": ...} instead/)
  assert.equal(await agent.docs.list().then((docs) => docs.filter((doc) => doc.path === 'a.md' || doc.path === 'd0.md')), [])
})

test.run()
