// The audit log is the outbox: a kill -9 of the server while an event is on its way (committed,
// sent, not yet answered) loses nothing — after a restart the same event is delivered with the
// same webhook-id, the events queued behind it follow in order, and what was delivered before
// the crash is not sent again.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { connect, type Huddle, verifyWebhook } from '../client-lib/node.js'
import { adminGet, createWebhook } from './fixtures/webhooks-api.js'
import { Receiver } from './fixtures/webhook-receiver.js'
import { mintToken, waitFor } from './helpers/clients.js'
import { TestServer } from './helpers/server.js'

const WS = 'wh-crash'
let server: TestServer | undefined
let hooks: Receiver | undefined
let bot: Huddle | undefined

test.after(async () => {
  await bot?.close()
  await hooks?.close()
  await server?.dispose()
})

test('kill -9 between commit and delivery: the events are delivered after the restart, in order', async () => {
  server = await TestServer.start({ args: ['--webhooks-allow-private', '--webhooks-retry-scale', '0.001'] })
  hooks = await Receiver.start()
  // the first approval.requested is never answered: the server dies with it in flight
  let hung = false
  hooks.respond = (request) => {
    if (request.json?.type !== 'approval.requested' || hung) return 200
    hung = true
    return 'hang'
  }
  const created = await createWebhook(server, WS, { url: hooks.url, events: ['approval.requested'] })
  await waitFor(() => hooks!.ofType('ping').length === 1, 10_000, 'the ping arrives')
  bot = await connect({ url: server.httpUrl, workspace: WS, token: await mintToken('ci-bot', 'editor', WS, { kind: 'agent' }), maxBackoffMs: 200 })
  await bot.approvals.request({ title: 'first', action: 'x' })
  await waitFor(() => hooks!.ofType('approval.requested').length === 1, 10_000, 'the first request is in flight')
  await bot.approvals.request({ title: 'second', action: 'x' })
  // the second is committed (the dashboard's REST view shows it) but waits behind the first
  await waitFor(async () => Object.keys((await adminGet(server!, WS, 'approvals')).approvals as object).length === 2, 10_000, 'both requests committed')
  await bot.close()
  await server.kill()
  assert.is(hooks.ofType('approval.requested').length, 1, 'the second was not sent before the crash')

  await server.restart()
  const delivered = await waitFor(
    () => {
      const ok = hooks!.ofType('approval.requested').filter((request) => request.status === 200)
      return ok.length === 2 ? ok : null
    },
    15_000,
    () => `both requests delivered after the restart; got ${JSON.stringify(hooks!.received.map((r) => [r.json?.type, r.status]))}`,
  )
  const first = hooks.ofType('approval.requested')[0]!
  assert.is(delivered[0]!.headers['webhook-id'], first.headers['webhook-id'], 'the in-flight event again, with the same webhook-id')
  const events = await Promise.all(delivered.map((request) => verifyWebhook(created.secret, request.headers, request.body)))
  assert.equal(
    events.map((event) => (event.data as { title: string }).title),
    ['first', 'second'],
  )
  assert.ok(events[0]!.seq < events[1]!.seq)
  assert.is(hooks.ofType('ping').length, 1, 'the ping, delivered before the crash, is not sent again')
})

test.run()
