// Cluster mode, change sets (issue 17): a change set's record is a key of its workspace (hash tag
// `{<ws>}`), written by the workspace's owner under the lease's fence like the audit log, so one
// proposed through any node is applied through any other, after its owner died too.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import * as K from '../server/cluster/keys.js'
import { connectPeer, mintToken, waitFor } from './helpers/clients.js'
import { withCluster } from './helpers/redis.js'
import type { TestServer } from './helpers/server.js'

const WS = 'proposals'
const cluster = withCluster(test, ['--owner-lease', '1s'])
const node = cluster.node

interface Answer {
  status: number
  json: { id?: string; status?: string; error?: string }
}

async function call(server: TestServer, path: string, body?: unknown): Promise<Answer> {
  const token = await mintToken('claude', 'editor', WS, { kind: 'agent' })
  const response = await fetch(`${server.httpUrl}/api/workspaces/${WS}/changesets${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  })
  return { status: response.status, json: (await response.json()) as Answer['json'] }
}

test('a change set proposed through one node is stored under its workspace and applied through another after its owner died', async () => {
  const [a, b] = [await node('a'), await node('b')]
  const token = await mintToken('ann', 'editor', WS)
  const writer = await connectPeer(a, `${WS}/plan.md`, { token })
  writer.doc.getText('body').insert(0, 'plan v1\n')
  await waitFor(async () => (await cluster.inspect.xlen(K.log(`${WS}/plan.md`))) >= 1, 10_000, 'the document was never written')
  writer.destroy()

  const proposed = await call(b, '', { title: 'v2', docs: { 'plan.md': { text: 'plan v2\n' } } })
  assert.is(proposed.status, 201, JSON.stringify(proposed.json))
  const id = proposed.json.id!
  assert.is(await cluster.inspect.hexists(K.kv(`{${WS}}`), `changeset!${WS}!${id}`), 1, 'the record is not under the workspace tag')
  assert.is(await cluster.inspect.hexists(K.kv(K.GLOBAL_TAG), `changeset!${WS}!${id}`), 0, 'the record went under {global}')

  await a.kill()
  // Until b holds the lease a's runs out, the call is forwarded to the dead node and answered 503.
  const applied = await waitFor(
    async () => {
      const answer = await call(b, `/${id}/apply`, {})
      return answer.status === 503 ? null : answer
    },
    20_000,
    'b never took the workspace over',
  )
  assert.is(applied.status, 200, JSON.stringify(applied.json))
  assert.is(applied.json.status, 'applied')
  assert.ok((await b.fetchJson<{ cluster: { owns: string[] } }>('/healthz')).cluster.owns.includes(WS))
  assert.is((await call(b, `/${id}`)).json.status, 'applied')
  const reader = await connectPeer(b, `${WS}/plan.md`, { token, timeoutMs: 15_000 })
  await waitFor(
    () => reader.doc.getText('body').toString() === 'plan v2\n',
    10_000,
    () => `the reader has "${reader.doc.getText('body').toString()}"`,
  )
})

test.run()
