// A REST call refused for its caller's role (server/http/request.ts `authorize`) answers 403 with
// the role it needs, and — when the caller is a verified member of the workspace — leaves a
// `refused` entry in the workspace's audit log naming the actor and the call. A token of another
// workspace gets the 403 without an entry: it could otherwise fill any workspace's log.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { mintToken } from './helpers/clients.js'
import type { TestServer } from './helpers/server.js'
import { withServer } from './helpers/suite.js'

const WS = 'rest-refusals'

let server: TestServer
withServer(test, (started) => void (server = started))

interface Entry {
  type: string
  actor?: string
  data?: { reason?: string; request?: string }
}

async function call(method: string, path: string, token: string, body?: unknown) {
  const response = await fetch(`${server.httpUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  })
  return { status: response.status, body: (await response.json()) as { error?: string } }
}

async function refusals(): Promise<Entry[]> {
  const { body } = await call('GET', `/api/workspaces/${WS}/audit?limit=1000`, await mintToken('auditor', 'admin', WS))
  return ((body as { entries: Entry[] }).entries ?? []).filter((entry) => entry.type === 'refused')
}

test('a member refused for its role gets 403 with the role needed, and the refusal is audited', async () => {
  const viewer = await mintToken('vic', 'viewer', WS)
  const revoke = await call('POST', `/api/workspaces/${WS}/tokens/revoke`, viewer, { token: 'x' })
  assert.is(revoke.status, 403)
  assert.match(String(revoke.body.error), /needs role admin; yours is viewer/)
  const release = await call('DELETE', `/api/workspaces/${WS}/locks/deploy?reason=x&token=secret`, viewer)
  assert.is(release.status, 403)
  const propose = await call('POST', `/api/workspaces/${WS}/changesets`, viewer, { title: 't', changes: [] })
  assert.is(propose.status, 403)
  assert.match(String(propose.body.error), /needs role editor; yours is viewer/)

  const entries = await refusals()
  assert.equal(
    entries.map((entry) => [entry.actor, entry.data?.request]),
    [
      ['vic', `POST /api/workspaces/${WS}/tokens/revoke`],
      ['vic', `DELETE /api/workspaces/${WS}/locks/deploy`],
      ['vic', `POST /api/workspaces/${WS}/changesets`],
    ],
    'one entry per refused call, the query (which may carry secrets) left out',
  )
  assert.match(String(entries[0]!.data?.reason), /needs role admin/)
})

test('a token of another workspace gets 403 and leaves nothing in this workspace’s log', async () => {
  const before = (await refusals()).length
  const outsider = await mintToken('otto', 'admin', 'elsewhere')
  const revoke = await call('POST', `/api/workspaces/${WS}/tokens/revoke`, outsider, { token: 'x' })
  assert.is(revoke.status, 403)
  assert.match(String(revoke.body.error), /your token is for workspace "elsewhere"/)
  assert.is((await refusals()).length, before)
})

test.run()
