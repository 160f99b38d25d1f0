// Stock y-websocket clients converge through the server; late joiners get everything; the sender
// hears its own update back; presence of a closed connection goes away for everyone.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import * as Y from 'yjs'
import {
  awarenessFrame,
  awarenessUpdate,
  connectPeer,
  decodeFrame,
  docFromMessages,
  dropPeerSocket,
  mintToken,
  rawConnect,
  textUpdate,
  updateFrame,
  waitFor,
} from './helpers/clients.js'
import type { TestServer } from './helpers/server.js'
import { withServer } from './helpers/suite.js'

let server: TestServer

withServer(test, (started) => (server = started))

test('two clients converge on concurrent Y.Text and Y.Map edits', async () => {
  const token = await mintToken('alice', 'editor', 'sync')
  const a = await connectPeer(server, 'sync/notes', { token })
  const b = await connectPeer(server, 'sync/notes', { token: await mintToken('bob', 'editor', 'sync') })
  a.doc.getText('text').insert(0, 'hello from a. ')
  b.doc.getText('text').insert(0, 'hello from b. ')
  a.doc.getMap('map').set('a', 1)
  b.doc.getMap('map').set('b', { nested: [1, 2, 3] })
  b.doc.getMap('map').set('shared', 'b')
  a.doc.getMap('map').set('shared', 'a')
  for (let i = 0; i < 20; i++) (i % 2 ? a : b).doc.getText('text').insert(0, String(i % 10))
  const mapOf = (doc: Y.Doc) => JSON.stringify(Object.entries(doc.getMap('map').toJSON()).sort(([x], [y]) => x.localeCompare(y)))
  const same = () => a.doc.getText('text').toString() === b.doc.getText('text').toString() && mapOf(a.doc) === mapOf(b.doc)
  await waitFor(
    () => same() && a.doc.getMap('map').size === 3 && b.doc.getText('text').length === 28 + 20,
    5000,
    () =>
      `no convergence: a=${a.doc.getText('text')} ${JSON.stringify(a.doc.getMap('map').toJSON())} b=${b.doc.getText('text')} ${JSON.stringify(b.doc.getMap('map').toJSON())}`,
  )
  assert.ok(a.doc.getText('text').toString().includes('hello from a. '))
  assert.ok(b.doc.getText('text').toString().includes('hello from b. '))
  assert.equal(a.doc.getMap('map').get('b'), { nested: [1, 2, 3] })
  assert.equal(a.closes, [])
  assert.equal(b.closes, [])
  a.destroy()
  b.destroy()
})

test('a late joiner gets the full state, deletions included', async () => {
  const token = await mintToken('carol', 'editor', 'sync')
  const a = await connectPeer(server, 'sync/late', { token })
  const text = a.doc.getText('text')
  text.insert(0, 'one two three')
  text.delete(3, 4) // "one three"
  a.doc.getMap('map').set('k', 'v')
  a.doc.getArray<number>('list').push([1, 2, 3])
  // Wait for the echo of the last write: it is broadcast only once it is written.
  const b = await connectPeer(server, 'sync/late', { token })
  await waitFor(() => b.doc.getArray('list').length === 3, 5000, 'the late joiner never got the list')
  assert.is(b.doc.getText('text').toString(), 'one three')
  assert.equal(b.doc.getMap('map').toJSON(), { k: 'v' })
  a.destroy()
  // A joiner with nobody else connected gets it from the server alone.
  const c = await connectPeer(server, 'sync/late', { token })
  assert.is(c.doc.getText('text').toString(), 'one three')
  assert.equal(c.doc.getArray('list').toJSON(), [1, 2, 3])
  b.destroy()
  c.destroy()
})

test('the sender gets its own update echoed', async () => {
  const raw = await rawConnect(server, 'sync/echo', { token: await mintToken('dave', 'editor', 'sync') })
  const update = textUpdate('echo me')
  raw.send(updateFrame(update))
  await raw.waitMessage((message) => decodeFrame(message).kind === 'update', 5000, 'the echo of my update')
  const echoed = raw.messages.filter((message) => decodeFrame(message).kind === 'update')
  assert.is(docFromMessages(echoed).getText('text').toString(), 'echo me')
  assert.ok(raw.isOpen)
  raw.close()
})

test('presence of a closed connection disappears for the others', async () => {
  const a = await connectPeer(server, 'sync/presence', { token: await mintToken('erin', 'editor', 'sync') })
  const b = await connectPeer(server, 'sync/presence', { token: await mintToken('frank', 'editor', 'sync') })
  a.provider.awareness.setLocalStateField('status', 'active')
  const aId = a.doc.clientID
  await waitFor(() => (b.provider.awareness.getStates().get(aId) as { status?: string } | undefined)?.status === 'active', 5000, "b never saw a's presence")
  // Drop a's socket without the awareness goodbye y-websocket sends on a clean disconnect: only
  // the server can tell b (y-protocols would time the state out after 30 s).
  dropPeerSocket(a)
  await waitFor(() => !b.provider.awareness.getStates().has(aId), 5000, "a's presence was still there for b after a's socket closed")
  // A raw socket that publishes presence and goes away is removed the same way.
  const raw = await rawConnect(server, 'sync/presence', { token: await mintToken('gina', 'viewer', 'sync') })
  raw.send(awarenessFrame(awarenessUpdate([{ clientID: 424242, clock: 1, state: { status: 'idle' } }])))
  await waitFor(() => b.provider.awareness.getStates().has(424242), 5000, "b never saw the raw client's presence")
  raw.terminate()
  await waitFor(() => !b.provider.awareness.getStates().has(424242), 5000, "the raw client's presence was still there after its socket closed")
  a.destroy()
  b.destroy()
})

test('edits keep flowing both ways after a reconnect', async () => {
  const token = await mintToken('hank', 'editor', 'sync')
  const a = await connectPeer(server, 'sync/reconnect', { token })
  const b = await connectPeer(server, 'sync/reconnect', { token })
  a.provider.disconnect()
  a.doc.getText('text').insert(0, 'offline edit')
  b.doc.getText('text').insert(0, 'online edit ')
  await waitFor(() => !a.provider.wsconnected, 5000, 'a did not disconnect')
  a.provider.connect()
  await waitFor(
    () => a.doc.getText('text').toString() === b.doc.getText('text').toString() && a.doc.getText('text').length === 24,
    5000,
    () => `no convergence after reconnect: a=${a.doc.getText('text')} b=${b.doc.getText('text')}`,
  )
  const state = new Y.Doc()
  Y.applyUpdate(state, Y.encodeStateAsUpdate(b.doc))
  assert.is(state.getText('text').length, 24)
  a.destroy()
  b.destroy()
})

test('a joiner is never sent what the server itself holds pending', async () => {
  // After a restart, a client's new write can reach the server before the sync step 2 carrying
  // the history it builds on. The server keeps it pending; a joiner must not get it in its sync
  // reply (it could not apply it either), only the broadcast once the missing part arrives.
  const token = await mintToken('ivy', 'editor', 'sync')
  const author = new Y.Doc()
  const updates: Uint8Array[] = []
  author.on('update', (update: Uint8Array) => updates.push(update))
  author.getText('text').insert(0, 'hello')
  author.getText('text').insert(5, ' world')
  const [first, second] = updates as [Uint8Array, Uint8Array]
  const writer = await rawConnect(server, 'sync/pending', { token })
  writer.send(updateFrame(second))
  await writer.roundTrip()
  const joiner = await connectPeer(server, 'sync/pending', { token })
  assert.is(joiner.doc.store.pendingStructs, null, 'the sync reply carried structs the joiner cannot apply')
  assert.is(joiner.doc.getText('text').toString(), '')
  writer.send(updateFrame(first))
  await waitFor(
    () => joiner.doc.getText('text').toString() === 'hello world',
    5000,
    () => `the joiner never got the whole text: ${JSON.stringify(joiner.doc.getText('text').toString())}`,
  )
  assert.is(joiner.doc.store.pendingStructs, null)
  joiner.destroy()
  writer.close()
})

test.run()
