// Fail closed: an exception anywhere in a document hook (tests/fixtures/custom-server.ts throws
// on request) means the client's update is neither written nor sent. Random writes, some of them
// poisoned with a throw at a random point of the hook's work; a watcher records every state it
// ever holds, and the document on disk is read back after the server stops.
import * as fc from 'fast-check'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import * as Y from 'yjs'
import { Store } from '../server/store/index.js'
import { connectPeer, rawConnect, updateFrame, waitFor } from './helpers/clients.js'
import { fetchAudit } from './helpers/coordination-api.js'
import { who } from './helpers/coordination-peers.js'
import { distScript, type TestServer } from './helpers/server.js'
import { withServer } from './helpers/suite.js'
import type { ThrowPoint } from './fixtures/custom-server.js'

const WS = 'failing'
const ROOM = `${WS}/boom`
const POINTS: ThrowPoint[] = ['before', 'after-fix', 'after-refuse', 'transaction-end']

let server: TestServer
withServer(test, (started) => void (server = started), { script: distScript('tests/fixtures/custom-server.js') })

interface Write {
  insert: string
  /** where to insert, and how many characters to delete there, as fractions of the text */
  at: number
  deleteShare: number
  poison: ThrowPoint | null
}

const writeArb: fc.Arbitrary<Write> = fc.record({
  insert: fc.string({ unit: fc.constantFrom('a', 'b', 'c', ' '), minLength: 1, maxLength: 6 }),
  at: fc.double({ min: 0, max: 1, noNaN: true }),
  deleteShare: fc.double({ min: 0, max: 0.5, noNaN: true }),
  poison: fc.option(fc.constantFrom(...POINTS), { freq: 3 }),
})

/** The write as an update on top of `base` (what the server holds), made by a new Yjs client. */
function updateFor(base: Y.Doc, write: Write, serial: number): Uint8Array {
  const doc = new Y.Doc()
  Y.applyUpdate(doc, Y.encodeStateAsUpdate(base))
  const text = doc.getText('text')
  const index = Math.floor(write.at * text.length)
  doc.transact(() => {
    text.delete(index, Math.floor(write.deleteShare * (text.length - index)))
    text.insert(index, write.poison ? `POISON${serial}` : write.insert)
    if (write.poison) doc.getMap('boom').set('at', write.poison)
  })
  const update = Y.encodeStateAsUpdate(doc, Y.encodeStateVector(base))
  doc.destroy()
  return update
}

test('an exception anywhere in a hook: the update is never sent, never written, and the writer is closed with 1011', async () => {
  const editor = await who('writer', 'editor')
  const watcherDoc = new Y.Doc()
  const violations: string[] = []
  watcherDoc.on('update', () => {
    const text = watcherDoc.getText('text').toString()
    if (text.includes('POISON') || watcherDoc.getMap('boom').size > 0) violations.push(text)
  })
  const watcher = await connectPeer(server, ROOM, { token: (await who('watcher', 'viewer')).token, doc: watcherDoc })
  /** what the server should hold: every clean write, no poisoned one */
  const model = new Y.Doc()
  let serial = 0
  let poisoned = 0

  await fc.assert(
    fc.asyncProperty(fc.array(writeArb, { minLength: 1, maxLength: 6 }), async (writes) => {
      for (const write of writes) {
        const update = updateFor(model, write, ++serial)
        const writer = await rawConnect(server, ROOM, { token: editor.token })
        writer.send(updateFrame(update))
        if (write.poison) {
          poisoned++
          const close = await writer.waitClose(
            20_000,
            `the writer of a write poisoned at ${write.poison}: ${server.stderr.slice(-3000)} ${server.stdout.slice(-3000)}`,
          )
          assert.is(close.code, 1011, `closed with ${close.code} ${close.reason}`)
          assert.match(close.reason, /not saved or shared/)
          continue
        }
        Y.applyUpdate(model, update)
        const expected = model.getText('text').toString()
        try {
          await waitFor(() => watcherDoc.getText('text').toString() === expected, 20_000, 'the watcher gets the clean write')
        } catch {
          // Who lacks it: the server (a fresh client does not get it either) or only the watcher?
          const fresh = await connectPeer(server, ROOM, { token: (await who('checker', 'viewer')).token, timeoutMs: 10_000 }).catch(() => null)
          throw new Error(
            `the watcher did not get a clean write: ${JSON.stringify(watcherDoc.getText('text').toString())} != ${JSON.stringify(expected)}; a fresh client gets ${fresh ? JSON.stringify(fresh.doc.getText('text').toString()) : 'nothing (it did not sync)'} (watcher ${watcher.provider.wsconnected ? 'connected' : 'disconnected'}, ${watcher.provider.synced ? 'synced' : 'not synced'}, closes ${JSON.stringify(watcher.closes.slice(-3))} of ${watcher.closes.length}; the writer ${writer.closeInfo ? `was closed: ${JSON.stringify(writer.closeInfo)}` : 'is open'}; server log: ${server.stderr.slice(-1500)})`,
          )
        }
        writer.close()
      }
      assert.equal(violations, [], 'a watcher saw a poisoned update')
    }),
    { numRuns: 12, seed: Number(process.env.HUDDLE_SEED ?? Date.now() % 1_000_000), endOnFailure: true, includeErrorInReport: true },
  )
  assert.ok(poisoned > 0, 'the runs included poisoned writes')

  const audit = await fetchAudit(server, WS, (await who('auditor', 'admin')).token)
  assert.ok(
    audit.some((entry) => entry.type === 'refused' && (entry.data as { code?: number }).code === 1011),
    'the failure is in the audit log',
  )

  // The document on disk holds every clean write and nothing of a poisoned one.
  await server.stop()
  const store = await Store.open({ dir: server.dataDir, durability: 'os' })
  const stored = new Y.Doc()
  for (const update of await store.loadDoc(ROOM)) Y.applyUpdate(stored, update)
  await store.close()
  assert.is(stored.getText('text').toString(), model.getText('text').toString())
  assert.is(stored.getMap('boom').size, 0)
})

test.run()
