// Webhook signing secrets are stored sealed (server/webhooks/sealed-secret.ts): the database holds
// no secret in the clear, deliveries after a restart are still signed with it, and a server started
// with another HUDDLE_SECRET cannot open it — the endpoint shows as disabled with what to do, and
// is not enabled again (it would sign with what it cannot read).
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { connect, verifyWebhook } from '../client-lib/node.js'
import { signToken } from '../server/auth/tokens.js'
import { Store } from '../server/store/index.js'
import { SecretSealer } from '../server/webhooks/sealed-secret.js'
import { callApi, createWebhook } from './fixtures/webhooks-api.js'
import { Receiver } from './fixtures/webhook-receiver.js'
import { mintToken, waitFor } from './helpers/clients.js'
import { TEST_SECRET, TestServer } from './helpers/server.js'

const WS = 'wh-sealed'
const OTHER_SECRET = 'another-server-secret-0123456789-abcdefghijklmnop'
const ALLOW = ['--webhooks-allow-private']

let hooks: Receiver | undefined
const servers: TestServer[] = []

test.after(async () => {
  await hooks?.close()
  for (const server of servers) await server.dispose()
})

test('the sealer opens what it sealed, nothing sealed under another secret, and reads old plain secrets', () => {
  const sealer = new SecretSealer(new TextEncoder().encode(TEST_SECRET))
  const secret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'
  const sealed = sealer.seal(secret)
  assert.ok(!sealed.includes(secret.slice(6)))
  assert.is(sealer.open(sealed), secret)
  assert.is(new SecretSealer(new TextEncoder().encode(OTHER_SECRET)).open(sealed), null)
  const tampered = `${sealed.slice(0, -2)}${sealed.endsWith('A') ? 'B' : 'A'}${sealed.slice(-1)}`
  assert.is(sealer.open(tampered), null)
  assert.is(sealer.open(secret), secret, 'a secret stored in the clear by an earlier version')
})

test('the database holds the secret sealed; a restart still signs with it; another server secret disables it', async () => {
  hooks = await Receiver.start()
  const server = await TestServer.start({ args: ALLOW })
  servers.push(server)
  const created = await createWebhook(server, WS, { url: hooks.url, events: ['lock.granted'] })
  await waitFor(() => hooks!.ofType('ping').length === 1, 10_000, 'the ping arrives')
  await server.stop()

  const store = await Store.open({ dir: server.dataDir, durability: 'os' })
  const stored = (await store.readRange({ gt: 'webhook!', lt: 'webhook!~' })).map(([, value]) => new TextDecoder().decode(value))
  await store.close()
  assert.is(stored.length, 1)
  assert.not.ok(stored[0]!.includes(created.secret.slice('whsec_'.length)), 'the secret is stored in the clear')
  assert.match(stored[0]!, /"secret":"sealed:v1:/)

  await server.restart()
  const agent = await connect({ url: server.httpUrl, workspace: WS, token: await mintToken('agent', 'editor', WS, { kind: 'agent' }) })
  const lock = await agent.locks.acquire('deploy')
  const granted = await waitFor(() => hooks!.ofType('lock.granted')[0], 10_000, 'the lock.granted delivery')
  const event = await verifyWebhook(created.secret, granted.headers, granted.body)
  assert.is(event.type, 'lock.granted')
  await lock.release()
  await agent.close()
  await server.stop()

  const other = await TestServer.start({ args: ALLOW, dataDir: server.dataDir, secret: OTHER_SECRET })
  servers.push(other)
  const token = await adminToken(OTHER_SECRET)
  const shown = await callApi(other, 'GET', `/api/workspaces/${WS}/webhooks/${created.id}`, token)
  assert.is(shown.status, 200)
  assert.is(shown.body.enabled, false)
  assert.match(JSON.stringify(shown.body.disabled), /sealed under another server secret.*create it again/)
  const retried = await callApi(other, 'POST', `/api/workspaces/${WS}/webhooks/${created.id}/redeliver`, token, { from: 1 })
  assert.is(retried.status, 409)
  assert.match(String(retried.body.error), /sealed under another server secret/)
})

function adminToken(secret: string): Promise<string> {
  return signToken(new TextEncoder().encode(secret), { actor: 'root', workspace: WS, role: 'admin', kind: 'human', ttlMs: 3_600_000 })
}

test.run()
