// `huddle inbox` (what waits for the person: votes, queued claims, own requests) and `huddle
// watch` (events as JSON lines, filtered by --events) against a real server.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import type { Huddle } from '../client-lib/node.js'
import { CliProcess, cliEnv } from './fixtures/client-cli.js'
import { runCli, type TestServer } from './helpers/server.js'
import { libraryClients, withServer } from './helpers/suite.js'
import type { Kind, Role } from '../shared/roles.js'

const WS = 'cli-inbox'
let server: TestServer
const connectAs = libraryClients(test, WS, () => server)
withServer(test, (started) => (server = started))

function client(actor: string, role: Role, kind: Kind = 'human'): Promise<Huddle> {
  return connectAs(actor, role, { kind })
}

async function inbox(actor: string, role: Role, kind: Kind = 'human'): Promise<Array<{ kind: string; title: string; detail: string; link?: string }>> {
  const run = await runCli(['inbox', '--json'], { env: await cliEnv(server, WS, actor, role, kind) })
  assert.is(run.code, 0, run.stderr)
  return JSON.parse(run.stdout)
}

test('inbox: a vote for the eligible approver with the card link, the request for its requester, a queued claim for its waiter', async () => {
  const empty = await runCli(['inbox'], { env: await cliEnv(server, WS, 'bob', 'approver') })
  assert.is(empty.stdout, 'nothing waits for you\n')
  const bot = await client('ci-bot', 'editor', 'agent')
  const handle = await bot.approvals.request({ title: 'Deploy v9', action: 'deploy', approvers: ['bob'] })
  const bobs = await inbox('bob', 'approver')
  assert.equal(
    bobs.map((item) => [item.kind, item.title]),
    [['vote', 'Deploy v9']],
  )
  assert.is(bobs[0]!.link, `${server.httpUrl}/w/${WS}?panel=approvals&approval=${encodeURIComponent(handle.key)}`)
  assert.equal(await inbox('carol', 'approver'), [], 'carol is not among the approvers')
  assert.equal(
    (await inbox('ci-bot', 'editor', 'agent')).map((item) => [item.kind, item.detail]),
    [['requested', 'waiting for 1 more approval']],
  )
  const table = await runCli(['inbox'], { env: await cliEnv(server, WS, 'bob', 'approver') })
  assert.match(table.stdout, /vote\s+\S+\s+Deploy v9/)

  const lock = await bot.locks.acquire('db')
  const dana = await client('dana', 'editor')
  const waiting = dana.locks.acquire('db')
  let danas: Awaited<ReturnType<typeof inbox>> = []
  for (let tries = 0; tries < 100 && danas.length === 0; tries++) danas = await inbox('dana', 'editor')
  assert.equal(
    danas.map((item) => [item.kind, item.title, item.detail]),
    [['waiting', 'db', 'held by ci-bot']],
  )
  await lock.release()
  await (await waiting).release()
  assert.equal(await inbox('dana', 'editor'), [])
})

test('watch prints the chosen events as JSON lines; unknown types are refused with the known ones', async () => {
  const bad = await runCli(['watch', '--events', 'approval.request'], { env: await cliEnv(server, WS, 'eve', 'viewer') })
  assert.is(bad.code, 1)
  assert.match(bad.stderr, /unknown event type "approval.request".*approval\.requested/)
  const watch = new CliProcess(['watch', '--events', 'approval.*,lock.granted'], await cliEnv(server, WS, 'eve', 'viewer'))
  try {
    await watch.waitOutput(/watching cli-inbox for approval\.\*, lock\.granted after audit entry #\d+/, 'stderr', 15_000)
    const bot = await client('ci-bot', 'editor', 'agent')
    const handle = await bot.approvals.request({ title: 'Rotate keys', action: 'rotate' })
    const line = await watch.waitOutput(/^(\{"id":"cli-inbox:\d+","type":"approval\.requested".*)$/m, 'stdout', 15_000)
    const event = JSON.parse(line[1]!) as { type: string; workspace: string; actor: string; data: { key: string; title: string }; hash: string }
    assert.is(event.workspace, WS)
    assert.is(event.actor, 'ci-bot')
    assert.is(event.data.key, handle.key)
    assert.match(event.hash, /^[0-9a-f]{64}$/)
    await (await bot.locks.acquire('cache')).release()
    await watch.waitOutput(/"type":"lock\.granted"/, 'stdout', 15_000)
    const types = watch.stdout
      .trim()
      .split('\n')
      .map((text) => (JSON.parse(text) as { type: string }).type)
    assert.ok(
      types.every((type) => type.startsWith('approval.') || type === 'lock.granted'),
      types.join(' '),
    )
  } finally {
    watch.child.kill('SIGINT')
    await watch.exit()
  }
})

test.run()
