// Guarded documents (docs/design.md §12): a lock on `doc:<path>` guards `<workspace>/<path>`. Others'
// writes are refused with 4403 before anyone sees them; the holder and admins write; the client
// library keeps refused edits and sends them once the lock is free.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { connect, type Huddle, HuddleError } from '../client-lib/node.js'
import { connectPeer, mintToken, rejectionOf, waitFor } from './helpers/clients.js'
import type { TestServer } from './helpers/server.js'
import { withServer } from './helpers/suite.js'

const WS = 'guarded'
let server: TestServer
let alice: Huddle
/** every other library client, closed after the last test even when one failed */
const others: Huddle[] = []

withServer(test, (started) => (server = started))

test.before(async () => {
  alice = await connect({ url: server.httpUrl, workspace: WS, token: await mintToken('alice', 'editor', WS, { kind: 'agent' }) })
})

test.after(async () => {
  await Promise.all([alice, ...others].map((client) => client.close()))
})

async function refusals(reason: RegExp): Promise<number> {
  const entries = await alice.api.audit({ limit: 1000 })
  return entries.filter((entry) => entry.type === 'refused' && reason.test(String((entry.data as { reason?: string }).reason))).length
}

async function audited(reason: RegExp): Promise<boolean> {
  return (await refusals(reason)) > 0
}

test('a stock y-websocket client editing a guarded document is refused and never seen by others', async () => {
  await alice.docs.write('spec.md', 'v1\n')
  const token = await mintToken('bob', 'editor', WS)
  const bob = await connectPeer(server, `${WS}/spec.md`, { token })
  const carol = await connectPeer(server, `${WS}/spec.md`, { token: await mintToken('carol', 'editor', WS) })
  await waitFor(() => bob.doc.getText('body').toString() === 'v1\n', 5000, 'bob never synced')
  const lock = await alice.locks.acquire('doc:spec.md')
  // The holder writes normally, and everyone sees it.
  await alice.docs.write('spec.md', 'v2 by alice\n')
  await waitFor(() => carol.doc.getText('body').toString() === 'v2 by alice\n', 5000, "carol never saw the holder's write")
  await waitFor(() => bob.doc.getText('body').toString() === 'v2 by alice\n', 5000, "bob never saw the holder's write")
  bob.doc.getText('body').insert(0, 'sneaky ')
  await waitFor(() => bob.terminal, 5000, 'bob was never refused')
  assert.is(bob.terminal!.code, 4403)
  assert.match(bob.terminal!.reason, /^doc:spec.md is locked by alice/)
  await waitFor(() => audited(/doc:spec.md is locked by alice/), 5000, 'the refusal is never audited')
  // A write after bob's refusal reaches carol; bob's never does.
  await alice.docs.write('spec.md', 'v3 by alice\n')
  await waitFor(() => carol.doc.getText('body').toString() === 'v3 by alice\n', 5000, 'carol never saw v3')
  assert.not.match(carol.doc.getText('body').toString(), /sneaky/)
  // An admin writes through the guard.
  const admin = await connectPeer(server, `${WS}/spec.md`, { token: await mintToken('root', 'admin', WS) })
  admin.doc.getText('body').insert(0, '# ')
  await waitFor(() => carol.doc.getText('body').toString() === '# v3 by alice\n', 5000, "carol never saw the admin's write")
  await lock.release()
  // Free again: a new stock client writes.
  const dave = await connectPeer(server, `${WS}/spec.md`, { token })
  dave.doc.getText('body').insert(0, 'free: ')
  await waitFor(() => carol.doc.getText('body').toString() === 'free: # v3 by alice\n', 5000, 'carol never saw the write after the release')
  assert.is(dave.terminal, null)
  for (const peer of [bob, carol, admin, dave]) peer.destroy()
})

test('the client library keeps refused edits, reports the conflict, and sends them once the lock is free', async () => {
  await alice.docs.write('plan.md', 'plan\n')
  const bob = await connect({ url: server.httpUrl, workspace: WS, token: await mintToken('bob', 'editor', WS) })
  others.push(bob)
  const watcher = await connectPeer(server, `${WS}/plan.md`, { token: await mintToken('carol', 'editor', WS) })
  const lock = await alice.locks.acquire('doc:plan.md')
  await waitFor(() => bob.locks.list().some((info) => info.resource === 'doc:plan.md'), 5000, 'bob never saw the lock')
  const handle = await bob.docs.open('plan.md')
  const conflicts: Array<string | null> = []
  handle.onConflict((conflict) => conflicts.push(conflict?.reason ?? null))
  handle.replace('plan, edited by bob\n')
  const refused = await rejectionOf(HuddleError, handle.saved())
  assert.is(refused.code, 'refused')
  assert.match(refused.message, /doc:plan.md is locked by alice.*your edits are kept and sent again once the lock is released/)
  assert.is(handle.conflict?.willRetry, true)
  assert.is(handle.text, 'plan, edited by bob\n', 'the edits are kept')
  // No reconnect loop while the lock is held: the holder keeps working, and bob was refused once.
  await waitFor(() => audited(/doc:plan.md is locked by alice/), 5000, 'the refusal is never audited')
  await alice.docs.write('plan.md', 'plan\n\nby alice meanwhile\n')
  await waitFor(() => watcher.doc.getText('body').toString() === 'plan\n\nby alice meanwhile\n', 5000, "the watcher never saw the holder's write")
  assert.equal(conflicts.length, 1)
  assert.is(await refusals(/doc:plan.md/), 1)
  await lock.release()
  const merged = 'plan, edited by bob\n\nby alice meanwhile\n'
  await waitFor(
    () => watcher.doc.getText('body').toString() === merged,
    5000,
    () => `bob's kept edits never arrived: ${watcher.doc.getText('body')}`,
  )
  await handle.saved()
  assert.equal(conflicts, [conflicts[0]!, null])
  handle.close()
  watcher.destroy()
})

test('after a crash and restart the guard holds from the first write: the lock is still held in its grace period', async () => {
  await alice.docs.write('crash.md', 'before the crash\n')
  await alice.locks.acquire('doc:crash.md')
  await server.kill()
  await server.restart({ samePort: true })
  const bob = await connectPeer(server, `${WS}/crash.md`, { token: await mintToken('bob', 'editor', WS) })
  bob.doc.getText('body').insert(0, 'while alice is away: ')
  await waitFor(() => bob.terminal, 5000, 'bob was never refused after the restart')
  assert.match(bob.terminal!.reason, /^doc:crash.md is locked by alice/)
  const carol = await connectPeer(server, `${WS}/crash.md`, { token: await mintToken('carol', 'editor', WS) })
  assert.is(carol.doc.getText('body').toString(), 'before the crash\n')
  bob.destroy()
  carol.destroy()
})

test.run()
