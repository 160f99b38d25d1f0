// GET /api/workspaces/<ws>/documents lists the workspace's stored content documents, nested paths
// included, without other workspaces' documents or the dashboard's `.huddle/` bookkeeping.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { connectPeer, mintToken, waitFor } from './helpers/clients.js'
import type { TestServer } from './helpers/server.js'
import { withServer } from './helpers/suite.js'

let server: TestServer

withServer(test, (started) => (server = started))

async function list(token: string) {
  const response = await fetch(`${server.httpUrl}/api/workspaces/team/documents`, { headers: { authorization: `Bearer ${token}` } })
  return { status: response.status, body: (await response.json()) as { documents?: Array<{ path: string }>; error?: string } }
}

test('lists stored content documents of the workspace only', async () => {
  const editor = await mintToken('ed', 'editor', '*')
  for (const room of ['team/a', 'team/a/b', 'team/a-b', 'team/.huddle/documents', 'teamx/other', 'team']) {
    const peer = await connectPeer(server, room, { token: editor })
    peer.doc.getMap('m').set('k', room)
  }
  const viewer = await mintToken('vi', 'viewer', 'team')
  const listed = await waitFor(
    async () => {
      const result = await list(viewer)
      return result.body.documents?.length === 3 ? result : null
    },
    5000,
    'three documents to be listed',
  )
  assert.equal(
    listed.body.documents!.map((doc) => doc.path),
    ['a', 'a-b', 'a/b'],
  )
  const outsider = await list(await mintToken('out', 'admin', 'elsewhere'))
  assert.is(outsider.status, 403)
})

test.run()
