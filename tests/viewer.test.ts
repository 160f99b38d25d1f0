// Viewers read, sync and publish presence, but cannot change a content document (docs/design.md §5):
// a new edit is refused with 4403 and a reason, while resending known state is fine.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import * as Y from 'yjs'
import { connectPeer, expectRefusal, mintToken, rawConnect, syncStep2Frame, textUpdate, updateFrame, waitFor } from './helpers/clients.js'
import type { TestServer } from './helpers/server.js'
import { withServer } from './helpers/suite.js'

let server: TestServer

withServer(test, (started) => (server = started))

test('a viewer syncs, receives live edits and publishes presence', async () => {
  const editor = await connectPeer(server, 'view/doc', { token: await mintToken('ed', 'editor', 'view') })
  editor.doc.getText('text').insert(0, 'before the viewer')
  const viewer = await connectPeer(server, 'view/doc', { token: await mintToken('vic', 'viewer', 'view') })
  await waitFor(() => viewer.doc.getText('text').toString() === 'before the viewer', 5000, 'the viewer never got the content')
  editor.doc.getText('text').insert(0, 'live: ')
  await waitFor(() => viewer.doc.getText('text').toString() === 'live: before the viewer', 5000, 'the viewer never got the live edit')
  viewer.provider.awareness.setLocalStateField('status', 'active')
  await waitFor(
    () => (editor.provider.awareness.getStates().get(viewer.doc.clientID) as { user?: { id?: string } } | undefined)?.user?.id === 'vic',
    5000,
    "the editor never saw the viewer's presence",
  )
  assert.equal(viewer.closes, [])
  editor.destroy()
  viewer.destroy()
})

test('a reconnecting viewer with stale but known state (deletions included) is not refused', async () => {
  const editor = await connectPeer(server, 'view/stale', { token: await mintToken('ed', 'editor', 'view') })
  const text = editor.doc.getText('text')
  text.insert(0, 'alpha beta gamma delta')
  text.delete(6, 5) // "alpha gamma delta": the viewer will know this deletion
  editor.doc.getMap('map').set('k', 1)
  editor.doc.getMap('map').set('k', 2) // an overwritten (deleted) map entry, too
  const viewer = await connectPeer(server, 'view/stale', { token: await mintToken('vic', 'viewer', 'view') })
  await waitFor(() => viewer.doc.getText('text').toString() === 'alpha gamma delta', 5000, 'the viewer never got the content')
  viewer.provider.disconnect()
  await waitFor(() => !viewer.provider.wsconnected, 5000, 'the viewer did not disconnect')
  // Meanwhile the document moves on, with deletions of its own.
  text.insert(text.length, ' epsilon')
  text.delete(0, 6) // "gamma delta epsilon"
  editor.doc.getMap('map').delete('k')
  viewer.provider.connect()
  await waitFor(
    () => viewer.doc.getText('text').toString() === 'gamma delta epsilon' && !viewer.doc.getMap('map').has('k'),
    5000,
    () => `the viewer did not catch up: ${viewer.doc.getText('text')}`,
  )
  // The viewer's sync step 2 (its stale state) went before this presence update on the same socket:
  // if the editor sees the presence, the step 2 was accepted. (Two updates, so the clock is newer than
  // the removal the server announced when the viewer left; see awareness.test.ts for that issue.)
  viewer.provider.awareness.setLocalStateField('status', 'coming back')
  viewer.provider.awareness.setLocalStateField('status', 'back')
  await waitFor(
    () => (editor.provider.awareness.getStates().get(viewer.doc.clientID) as { status?: string } | undefined)?.status === 'back',
    5000,
    () => `the viewer's presence never arrived (closes: ${JSON.stringify(viewer.closes)})`,
  )
  assert.equal(viewer.closes, [], 'the viewer was closed')
  assert.is(viewer.terminal, null)
  editor.destroy()
  viewer.destroy()
})

test('a raw viewer resending an old full state (structs and deletes) stays connected', async () => {
  const editor = await connectPeer(server, 'view/resend', { token: await mintToken('ed', 'editor', 'view') })
  editor.doc.getText('text').insert(0, 'one two three')
  editor.doc.getText('text').delete(0, 4)
  const snapshot = new Y.Doc()
  const reader = await connectPeer(server, 'view/resend', { token: await mintToken('vic', 'viewer', 'view') })
  await waitFor(() => reader.doc.getText('text').toString() === 'two three', 5000, 'reader never synced')
  Y.applyUpdate(snapshot, Y.encodeStateAsUpdate(reader.doc))
  editor.doc.getText('text').delete(0, 4) // "three": the server now knows more deletions than the snapshot
  await waitFor(() => reader.doc.getText('text').toString() === 'three', 5000, 'reader never got the deletion')
  const raw = await rawConnect(server, 'view/resend', { token: await mintToken('vic', 'viewer', 'view') })
  raw.send(syncStep2Frame(Y.encodeStateAsUpdate(snapshot)))
  raw.send(updateFrame(Y.encodeStateAsUpdate(snapshot)))
  await raw.roundTrip()
  assert.ok(raw.isOpen)
  raw.close()
  editor.destroy()
  reader.destroy()
})

test("a viewer's new edit is refused with 4403 and a reason; nobody else sees it", async () => {
  const editor = await connectPeer(server, 'view/refuse', { token: await mintToken('ed', 'editor', 'view') })
  editor.doc.getText('text').insert(0, 'original')
  const viewer = await connectPeer(server, 'view/refuse', { token: await mintToken('vic', 'viewer', 'view') })
  await waitFor(() => viewer.doc.getText('text').length > 0, 5000, 'viewer never synced')
  viewer.doc.getText('text').insert(0, 'VANDALISM ')
  await waitFor(() => viewer.terminal, 5000, 'the viewer edit was not refused')
  assert.is(viewer.terminal!.code, 4403)
  assert.match(viewer.terminal!.reason, /read-only|viewer/)
  // Not applied, not broadcast, not persisted: a fresh client and the editor only see the original.
  const fresh = await connectPeer(server, 'view/refuse', { token: await mintToken('ed2', 'editor', 'view') })
  assert.is(fresh.doc.getText('text').toString(), 'original')
  editor.doc.getText('text').insert(8, '!')
  await waitFor(() => fresh.doc.getText('text').toString() === 'original!', 5000, 'the editor was disturbed')
  assert.is(editor.doc.getText('text').toString(), 'original!')
  assert.equal(editor.closes, [])
  editor.destroy()
  viewer.destroy()
  fresh.destroy()
})

test('a viewer with local-only content is refused when it connects', async () => {
  const doc = new Y.Doc()
  doc.getText('text').insert(0, 'offline edit')
  const close = await (async () => {
    const peer = await connectPeer(server, 'view/offline', { token: await mintToken('vic', 'viewer', 'view'), doc, waitSynced: false })
    await waitFor(() => peer.terminal, 5000, 'the offline edit was not refused')
    return peer.terminal!
  })()
  assert.is(close.code, 4403)
  assert.ok(close.reason.length > 0)
})

test('raw viewer frames: a new update or a deletion of known content → 4403', async () => {
  const token = await mintToken('vic', 'viewer', 'view')
  const raw = await rawConnect(server, 'view/raw', { token })
  raw.send(updateFrame(textUpdate('new content')))
  const close = await raw.waitClose()
  assert.is(close.code, 4403)
  assert.ok(close.reason.length > 0)
  // Deleting known content (no new structs, only a delete set) is a change too.
  const editor = await connectPeer(server, 'view/raw', { token: await mintToken('ed', 'editor', 'view') })
  editor.doc.getText('text').insert(0, 'keep me')
  const copy = new Y.Doc()
  Y.applyUpdate(copy, Y.encodeStateAsUpdate(editor.doc))
  const sv = Y.encodeStateVector(copy)
  copy.getText('text').delete(0, 4)
  const deletion = Y.encodeStateAsUpdate(copy, sv)
  await waitFor(
    async () => {
      const probe = await connectPeer(server, 'view/raw', { token })
      const ok = probe.doc.getText('text').toString() === 'keep me'
      probe.destroy()
      return ok
    },
    5000,
    'the edit never reached the server',
  )
  assert.is(await expectRefusalAfter(deletion, token), 4403)
  const fresh = await connectPeer(server, 'view/raw', { token })
  assert.is(fresh.doc.getText('text').toString(), 'keep me')
  editor.destroy()
  fresh.destroy()
})

async function expectRefusalAfter(update: Uint8Array, token: string): Promise<number> {
  const raw = await rawConnect(server, 'view/raw', { token })
  raw.send(updateFrame(update))
  return (await raw.waitClose()).code
}

test('editors may write where viewers may not (the control case)', async () => {
  const raw = await rawConnect(server, 'view/control', { token: await mintToken('ed', 'editor', 'view') })
  raw.send(updateFrame(textUpdate('fine')))
  await raw.roundTrip()
  assert.ok(raw.isOpen)
  raw.close()
  const refused = await expectRefusal(server, 'view/control', { token: await mintToken('vic', 'viewer', 'other') })
  assert.is(refused.code, 4403)
})

test.run()
