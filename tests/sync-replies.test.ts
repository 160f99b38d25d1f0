// server/rooms/sync-replies.ts: the sync step 2 reply leaves out what the server holds pending,
// by reading and resetting Yjs's `doc.store.pendingStructs` / `pendingDs` around the encoding.
// These checks fail if a Yjs upgrade renames those fields or stops keeping pending structs there.
import * as decoding from 'lib0/decoding'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import * as Y from 'yjs'
import { SyncBudgetExceeded, SyncReplies, UNCACHED_BURST } from '../server/rooms/sync-replies.js'

/** The Yjs update inside a sync step 2 message. */
function updateOf(payload: Uint8Array): Uint8Array {
  const decoder = decoding.createDecoder(payload)
  assert.is(decoding.readVarUint(decoder), 0, 'a sync message')
  assert.is(decoding.readVarUint(decoder), 1, 'sync step 2')
  return decoding.readVarUint8Array(decoder)
}

test('a reply leaves out pending structs and deletions, which stay pending on the server', () => {
  const author = new Y.Doc()
  const first: Uint8Array[] = []
  const later: Uint8Array[] = []
  author.getText('text').insert(0, 'base')
  author.on('update', (update: Uint8Array) => later.push(update))
  first.push(Y.encodeStateAsUpdate(author))
  author.getText('text').insert(4, ' plus')
  author.getText('text').delete(0, 1)
  const server = new Y.Doc()
  // The server gets the later writes without what they build on: they wait in the store.
  server.getText('text')
  for (const update of later) Y.applyUpdate(server, update)
  assert.ok(server.store.pendingStructs !== null, 'Yjs keeps updates with missing dependencies in doc.store.pendingStructs')
  const pendingBefore = server.store.pendingStructs
  const reply = updateOf(new SyncReplies(server).replyTo({}, Y.encodeStateVector(new Y.Doc())).payloads[0]!)
  const client = new Y.Doc()
  Y.applyUpdate(client, reply)
  assert.is(client.store.pendingStructs, null, 'the joining client holds nothing pending')
  assert.is(client.getText('text').toString(), '')
  assert.is(server.store.pendingStructs, pendingBefore, 'the server still holds them pending')
  // Once the base arrives, everything integrates on the server, and the next reply carries it.
  Y.applyUpdate(server, first[0]!)
  assert.is(server.getText('text').toString(), 'ase plus')
  const replies = new SyncReplies(server)
  Y.applyUpdate(client, updateOf(replies.replyTo({}, Y.encodeStateVector(client)).payloads[0]!))
  assert.is(client.getText('text').toString(), 'ase plus')
})

test('each asker has a budget of uncached replies; cached ones are free', () => {
  const doc = new Y.Doc()
  doc.getText('text').insert(0, 'x')
  const replies = new SyncReplies(doc)
  const asker = {}
  const empty = Y.encodeStateVector(new Y.Doc())
  for (let i = 0; i < 100; i++) replies.replyTo(asker, empty)
  for (let i = 1; i < UNCACHED_BURST; i++) replies.replyTo(asker, Y.encodeStateVector(new Map([[1000 + i, 1]])))
  assert.throws(
    () => replies.replyTo(asker, Y.encodeStateVector(new Map([[5, 1]]))),
    (error: Error) => error instanceof SyncBudgetExceeded,
  )
  replies.replyTo({}, Y.encodeStateVector(new Map([[5, 1]])))
})

test.run()
