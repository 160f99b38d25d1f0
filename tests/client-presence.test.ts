// The client library's presence and audit against a real server: who is online (humans and
// agents, with status and activity), presence updates checked before sending, and following the
// audit log as it grows.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { type AuditEntry, type Huddle, HuddleError } from '../client-lib/node.js'
import { waitFor, withTimeout } from './helpers/clients.js'
import type { TestServer } from './helpers/server.js'
import { libraryClients, withServer } from './helpers/suite.js'
import type { Kind, Role } from '../shared/roles.js'

const WS = 'presence'
let server: TestServer
const connectAs = libraryClients(test, WS, () => server)
withServer(test, (started) => (server = started))

function client(actor: string, role: Role, kind: Kind = 'human', name?: string): Promise<Huddle> {
  return connectAs(actor, role, { kind, ...(name ? { name } : {}) })
}

test('list shows every online actor, human or agent, with status and activity; updates arrive', async () => {
  const [ann, bot] = await Promise.all([client('ann', 'approver', 'human', 'Ann Lee'), client('ci-bot', 'editor', 'agent')])
  bot.presence.set({ activity: 'testing', viewing: 'src/app.ts' })
  await waitFor(() => ann.presence.list().find((m) => m.actor === 'ci-bot')?.activity === 'testing', 3000, 'ann sees the agent testing')
  const members = ann.presence.list()
  assert.equal(
    members.map((m) => [m.actor, m.kind, m.role]),
    [
      ['ann', 'human', 'approver'],
      ['ci-bot', 'agent', 'editor'],
    ],
  )
  const annSelf = members.find((m) => m.actor === 'ann')!
  assert.ok(annSelf.self)
  assert.is(annSelf.name, 'Ann Lee')
  const agent = members.find((m) => m.actor === 'ci-bot')!
  assert.is(agent.status, 'active')
  assert.is(agent.viewing, 'src/app.ts')
  assert.not.ok(agent.self)

  let changes = 0
  const off = ann.presence.onChange(() => changes++)
  bot.presence.set({ status: 'away', activity: null })
  await waitFor(() => ann.presence.list().find((m) => m.actor === 'ci-bot')?.status === 'away', 3000, 'ann sees the agent away')
  assert.is(ann.presence.list().find((m) => m.actor === 'ci-bot')!.activity, undefined, 'null cleared the activity')
  assert.ok(changes > 0)
  off()

  const sessions = await ann.api.sessions()
  assert.is(sessions[bot.session]?.actor, 'ci-bot', 'the REST API lists sessions too')
  await bot.close()
  await waitFor(() => !ann.presence.list().some((m) => m.actor === 'ci-bot'), 3000, 'the agent leaves the list')
})

test('two sessions of one actor are one member; the most present status wins', async () => {
  const [viewer, one, two] = await Promise.all([client('val', 'viewer'), client('dev', 'editor'), client('dev', 'editor')])
  one.presence.set({ status: 'idle' })
  two.presence.set({ status: 'active', activity: 'editing' })
  await waitFor(() => viewer.presence.list().find((m) => m.actor === 'dev')?.activity === 'editing', 3000, 'both sessions arrive')
  const dev = viewer.presence.list().find((m) => m.actor === 'dev')!
  assert.is(dev.sessions.length, 2)
  assert.is(dev.status, 'active')
})

test('bad presence is refused before sending', async () => {
  const ann = await client('ann', 'editor')
  const cases: Array<[unknown, RegExp]> = [
    [{ status: 'busy' }, /status must be one of active, idle, away/],
    [{ activity: 42 }, /activity must be a string/],
    [{ user: { id: 'mallory' } }, /cannot set user/],
  ]
  for (const [update, message] of cases) {
    try {
      ann.presence.set(update as never)
      assert.unreachable('set should throw')
    } catch (error) {
      assert.instance(error, HuddleError)
      assert.is((error as HuddleError).code, 'invalid-argument')
      assert.match((error as HuddleError).message, message)
    }
  }
})

test('audit: read pages, tail, and follow new entries as they are written', async () => {
  const ann = await client('ann', 'editor')
  const lock = await ann.locks.acquire('audited')
  await lock.release()
  const tail = await ann.audit.tail(3)
  assert.is(tail.length, 3)
  assert.ok(tail[0]!.seq < tail[2]!.seq)
  const page = await ann.audit.read({ after: 0, limit: 2 })
  assert.equal(
    page.map((e) => e.seq),
    [1, 2],
  )

  const activity: string[] = []
  const offActivity = ann.onActivity((entry) => activity.push(entry.type))
  const stop = new AbortController()
  const seen: AuditEntry[] = []
  // A poll every 10 minutes: an entry that shows up within the wait was brought by the activity array.
  const following = (async () => {
    for await (const entry of ann.audit.follow({ after: tail[2]!.seq, signal: stop.signal, pollMs: 600_000 })) seen.push(entry)
  })()
  const again = await ann.locks.acquire('audited', { note: 'second time' }).catch(async (error: Error) => {
    stop.abort()
    await following
    throw error
  })
  try {
    await waitFor(
      () => seen.some((e) => e.type === 'grant' && e.data?.token === again.token),
      30_000,
      'the grant shows up in the followed log (woken by the activity array)',
    )
    assert.ok(activity.includes('grant'), 'onActivity reports the same events live')
  } finally {
    offActivity()
    stop.abort()
    await following
  }
  await again.release()
  const badPage = await ann.audit.read({ limit: 5000 }).catch((error: HuddleError) => error)
  assert.match((badPage as HuddleError).message, /limit must be a whole number from 1 to 1000/)
})

test('audit.follow ends quietly when its client closes, even with a poll far off', async () => {
  const cal = await client('cal', 'editor')
  const seen: AuditEntry[] = []
  const following = (async () => {
    for await (const entry of cal.audit.follow({ pollMs: 600_000 })) seen.push(entry)
  })()
  await waitFor(() => seen.length > 0, 30_000, 'the follower read the existing entries')
  await cal.close()
  await withTimeout(following, 30_000, 'the follower of a closed client to end')
})

test('onActivity reports every entry once and in order, also after the array was trimmed past its 300 entries', async () => {
  const ann = await client('ann', 'editor')
  const bob = await client('bob', 'editor')
  const seqs: number[] = []
  const off = ann.onActivity((entry) => seqs.push(entry.seq))
  // each acquire + release appends 3 entries (claim, grant, release)
  for (let i = 0; i < 120; i++) await (await bob.locks.acquire(`busy/${i % 3}`)).release()
  const last = (await ann.audit.tail(1))[0]!.seq
  await waitFor(
    () => seqs.at(-1) === last,
    5000,
    () => `onActivity stopped at ${seqs.at(-1)}, the log is at ${last}`,
  )
  off()
  assert.ok(seqs.length > 300, `${seqs.length} entries reported`)
  const gaps = seqs.slice(1).filter((seq, i) => seq !== seqs[i]! + 1)
  assert.equal(gaps, [], 'every entry once, in order')
})

test.run()
