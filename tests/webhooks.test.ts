// Webhooks against a real server and a real local HTTP receiver: the ping on creation, signed
// events that verify with the client library's verifyWebhook, retries with the same webhook-id,
// order kept across retries, 410 disabling the endpoint, redelivery from the log, the Slack
// format, and refusals of bad input.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { connect, type Huddle, verifyWebhook } from '../client-lib/node.js'
import { adminGet, callApi, createWebhook } from './fixtures/webhooks-api.js'
import { type Received, Receiver } from './fixtures/webhook-receiver.js'
import { mintToken, waitFor } from './helpers/clients.js'
import type { TestServer } from './helpers/server.js'
import { withServer } from './helpers/suite.js'

let server: TestServer
const receivers: Receiver[] = []
const clients: Huddle[] = []

test.after(async () => {
  for (const client of clients.splice(0)) await client.close()
  for (const receiver of receivers.splice(0)) await receiver.close()
})
// a compressed retry schedule (5 ms, 300 ms, 1.8 s, …), a 2 s answer timeout, lock.waiting after 300 ms
withServer(test, (started) => (server = started), {
  args: ['--webhooks-allow-private', '--webhooks-retry-scale', '0.001', '--webhooks-timeout', '2s', '--lock-waiting-after', '300ms'],
})

async function receiver(): Promise<Receiver> {
  const started = await Receiver.start()
  receivers.push(started)
  return started
}

async function agent(workspace: string): Promise<Huddle> {
  const huddle = await connect({ url: server.httpUrl, workspace, token: await mintToken('ci-bot', 'editor', workspace, { kind: 'agent' }) })
  clients.push(huddle)
  return huddle
}

const seqOf = (request: Received) => request.json?.seq as number

test('a new endpoint gets a signed ping that verifies with its secret', async () => {
  const hooks = await receiver()
  const created = await createWebhook(server, 'wh-ping', { url: hooks.url, events: ['approval.*'] })
  assert.match(created.secret, /^whsec_/)
  const ping = await waitFor(() => hooks.ofType('ping')[0], 10_000, 'the ping arrives')
  const event = await verifyWebhook(created.secret, ping!.headers, ping!.body)
  assert.is(event.type, 'ping')
  assert.is(event.workspace, 'wh-ping')
  assert.is(event.id, `wh-ping:${event.seq}`)
  assert.equal((event.data as { id: string }).id, created.id)
  assert.match(event.hash, /^[0-9a-f]{64}$/)
  // another secret does not verify it
  const other = await createWebhook(server, 'wh-ping', { url: hooks.url, events: ['lock.*'] })
  const error = await verifyWebhook(other.secret, ping!.headers, ping!.body).then(
    () => null,
    (thrown: Error) => thrown,
  )
  assert.match(String(error?.message), /no signature matches/)
})

test('approval.requested arrives signed with the title; the delivery log records it', async () => {
  const hooks = await receiver()
  const created = await createWebhook(server, 'wh-approve', {
    url: hooks.url,
    events: ['approval.requested'],
    secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
  })
  await waitFor(() => hooks.ofType('ping').length === 1, 10_000, 'the ping arrives')
  const bot = await agent('wh-approve')
  const handle = await bot.approvals.request({ title: 'Deploy v2', action: 'deploy' })
  const delivery = await waitFor(() => hooks.ofType('approval.requested')[0], 10_000, 'approval.requested arrives')
  const event = await verifyWebhook(created.secret, delivery!.headers, delivery!.body)
  assert.is(event.actor, 'ci-bot')
  assert.is((event.data as { title: string }).title, 'Deploy v2')
  assert.is((event.data as { key: string }).key, handle.key)
  // only the subscribed type (plus the ping) was sent: no session.joined, no lock events
  assert.equal([...new Set(hooks.received.map((request) => request.json?.type))], ['ping', 'approval.requested'])
  const log = await adminGet(server, 'wh-approve', `webhooks/${created.id}/deliveries`)
  const records = log.deliveries as Array<{ ids: string[]; status: string; code: number }>
  assert.equal(
    records.map((record) => [record.ids[0], record.status, record.code]),
    [
      [event.id, 'delivered', 200],
      [String(hooks.ofType('ping')[0]!.headers['webhook-id']), 'delivered', 200],
    ],
  )
})

test('a 500 is retried with the same webhook-id, and later events wait behind it in order', async () => {
  const hooks = await receiver()
  let failures = 0
  // the first lock.granted fails three times
  hooks.respond = (request) => (request.json?.type === 'lock.granted' && failures++ < 3 ? 500 : 200)
  const created = await createWebhook(server, 'wh-retry', { url: hooks.url, events: ['lock.granted'] })
  const bot = await agent('wh-retry')
  for (const resource of ['a', 'b', 'c']) await (await bot.locks.acquire(resource)).release()
  await waitFor(
    () => hooks.ofType('lock.granted').filter((request) => request.status === 200).length === 3,
    15_000,
    () => `three grants delivered; got ${JSON.stringify(hooks.received.map((r) => [r.json?.type, r.status]))}`,
  )
  const grants = hooks.ofType('lock.granted')
  assert.is(grants.length, 6, 'three failed attempts and three deliveries')
  const firstId = grants[0]!.headers['webhook-id']
  assert.equal(
    grants.slice(0, 4).map((request) => request.headers['webhook-id']),
    [firstId, firstId, firstId, firstId],
    'same webhook-id on every retry',
  )
  assert.equal(
    grants.map((request) => request.status),
    [500, 500, 500, 200, 200, 200],
  )
  const seqs = grants.map(seqOf)
  assert.ok(seqs[3]! < seqs[4]! && seqs[4]! < seqs[5]!, `in audit order: ${seqs}`)
  assert.equal(
    grants.slice(3).map((request) => (request.json!.data as { resources: string[] }).resources),
    [['a'], ['b'], ['c']],
  )
  const { webhooks } = await adminGet(server, 'wh-retry', 'webhooks')
  const health = (webhooks as Array<{ id: string; health: { failures: number; lastSuccessAt: number | null; attempts: number } }>).find(
    (hook) => hook.id === created.id,
  )!.health
  assert.is(health.failures, 3)
  assert.is(health.attempts, 0)
  assert.ok(health.lastSuccessAt !== null)
})

test('a receiver answering 3xx, garbage or nothing fails the attempt; the event is then delivered', async () => {
  const hooks = await receiver()
  const answers: Array<number | 'hang' | 'garbage'> = [302, 'garbage', 'hang']
  hooks.respond = () => answers.shift() ?? 200
  const created = await createWebhook(server, 'wh-broken', { url: hooks.url, events: ['approval.requested'] })
  await waitFor(() => hooks.received.some((request) => request.status === 200), 20_000, 'the ping is delivered in the end')
  const { deliveries } = await adminGet(server, 'wh-broken', `webhooks/${created.id}/deliveries`)
  const records = (deliveries as Array<{ status: string; code?: number; error?: string; attempt: number }>).reverse()
  assert.equal(
    records.map((record) => [record.status, record.attempt]),
    [
      ['failed', 1],
      ['failed', 2],
      ['failed', 3],
      ['delivered', 4],
    ],
  )
  assert.match(String(records[0]!.error), /redirect \(302\) not followed/)
  assert.ok(records[1]!.code === undefined && records[1]!.error, `garbage is an error without a status: ${JSON.stringify(records[1])}`)
  assert.match(String(records[2]!.error), /no answer within 2000 ms/)
  assert.is(new Set(hooks.received.map((request) => request.headers['webhook-id'])).size, 1, 'all attempts carry the same webhook-id')
})

test('a 429 with Retry-After puts the next attempt that far off', async () => {
  const hooks = await receiver()
  hooks.respond = (_request, index) => (index === 0 ? { status: 429, headers: { 'retry-after': '2' } } : 200)
  const created = await createWebhook(server, 'wh-slow-down', { url: hooks.url, events: ['*'] })
  const failed = await waitFor(
    async () => {
      const hook = await adminGet(server, 'wh-slow-down', `webhooks/${created.id}`)
      return (hook.health as { attempts: number }).attempts === 1 ? (hook.health as { lastFailureAt: number; nextAttemptAt: number }) : null
    },
    10_000,
    'the 429 is recorded',
  )
  assert.ok(
    failed.nextAttemptAt - failed.lastFailureAt >= 2000,
    `next attempt ${failed.nextAttemptAt - failed.lastFailureAt} ms after the 429, not the schedule's 5 ms`,
  )
  await waitFor(() => hooks.received.length === 2 && hooks.received[1]!.status === 200, 10_000, 'delivered after the pause')
})

test('lock.waiting: a claim still queued after the threshold is reported once, a granted one never', async () => {
  const hooks = await receiver()
  await createWebhook(server, 'wh-wait', { url: hooks.url, events: ['lock.waiting', 'lock.granted'] })
  const holder = await agent('wh-wait')
  const lock = await holder.locks.acquire('deploy')
  const waiter = await agent('wh-wait')
  const queued = waiter.locks.acquire('deploy')
  const report = await waitFor(() => hooks.ofType('lock.waiting')[0], 10_000, 'lock.waiting arrives')
  const data = report.json!.data as { resources: string[]; waitedMs: number; key: string }
  assert.equal(data.resources, ['deploy'])
  assert.ok(data.key.startsWith(waiter.session), data.key)
  await lock.release()
  await (await queued).release()
  await waitFor(() => hooks.ofType('lock.granted').length === 2, 10_000, 'both grants arrive')
  assert.is(hooks.ofType('lock.waiting').length, 1)
})

test('410 Gone disables the endpoint and an endpoint.disabled audit entry says why', async () => {
  const hooks = await receiver()
  hooks.respond = () => 410
  const created = await createWebhook(server, 'wh-gone', { url: hooks.url, events: ['*'] })
  const view = await waitFor(
    async () => {
      const hook = await adminGet(server, 'wh-gone', `webhooks/${created.id}`)
      return hook.enabled === false ? hook : null
    },
    10_000,
    'the endpoint is disabled',
  )
  assert.match(String((view.disabled as { reason: string }).reason), /410/)
  const { entries } = await adminGet(server, 'wh-gone', 'audit')
  const disabled = (entries as Array<{ type: string; data: { id: string } }>).find((entry) => entry.type === 'endpoint-disabled')
  assert.is(disabled?.data.id, created.id)
  assert.is(hooks.received.length, 1, 'nothing more is sent')
})

test('redelivery resends an event by id with the same webhook-id, and everything from a sequence number', async () => {
  const hooks = await receiver()
  const created = await createWebhook(server, 'wh-again', { url: hooks.url, events: ['approval.requested'] })
  const bot = await agent('wh-again')
  await bot.approvals.request({ title: 'one', action: 'x' })
  await bot.approvals.request({ title: 'two', action: 'x' })
  await waitFor(() => hooks.ofType('approval.requested').length === 2, 10_000, 'both requests arrive')
  const [first, second] = hooks.ofType('approval.requested')
  const token = await mintToken('root', 'admin', 'wh-again')
  const again = await callApi(server, 'POST', `/api/workspaces/wh-again/webhooks/${created.id}/redeliver`, token, { ids: [first!.headers['webhook-id']] })
  assert.is(again.status, 200)
  await waitFor(() => hooks.ofType('approval.requested').length === 3, 10_000, 'the redelivery arrives')
  assert.is(hooks.ofType('approval.requested')[2]!.headers['webhook-id'], first!.headers['webhook-id'])
  const from = await callApi(server, 'POST', `/api/workspaces/wh-again/webhooks/${created.id}/redeliver`, token, { from: seqOf(first!) })
  assert.is(from.status, 200)
  await waitFor(() => hooks.ofType('approval.requested').length === 5, 10_000, 'both are sent again, in order')
  assert.equal(
    hooks
      .ofType('approval.requested')
      .slice(3)
      .map((request) => request.headers['webhook-id']),
    [first!.headers['webhook-id'], second!.headers['webhook-id']],
  )
  const log = await adminGet(server, 'wh-again', `webhooks/${created.id}/deliveries`)
  assert.ok((log.deliveries as Array<{ redelivery: boolean }>).some((record) => record.redelivery))
})

test('slack format: an incoming-webhook message with text, blocks and a link to the approval card', async () => {
  const hooks = await receiver()
  await createWebhook(server, 'wh-slack', { url: hooks.url, events: ['approval.requested'], format: 'slack' })
  const bot = await agent('wh-slack')
  const handle = await bot.approvals.request({ title: 'Ship the release', action: 'release' })
  const message = await waitFor(
    () => hooks.received.find((request) => /Ship the release/.test(String(request.json?.text))),
    10_000,
    'the Slack message arrives',
  )
  assert.match(String(message.json!.text), /ci-bot asks for approval: Ship the release \(release\)/)
  const blocks = message.json!.blocks as Array<{ type: string; text: { type: string; text: string } }>
  assert.is(blocks[0]!.type, 'section')
  assert.is(blocks[0]!.text.type, 'mrkdwn')
  assert.ok(
    blocks.some((block) => block.text.text.includes(`/w/wh-slack?panel=approvals&approval=${encodeURIComponent(handle.key)}|open in Huddle>`)),
    JSON.stringify(blocks),
  )
  assert.is(message.headers['webhook-signature'], undefined, 'Slack gets no signature headers')
})

test('bad input: 400 with the reason, unknown event types listed, non-admins 403', async () => {
  const admin = await mintToken('root', 'admin', 'wh-bad')
  const post = (body: unknown, token = admin) => callApi(server, 'POST', '/api/workspaces/wh-bad/webhooks', token, body)
  const cases: Array<[unknown, RegExp]> = [
    [{ url: 'ftp://example.com/x', events: ['*'] }, /http or https/],
    [{ url: `https://example.com/${'a'.repeat(2100)}`, events: ['*'] }, /at most 2048/],
    [{ url: 'not a url', events: ['*'] }, /not a URL/],
    [{ url: 'https://example.com/x', events: ['approval.requestd'] }, /unknown event type "approval.requestd".*approval\.requested/],
    [{ url: 'https://example.com/x', events: [] }, /non-empty array/],
    [{ url: 'https://example.com/x', events: ['*'], format: 'teams' }, /format must be/],
    [{ url: 'https://example.com/x', events: ['*'], secret: 'hunter2' }, /whsec_/],
  ]
  for (const [body, reason] of cases) {
    const answer = await post(body)
    assert.is(answer.status, 400, JSON.stringify(body).slice(0, 80))
    assert.match(String(answer.body.error), reason)
  }
  const { entries } = await adminGet(server, 'wh-bad', 'audit')
  const audited = (entries as Array<{ type: string; actor: string; data: { reason: string } }>).filter((entry) => entry.type === 'refused')
  assert.is(audited.length, cases.length, 'each refusal is audited')
  assert.match(audited[0]!.data.reason, /http or https/)
  const editor = await post({ url: 'https://example.com/x', events: ['*'] }, await mintToken('eve', 'approver', 'wh-bad'))
  assert.is(editor.status, 403)
  const list = await callApi(server, 'GET', '/api/workspaces/wh-bad/webhooks', await mintToken('eve', 'approver', 'wh-bad'))
  assert.is(list.status, 403)
  const missing = await callApi(server, 'DELETE', '/api/workspaces/wh-bad/webhooks/wh_nope', admin)
  assert.is(missing.status, 404)
})

test('delete stops deliveries and removes the endpoint from the list', async () => {
  const hooks = await receiver()
  const created = await createWebhook(server, 'wh-delete', { url: hooks.url, events: ['session.joined'] })
  await waitFor(() => hooks.ofType('ping').length === 1, 10_000, 'the ping arrives')
  const answer = await callApi(server, 'DELETE', `/api/workspaces/wh-delete/webhooks/${created.id}`, await mintToken('root', 'admin', 'wh-delete'))
  assert.is(answer.status, 200)
  assert.equal((await adminGet(server, 'wh-delete', 'webhooks')).webhooks, [])
  await agent('wh-delete')
  const { entries } = await adminGet(server, 'wh-delete', 'audit')
  assert.ok(
    (entries as Array<{ type: string }>).some((entry) => entry.type === 'join'),
    'the join was audited',
  )
  assert.is(hooks.ofType('session.joined').length, 0)
})

test.run()
