// Persist before broadcast (docs/design.md §6): a graceful restart keeps everything, and after a
// `kill -9` in the middle of a write storm every change any client has seen is still there.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import * as Y from 'yjs'
import { cleanupClients, connectPeer, mintToken, type Peer, waitFor } from './helpers/clients.js'
import { TestServer } from './helpers/server.js'

const servers: TestServer[] = []

test.after.each(async () => {
  cleanupClients()
  for (const server of servers.splice(0)) await server.dispose()
})

async function start(args: string[] = []): Promise<TestServer> {
  const server = await TestServer.start({ args: ['--rate', '100000', '--burst', '100000', ...args] })
  servers.push(server)
  return server
}

/** A fresh client's view of `room`, read from the server (nothing else connected). */
async function readBack(server: TestServer, room: string): Promise<Y.Doc> {
  const reader = await connectPeer(server, room, { token: await mintToken('reader', 'viewer', 'persist') })
  const doc = new Y.Doc()
  Y.applyUpdate(doc, Y.encodeStateAsUpdate(reader.doc))
  reader.destroy()
  return doc
}

test('a graceful restart keeps text, maps, arrays and deletions', async () => {
  const server = await start()
  const token = await mintToken('alice', 'editor', 'persist')
  const a = await connectPeer(server, 'persist/doc', { token })
  const b = await connectPeer(server, 'persist', { token })
  a.doc.getText('text').insert(0, 'the quick brown fox')
  a.doc.getText('text').delete(4, 6) // "the brown fox"
  a.doc.getMap('map').set('answer', 42)
  a.doc.getArray<string>('list').push(['x', 'y'])
  for (let i = 0; i < 50; i++) a.doc.getMap('many').set(`k${i}`, i)
  await waitFor(() => a.doc.getMap('many').size === 50, 1000, 'local writes')
  // Wait until a second client has everything: then it was written.
  const watcher = await connectPeer(server, 'persist/doc', { token })
  await waitFor(() => watcher.doc.getMap('many').size === 50, 5000, 'the watcher never got all 50 keys')
  const exit = await server.stop()
  assert.equal(exit, { code: 0, signal: null }, `graceful stop should exit 0; stderr:\n${server.stderr}`)
  a.destroy()
  b.destroy()
  watcher.destroy()
  await server.restart()
  const doc = await readBack(server, 'persist/doc')
  assert.is(doc.getText('text').toString(), 'the brown fox')
  assert.is(doc.getMap('map').get('answer'), 42)
  assert.equal(doc.getArray('list').toJSON(), ['x', 'y'])
  assert.is(doc.getMap('many').size, 50)
  // And a second restart (after the first one's compaction or log replay) still has it all.
  assert.equal((await server.stop()).code, 0)
  await server.restart()
  const again = await readBack(server, 'persist/doc')
  assert.is(again.getText('text').toString(), 'the brown fox')
  assert.is(again.getMap('many').size, 50)
})

/**
 * Several writers set keys about once a millisecond each while a watcher records every key it receives.
 * The server is SIGKILLed mid-storm; after a restart every key the watcher saw must be there.
 * Clients are destroyed before the restart, so none of them can re-upload what the server lost.
 */
async function killDuringStorm(durability: 'os' | 'fsync', seenTarget: number): Promise<void> {
  const server = await start(['--durability', durability, '--compact-after', '200'])
  const room = `persist/storm-${durability}`
  const writers: Peer[] = []
  for (let w = 0; w < 3; w++) writers.push(await connectPeer(server, room, { token: await mintToken(`writer${w}`, 'editor', 'persist') }))
  const watcher = await connectPeer(server, room, { token: await mintToken('watcher', 'viewer', 'persist') })
  const seen = new Set<string>()
  let lastText = ''
  watcher.doc.getMap('keys').observe((event) => {
    for (const key of event.keysChanged) seen.add(key)
  })
  watcher.doc.getText('log').observe(() => {
    lastText = watcher.doc.getText('log').toString()
  })
  let stop = false
  const storms = writers.map(async (writer, w) => {
    for (let n = 0; !stop; n++) {
      writer.doc.transact(() => {
        writer.doc.getMap('keys').set(`w${w}-${n}`, n)
        if (n % 10 === 0) writer.doc.getText('log').insert(0, `[w${w}:${n}]`)
      })
      // A storm the server can keep up with, even on a loaded machine: unthrottled writers (the
      // rate limit is off here) outran a CPU-starved server, whose one-batch-at-a-time fsync
      // cycle then grew with its backlog until the watcher waited longer than the test.
      await new Promise((resolve) => setTimeout(resolve, 1))
    }
  })
  // fsync on a disk shared with other test suites can take most of a second per batch
  await waitFor(
    () => seen.size >= seenTarget,
    60_000,
    () => `the watcher saw only ${seen.size} keys`,
  ).catch((error: unknown) => {
    // a failed wait must not leave the storms running (the test process would never exit)
    stop = true
    throw error
  })
  const exit = await server.kill()
  stop = true
  await Promise.all(storms)
  assert.is(exit.signal, 'SIGKILL')
  // Anything already in the watcher's socket buffer was sent before the kill: it counts too.
  await waitFor(() => !watcher.provider.wsconnected, 5000, 'the watcher never noticed the kill')
  const seenKeys = [...seen]
  for (const peer of [...writers, watcher]) peer.destroy()
  const writtenByWriters = new Set(seenKeys.map((key) => key.split('-')[0]))
  assert.is(writtenByWriters.size, 3, 'the watcher should have seen keys from every writer')

  await server.restart()
  const doc = await readBack(server, room)
  const keys = doc.getMap('keys')
  const missing = seenKeys.filter((key) => !keys.has(key))
  assert.equal(missing.slice(0, 20), [], `${missing.length} of ${seenKeys.length} keys the watcher saw were lost by the kill (durability ${durability})`)
  // The text the watcher last saw is a prefix-free subsequence of what survived: every fragment is there.
  const survived = doc.getText('log').toString()
  for (const fragment of lastText.match(/\[w\d:\d+\]/g) ?? []) assert.ok(survived.includes(fragment), `text fragment ${fragment} was lost`)
  const health = await server.fetchJson<{ status: string }>('/healthz')
  assert.is(health.status, 'ok')
}

test('kill -9 mid-storm: every key the watcher saw survives (durability os)', async () => {
  await killDuringStorm('os', 1500)
})

test('kill -9 mid-storm: every key the watcher saw survives (durability fsync)', async () => {
  await killDuringStorm('fsync', 300)
})

test('a loaded document compacts from the room in memory, and a restart reads back what it wrote', async () => {
  const server = await start(['--compact-after', '20'])
  const a = await connectPeer(server, 'persist/compacted', { token: await mintToken('carol', 'editor', 'persist') })
  const text = a.doc.getText('text')
  // inserted and deleted again: the log grows, the state (deleted content collected) does not
  for (let i = 0; i < 200; i++) {
    text.insert(0, `draft ${i} `.repeat(20))
    text.delete(0, text.length)
  }
  text.insert(0, 'final')
  const compactions = async (from: string) => {
    const metrics = await (await fetch(`${server.httpUrl}/metrics`)).text()
    return Number(new RegExp(`^huddle_compactions_total\\{from="${from}"\\} (\\d+)$`, 'm').exec(metrics)?.[1] ?? 0)
  }
  let live = 0
  await waitFor(
    async () => (live = await compactions('live')) > 0,
    30_000,
    () => `no compaction from the live document (${live})`,
  )
  await waitFor(() => readBack(server, 'persist/compacted').then((doc) => doc.getText('text').toString() === 'final'), 10_000, 'the text never read back')
  a.destroy()
  assert.equal((await server.stop()).code, 0)
  await server.restart()
  assert.is((await readBack(server, 'persist/compacted')).getText('text').toString(), 'final')
})

test('a restarted server keeps accepting writes to a document recovered after a crash', async () => {
  const server = await start(['--compact-after', '5'])
  const token = await mintToken('bob', 'editor', 'persist')
  const a = await connectPeer(server, 'persist/again', { token })
  for (let i = 0; i < 30; i++) a.doc.getMap('m').set(`before${i}`, i)
  const watcher = await connectPeer(server, 'persist/again', { token })
  await waitFor(() => watcher.doc.getMap('m').size === 30, 5000, 'watcher never saw 30 keys')
  await server.kill()
  a.destroy()
  watcher.destroy()
  await server.restart()
  const b = await connectPeer(server, 'persist/again', { token })
  assert.is(b.doc.getMap('m').size, 30)
  for (let i = 0; i < 30; i++) b.doc.getMap('m').set(`after${i}`, i)
  const c = await connectPeer(server, 'persist/again', { token })
  await waitFor(
    () => c.doc.getMap('m').size === 60,
    5000,
    () => `c saw ${c.doc.getMap('m').size} keys`,
  )
  assert.equal((await server.stop()).code, 0)
  b.destroy()
  c.destroy()
  await server.restart()
  const doc = await readBack(server, 'persist/again')
  assert.is(doc.getMap('m').size, 60)
})

test.run()
