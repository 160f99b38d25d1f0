// Retention applied in the background: versions a document no longer keeps are dropped by the
// periodic sweep even when no new version is written and nobody opens the document; labelled
// versions and the newest are kept.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { connectPeer, mintToken, waitFor } from './helpers/clients.js'
import type { TestServer } from './helpers/server.js'
import { withServer } from './helpers/suite.js'

const WS = 'histsweep'
let server: TestServer

const KEEP_ALL = ['--history-keep-all', '5s', '--history-hourly', '5s']
withServer(test, (started) => (server = started), {
  args: ['--history-quiet', '200ms', '--history-max', '1h', ...KEEP_ALL, '--history-sweep', '300ms'],
})

async function ids(token: string): Promise<number[]> {
  const response = await fetch(`${server.httpUrl}/api/workspaces/${WS}/docs/notes/versions`, { headers: { authorization: `Bearer ${token}` } })
  return ((await response.json()) as { versions: Array<{ id: number }> }).versions.map((version) => version.id)
}

test('the background sweep drops expired versions of a document nobody writes to, keeping labelled ones', async () => {
  const token = await mintToken('ann', 'editor', WS)
  const peer = await connectPeer(server, `${WS}/notes`, { token })
  const text = peer.doc.getText('body')
  const versionCount = async (count: number) => waitFor(async () => (await ids(token)).length === count, 10_000, `version ${count}`)
  text.insert(0, 'one\n')
  await versionCount(1)
  const labelled = await fetch(`${server.httpUrl}/api/workspaces/${WS}/docs/notes/versions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ label: 'keep me' }),
  })
  assert.is(labelled.status, 201)
  text.insert(text.length, 'two\n')
  await versionCount(3)
  text.insert(text.length, 'three\n')
  await versionCount(4)
  peer.destroy()
  // Written within the keep-all period: nothing was dropped when each version was written.
  assert.equal(await ids(token), [4, 3, 2, 1])
  // Once they are older than that, one per day is kept (3), the labelled (2) and the newest (4).
  await waitFor(
    async () => (await ids(token)).join() === '4,3,2',
    20_000,
    () => 'the sweep to drop version 1',
  )
})

test.run()
