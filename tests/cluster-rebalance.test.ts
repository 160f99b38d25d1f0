// Cluster mode, rebalancing (issue 17): a workspace whose clients all come through another node
// moves to that node. Its clients are closed with 1013, reconnect through the same node, and
// resync: nothing they wrote before, during or after the move is lost, and the workspace stays
// with the node that has clients of its own.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { connectPeer, mintToken, waitFor } from './helpers/clients.js'
import { withCluster } from './helpers/redis.js'
import type { TestServer } from './helpers/server.js'

const cluster = withCluster(test, ['--owner-lease', '1s'])
const node = cluster.node

const owns = async (server: TestServer) => (await server.fetchJson<{ cluster: { owns: string[] } }>('/healthz')).cluster.owns

test('the owner hands a workspace whose clients all connect through another node over to it, with no edit lost', async () => {
  const [a, b] = [await node('a'), await node('b')]
  const token = await mintToken('eve', 'editor')
  const direct = await connectPeer(a, 'moving/doc', { token })
  const relayed = await connectPeer(b, 'moving/doc', { token })
  const other = await connectPeer(b, 'moving/notes', { token })
  assert.ok((await owns(a)).includes('moving'), 'a, asked first, owns the workspace')
  relayed.doc.getText('t').insert(0, 'one ')
  await waitFor(() => direct.doc.getText('t').toString() === 'one ', 10_000, 'the relayed edit never reached a')

  // While a still has a client of its own, the workspace stays there.
  direct.destroy()
  await waitFor(async () => (await owns(b)).includes('moving'), 20_000, 'b never took the workspace its clients connect through')
  assert.not.ok((await owns(a)).includes('moving'), 'a still owns it too')
  const moved = relayed.closes.find((close) => close.code === 1013)
  assert.ok(moved, `the relayed client was not told to reconnect: ${JSON.stringify(relayed.closes)}`)
  assert.match(moved.reason, /moves to node b/)

  relayed.doc.getText('t').insert(relayed.doc.getText('t').length, 'two')
  other.doc.getText('n').insert(0, 'notes')
  const reader = await connectPeer(a, 'moving/doc', { token, timeoutMs: 15_000 })
  await waitFor(
    () => reader.doc.getText('t').toString() === 'one two',
    15_000,
    () => `the reader has "${reader.doc.getText('t').toString()}"`,
  )
  const notes = await connectPeer(a, 'moving/notes', { token, timeoutMs: 15_000 })
  await waitFor(
    () => notes.doc.getText('n').toString() === 'notes',
    15_000,
    () => `notes: "${notes.doc.getText('n').toString()}"`,
  )
  // The reader on a is relayed to b now, where a relayed client does not pull the workspace back
  // while b's own clients are there.
  assert.ok((await owns(b)).includes('moving'))
  assert.not.ok((await owns(a)).includes('moving'))
  // Every close the moved client saw was the move (a reconnect during the hand-over may be told
  // again that the workspace is moving), never an error.
  for (const close of relayed.closes) assert.match(close.reason, /mov(es|ing) to node b/, `closes: ${JSON.stringify(relayed.closes)}`)
})

test.run()
