// onPersist (server/rooms/hooks.ts): a hook adds writes to the LevelDB batch of each document
// update, knowing whose write it is (tests/fixtures/custom-server.ts records the writer of every
// update of `<ws>/attributed`). Read back from the database after the server is killed.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import * as Y from 'yjs'
import { Store } from '../server/store/index.js'
import { cleanupClients, connectPeer, rawConnect, updateFrame, waitFor } from './helpers/clients.js'
import { who } from './helpers/coordination-peers.js'
import { distScript, type TestServer } from './helpers/server.js'
import { withServer } from './helpers/suite.js'

const ROOM = 'persisting/attributed'
let server: TestServer
withServer(test, (started) => void (server = started), { script: distScript('tests/fixtures/custom-server.js') })

test('an onPersist hook that throws: the write is neither written nor sent, and its writer is told with 1011', async () => {
  const room = 'breaking/attributed'
  const ada = await connectPeer(server, room, { token: (await who('ada', 'editor')).token })
  const seen: string[] = []
  const watcher = await connectPeer(server, room, { token: (await who('watcher', 'viewer')).token })
  watcher.doc.on('update', () => seen.push(watcher.doc.getText('text').toString()))
  ada.doc.getText('text').insert(0, 'kept')
  // persist before broadcast: once the watcher has it, it is on disk
  await waitFor(() => watcher.doc.getText('text').toString() === 'kept', 10_000, 'the clean write did not arrive')

  const lost = new Y.Doc()
  Y.applyUpdate(lost, Y.encodeStateAsUpdate(ada.doc))
  lost.getText('text').insert(4, ' lost')
  const breaker = await rawConnect(server, room, { token: (await who('persist-breaker', 'editor')).token })
  breaker.send(updateFrame(Y.encodeStateAsUpdate(lost, Y.encodeStateVector(ada.doc))))
  const close = await breaker.waitClose(10_000, 'the writer whose update the hook failed on')
  assert.is(close.code, 1011, `closed with ${close.code} ${close.reason}`)
  assert.match(close.reason, /not saved or shared/)

  // The room reloaded from storage: a new client syncs what is on disk.
  const reader = await connectPeer(server, room, { token: (await who('reader', 'viewer')).token })
  assert.is(reader.doc.getText('text').toString(), 'kept', 'the failed write is not on disk')
  await waitFor(() => watcher.provider.synced && watcher.closes.length > 0, 10_000, 'the watcher did not resync after the reload')
  assert.ok(
    seen.every((text) => !text.includes('lost')),
    `a watcher saw the failed write: ${JSON.stringify(seen)}`,
  )
  lost.destroy()
  cleanupClients()
})

test('every update is written with what its hooks added, and the hook knows the writer', async () => {
  const ada = await connectPeer(server, ROOM, { token: (await who('ada', 'editor')).token })
  const bo = await connectPeer(server, ROOM, { token: (await who('bo', 'editor')).token })
  for (let i = 0; i < 5; i++) {
    ada.doc.getText('text').insert(0, 'a')
    bo.doc.getMap('m').set(`k${i}`, i)
  }
  await waitFor(() => ada.doc.getMap('m').size === 5 && bo.doc.getText('text').length === 5, 10_000, 'the writes did not meet')
  cleanupClients()
  // Everything the other side saw is on disk (persist before broadcast); a kill keeps the log
  // as written, where a graceful stop would compact it.
  await server.kill()

  const store = await Store.open({ dir: server.dataDir, durability: 'os' })
  const updates = await store.loadDoc(ROOM)
  const records = (await store.readRange({ gt: `test-attribution!${ROOM}!`, lt: `test-attribution!${ROOM}!~` })).map(
    ([, value]) => JSON.parse(new TextDecoder().decode(value)) as { actor: string | null; bytes: number },
  )
  await store.close()
  const doc = new Y.Doc()
  for (const update of updates) Y.applyUpdate(doc, update)
  assert.is(doc.getText('text').length, 5)
  assert.is(records.length, updates.length, 'one record per logged update (the log is not compacted yet)')
  assert.equal(
    records.map((record) => record.bytes),
    updates.map((update) => update.length),
    'each record sits with its own update',
  )
  assert.equal(new Set(records.map((record) => record.actor)), new Set(['ada', 'bo']))
})

test.run()
