// `huddle serve --memory`: the same server on an in-memory database. Documents sync as usual,
// nothing reaches the disk, and the banner says so; a restart starts empty.
import { readdirSync } from 'node:fs'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { cleanupClients, connectPeer, mintToken, waitFor } from './helpers/clients.js'
import { runCli, TestServer } from './helpers/server.js'

const servers: TestServer[] = []

test.after.each(async () => {
  cleanupClients()
  for (const server of servers.splice(0)) await server.dispose()
})

test('a document syncs between two clients and nothing is written to disk', async () => {
  // Without HUDDLE_SECRET too: a file-based server would write <data>/secret.
  const server = await TestServer.start({ memory: true, secret: null })
  servers.push(server)
  await server.waitForStdout(/admin token for workspace "demo"[^\n]*\n\s*(\S+)/)
  assert.match(server.stdout, /data in memory only: NOT persisted/)
  assert.match(server.stdout, /secret for this process only/)
  const token = /admin token for workspace "demo"[^\n]*\n\s*(\S+)/.exec(server.stdout)![1]!

  const a = await connectPeer(server, 'demo/notes', { token })
  const b = await connectPeer(server, 'demo/notes', { token })
  a.doc.getText('text').insert(0, 'kept in memory')
  await waitFor(
    () => b.doc.getText('text').toString() === 'kept in memory',
    5000,
    () => `b has ${JSON.stringify(b.doc.getText('text').toString())}`,
  )
  b.doc.getMap('map').set('reply', 'seen')
  await waitFor(() => a.doc.getMap('map').get('reply') === 'seen', 5000, "a never got b's reply")
  // The coordination document (authority, audit chain) works on the same store.
  const locks = await connectPeer(server, 'demo', { token })
  await waitFor(() => locks.doc.getMap('sessions').size > 0, 5000, 'the authority never published a session')

  // The process runs in this directory: no ./data, no secret, no LevelDB files.
  assert.equal(readdirSync(server.dataDir), [], 'the working directory of a --memory server stays empty')
  const exit = await server.stop()
  assert.equal(exit, { code: 0, signal: null }, `graceful stop should exit 0; stderr:\n${server.stderr}`)
  assert.equal(readdirSync(server.dataDir), [], 'nothing is written at shutdown either')
})

test('a restart starts with an empty document', async () => {
  const server = await TestServer.start({ memory: true })
  servers.push(server)
  const token = await mintToken('alice', 'editor', 'mem')
  const a = await connectPeer(server, 'mem/doc', { token })
  a.doc.getText('text').insert(0, 'gone after a restart')
  const b = await connectPeer(server, 'mem/doc', { token })
  await waitFor(() => b.doc.getText('text').length > 0, 5000, 'b never synced')
  a.destroy()
  b.destroy()
  await server.stop()
  await server.restart()
  const c = await connectPeer(server, 'mem/doc', { token })
  assert.is(c.doc.getText('text').toString(), '')
})

test('--memory with --data is refused with what to do', async () => {
  const cli = await runCli(['serve', '--memory', '--data', '/tmp/huddle-nowhere', '--port', '0'])
  assert.is(cli.code, 1)
  assert.match(cli.stderr, /--memory writes nothing to disk, so it takes no --data directory: drop one of the two/)
})

test.run()
