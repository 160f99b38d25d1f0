// Automatic versions against a real server: a changed document gets a version once it has been
// quiet, with the actors who changed it; changes a kill -9 left without a version get one after the
// restart, attributed from the records written with them. And retention's rule on plain data.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { IdIndex, mergeRecords } from '../server/history/attribution.js'
import { expiredVersions } from '../server/history/retention.js'
import { connectPeer, mintToken, waitFor } from './helpers/clients.js'
import type { TestServer } from './helpers/server.js'
import { withServer } from './helpers/suite.js'

const WS = 'histauto'
let server: TestServer

withServer(test, (started) => (server = started), { args: ['--history-quiet', '300ms', '--history-max', '1h'] })

async function versions(token: string, path: string): Promise<Array<Record<string, any>>> {
  const response = await fetch(`${server.httpUrl}/api/workspaces/${WS}/docs/${path}/versions`, { headers: { authorization: `Bearer ${token}` } })
  const body = (await response.json()) as { versions?: Array<Record<string, any>> }
  return body.versions ?? []
}

test('a changed document gets a version once quiet, naming who changed it', async () => {
  const ann = await mintToken('ann', 'editor', WS)
  const bot = await mintToken('bot', 'editor', WS, { kind: 'agent' })
  const annPeer = await connectPeer(server, `${WS}/auto`, { token: ann })
  const botPeer = await connectPeer(server, `${WS}/auto`, { token: bot })
  annPeer.doc.getText('body').insert(0, 'one\n')
  botPeer.doc.getMap('meta').set('status', 'draft')
  const [first] = await waitFor(
    async () => {
      const list = await versions(ann, 'auto')
      return list.length > 0 && list[0]!.actors.length === 2 ? list : null
    },
    10_000,
    'an automatic version with both writers',
  )
  assert.equal([first!.reason, first!.actors.map((a: { id: string }) => a.id)], ['auto', ['ann', 'bot']])
  annPeer.destroy()
  botPeer.destroy()
})

test('changes a kill -9 left without a version get one after the restart, with their writers', async () => {
  await server.kill()
  await server.restart({ args: ['--history-quiet', '1h', '--history-max', '2h'] })
  const ann = await mintToken('ann', 'editor', WS)
  const peer = await connectPeer(server, `${WS}/crash`, { token: ann })
  peer.doc.getText('body').insert(0, 'written just before the crash\n')
  await waitFor(
    async () => (await fetch(`${server.httpUrl}/api/workspaces/${WS}/docs/crash/blame`, { headers: { authorization: `Bearer ${ann}` } })).status === 200,
    5000,
    'the write to be stored',
  )
  assert.equal(await versions(ann, 'crash'), [], 'no version yet: the quiet timer is an hour')
  peer.destroy()
  await server.kill()
  await server.restart({ args: ['--history-quiet', '300ms', '--history-max', '1h'] })
  const viewer = await mintToken('vic', 'viewer', WS)
  const reader = await connectPeer(server, `${WS}/crash`, { token: viewer })
  const [version] = await waitFor(
    async () => {
      const list = await versions(viewer, 'crash')
      return list.length > 0 ? list : null
    },
    10_000,
    'a version of the changes from before the crash',
  )
  assert.equal(
    version!.actors.map((a: { id: string }) => a.id),
    ['ann'],
  )
  reader.destroy()
})

test('retention keeps everything for keepAll, then the newest per hour, then per day; labelled and newest always', () => {
  const hour = 3_600_000
  const day = 24 * hour
  const now = 100 * day + 12 * hour
  const policy = { keepAllMs: 2 * day, hourlyMs: 10 * day }
  const versions = [
    { id: 1, at: now - 20 * day - 1000 },
    { id: 2, at: now - 20 * day - 500, label: 'release' },
    { id: 3, at: now - 20 * day },
    { id: 4, at: now - 5 * day - 2 * 60_000 },
    { id: 5, at: now - 5 * day - 60_000 },
    { id: 6, at: now - day },
    { id: 7, at: now - day + 1 },
  ]
  // 20 days old: one per day (3 is the newest of its day; 2 is labelled); 5 days: one per hour.
  assert.equal(expiredVersions(versions, now, policy).sort(), [1, 4])
  assert.equal(expiredVersions([{ id: 1, at: 0 }], now, policy), [], 'the newest version is kept')
})

test("attribution compaction merges one session's keystrokes within the window and keeps who wrote every id", () => {
  const record = (seq: number, at: number, actor: string, clock: number) => ({
    seq,
    at,
    actor,
    session: `${actor}-s`,
    inserted: [[7, clock, 1]] as [number, number, number][],
    deleted: [],
  })
  const records = [
    record(0, 0, 'ann', 0),
    record(1, 1000, 'ann', 1),
    record(2, 2000, 'ann', 2),
    record(3, 2500, 'bob', 3),
    record(4, 3000, 'ann', 4),
    record(5, 90_000, 'ann', 5),
  ]
  const { merged, dropped } = mergeRecords(records, 60_000)
  assert.equal(dropped, [0, 1])
  assert.equal(
    merged.map((r) => [r.seq, r.at, r.inserted]),
    [[2, 2000, [[7, 0, 3]]]],
  )
  const kept = [...records.filter((r) => !dropped.includes(r.seq) && r.seq !== 2), ...merged].sort((a, b) => a.seq - b.seq)
  const index = new IdIndex(kept, 'inserted')
  assert.equal(
    index.segments(7, 0, 6).map((s) => [s.length, s.record?.actor]),
    [
      [3, 'ann'],
      [1, 'bob'],
      [1, 'ann'],
      [1, 'ann'],
    ],
  )
})

test.run()
