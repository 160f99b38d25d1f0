// Attribution records merge per writer within one LevelDB batch (server/store/group-commit.ts,
// server/history/record-put.ts). In process on a real LevelDB: two writers interleaving updates in
// one turn get one record each, holding exactly their own ids, and a later batch starts new
// records. Against a real server: a kill -9 amid two writers leaves every stored line blamed on
// the writer who wrote it (nothing persisted unattributed, nothing attributed to the wrong one).
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import * as Y from 'yjs'
import { IdIndex } from '../server/history/attribution.js'
import { HistoryRecorder, readAttribution } from '../server/history/recorder.js'
import { RecordPut } from '../server/history/record-put.js'
import type { Writer } from '../server/rooms/hooks.js'
import { Store, UpdateBatch } from '../server/store/index.js'
import { connectPeer, mintToken, waitFor } from './helpers/clients.js'
import type { TestServer } from './helpers/server.js'
import { withServer } from './helpers/suite.js'

const WS = 'histbatch'
let server: TestServer

withServer(test, (started) => (server = started), { args: ['--history-quiet', '1h', '--history-max', '2h'] })

const writer = (actor: string): Writer => ({ identity: { actor, name: actor, kind: 'human', role: 'editor', workspace: WS }, session: `${actor}-session` })

test('two writers interleaving in one batch get one record each, with exactly their own ids; the next batch starts new ones', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'huddle-hist-batch-'))
  const store = await Store.open({ dir, durability: 'os' })
  try {
    const room = { room: `${WS}/inproc`, workspace: WS, path: 'inproc' }
    const recorder = new HistoryRecorder(store, { quietMs: 3_600_000, maxMs: 7_200_000, retention: { keepAllMs: 3_600_000, hourlyMs: 7_200_000 } })
    await store.loadDoc(room.room)
    await recorder.beforeLoad(room)
    const doc = new Y.Doc()
    recorder.onLoad(room, doc)
    const clients = new Map([
      ['ann', new Y.Doc()],
      ['bob', new Y.Doc()],
    ])
    // What the room does with a client's update: apply it, then record and queue it in the same turn.
    const write = (actor: string, edit: (text: Y.Text) => void): Promise<void> => {
      const client = clients.get(actor)!
      Y.applyUpdate(client, Y.encodeStateAsUpdate(doc))
      const before = Y.encodeStateVector(client)
      edit(client.getText('body'))
      let applied: { update: Uint8Array; transaction: Y.Transaction } | null = null
      const capture = (update: Uint8Array, _origin: unknown, _doc: Y.Doc, transaction: Y.Transaction) => {
        applied = { update, transaction }
      }
      doc.on('update', capture)
      Y.applyUpdate(doc, Y.encodeStateAsUpdate(client, before))
      doc.off('update', capture)
      const { update, transaction } = applied!
      const batch = new UpdateBatch()
      recorder.onPersist({ room, update, writer: writer(actor), batch, transaction })
      return store.appendUpdate(room.room, update, batch)
    }
    const end = (text: Y.Text) => text.length
    // One turn: one LevelDB batch.
    await Promise.all([
      write('ann', (text) => text.insert(end(text), 'aaaa')),
      write('bob', (text) => text.insert(end(text), 'bbbb')),
      write('ann', (text) => text.insert(end(text), 'aa')),
      write('bob', (text) => text.insert(end(text), 'bb')),
      write('ann', (text) => text.delete(4, 2)),
    ])
    await write('bob', (text) => text.insert(end(text), 'BB'))
    assert.is(doc.getText('body').toString(), 'aaaabbaabbBB')

    const records = await readAttribution(store, room.room)
    assert.equal(
      records.map((record) => [record.seq, record.actor, record.session]),
      [
        [3, 'bob', 'bob-session'],
        [4, 'ann', 'ann-session'],
        [5, 'bob', 'bob-session'],
      ],
      'one record per writer in the first batch, under its last seq; a new one in the next batch',
    )
    const inserted = new IdIndex(records, 'inserted')
    const deleted = new IdIndex(records, 'deleted')
    for (const [actor, client] of clients) {
      const id = client.clientID
      const total = Y.getState(doc.store, id)
      assert.equal(
        inserted.segments(id, 0, total).map((segment) => [segment.length, segment.record?.actor]),
        actor === 'ann'
          ? [[6, 'ann']]
          : [
              [6, 'bob'],
              [2, 'bob'],
            ],
        `${actor}'s ids`,
      )
    }
    // ann deleted two of bob's first four characters.
    const bobId = clients.get('bob')!.clientID
    assert.equal(
      deleted.segments(bobId, 0, 4).map((segment) => [segment.length, segment.record?.actor ?? null]),
      [
        [2, 'ann'],
        [2, null],
      ],
    )
  } finally {
    await store.close()
    rmSync(dir, { recursive: true, force: true })
  }
})

test('a store that does not merge writes each record as it is (UpdateBatch.ops)', () => {
  const batch = new UpdateBatch()
  const record = (at: number, clock: number) => ({ at, actor: 'ann', session: 's', inserted: [[1, clock, 2]] as [number, number, number][], deleted: [] })
  batch.merge(new RecordPut(`${WS}/r`, 7, record(1, 0)))
  batch.merge(new RecordPut(`${WS}/r`, 8, record(2, 2)))
  assert.equal(
    batch.ops.map((op) => op.key),
    [`hist!${WS}/r!a!0000000000000007`, `hist!${WS}/r!a!0000000000000008`],
  )
})

test('a kill -9 amid two writers leaves every stored line blamed on the writer who wrote it', async () => {
  const path = 'crash'
  const peers = await Promise.all(['ann', 'bot'].map(async (actor) => connectPeer(server, `${WS}/${path}`, { token: await mintToken(actor, 'editor', WS) })))
  const killed = (async () => {
    // Let writes reach the disk, then kill the server while they keep coming.
    await waitFor(() => peers[0]!.doc.getText('body').toString().includes('bot 20\n'), 10_000, 'the writers to see each other')
    await server.kill()
  })()
  for (let i = 0; server.running; i++) {
    peers.forEach((peer, n) => {
      const text = peer.doc.getText('body')
      text.insert(text.length, `${n === 0 ? 'ann' : 'bot'} ${i}\n`)
    })
    await new Promise((resolve) => setTimeout(resolve, 1))
  }
  await killed
  // No reconnect may bring lost writes back: what the blame sees is what the dead server wrote.
  for (const peer of peers) peer.destroy()
  await server.restart()
  const viewer = await mintToken('vic', 'viewer', WS)
  const response = await fetch(`${server.httpUrl}/api/workspaces/${WS}/docs/${path}/blame`, { headers: { authorization: `Bearer ${viewer}` } })
  const { lines } = (await response.json()) as { lines: Array<{ text: string; actor: string | null }> }
  const written = lines.filter((line) => line.text !== '')
  assert.ok(written.length >= 40, `only ${written.length} lines stored`)
  const wrong = written.filter((line) => line.actor !== line.text.split(' ')[0])
  assert.equal(wrong, [], 'every line blamed on its writer')
})

test.run()
