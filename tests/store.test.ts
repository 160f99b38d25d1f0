// The store against a real LevelDB in a temporary directory: durability across reopen, group
// commit, compaction, failure handling and memory bookkeeping.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import * as Y from 'yjs'
import { Store, type StoreOptions } from '../server/store/index.js'

const dirs: string[] = []

function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'huddle-store-'))
  dirs.push(dir)
  return dir
}

function open(dir: string, options: Partial<StoreOptions> = {}): Promise<Store> {
  return Store.open({ dir, durability: 'os', ...options })
}

function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve))
}

async function logCount(store: Store, name: string): Promise<number> {
  return (await store.readRange({ gte: `doc!${name}!log!`, lt: `doc!${name}!log!~` })).length
}

/** A Y.Doc that records every update it emits, for replay against the store. */
function recordingDoc(): { doc: Y.Doc; updates: Uint8Array[] } {
  const doc = new Y.Doc()
  const updates: Uint8Array[] = []
  doc.on('update', (update: Uint8Array) => updates.push(update))
  return { doc, updates }
}

/** One update that inserts or deletes, so compaction has garbage to collect. */
function edit(doc: Y.Doc, i: number): void {
  doc.transact(() => {
    const text = doc.getText('t')
    if (i % 3 === 2) text.delete(0, Math.min(18, text.length))
    else text.insert(text.length, `line ${i}\n`)
    doc.getMap('m').set(`k${i % 7}`, i)
  })
}

function rebuild(updates: Uint8Array[]): Y.Doc {
  const doc = new Y.Doc()
  for (const update of updates) Y.applyUpdate(doc, update)
  return doc
}

/** Top-level types of a rebuilt doc are untyped until asked for, so compare them by name. */
function contentOf(doc: Y.Doc): unknown {
  return { t: doc.getText('t').toString(), m: doc.getMap('m').toJSON() }
}

function bytes(...values: number[]): Uint8Array {
  return new Uint8Array(values)
}

/** A small valid update: documents that get forgotten are compacted, which decodes them. */
function setKey(value: number): Uint8Array {
  const doc = new Y.Doc()
  doc.getMap('m').set('k', value)
  return Y.encodeStateAsUpdate(doc)
}

test.after(() => {
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true })
})

test('updates survive close and reopen, in order', async () => {
  const dir = tempDir()
  let store = await open(dir)
  assert.equal(await store.loadDoc('demo/notes/a.md'), [])
  const written = Array.from({ length: 300 }, (_, i) => bytes(i & 0xff, i >> 8))
  await Promise.all(written.map((update) => store.appendUpdate('demo/notes/a.md', update)))
  await store.close()

  store = await open(dir)
  const loaded = await store.loadDoc('demo/notes/a.md')
  assert.equal(
    loaded.map((u) => Array.from(u)),
    written.map((u) => Array.from(u)),
  )
  await store.appendUpdate('demo/notes/a.md', bytes(9, 9))
  await store.close()

  store = await open(dir, { durability: 'fsync' })
  const again = await store.loadDoc('demo/notes/a.md')
  assert.is(again.length, 301)
  assert.equal(Array.from(again[300]!), [9, 9])
  await store.close()
})

test('a document built from many Y.Doc updates reloads to identical content', async () => {
  const dir = tempDir()
  let store = await open(dir, { compactAfter: 100 })
  await store.loadDoc('demo')
  const { doc, updates } = recordingDoc()
  for (let i = 0; i < 1_000; i++) {
    edit(doc, i)
    void store.appendUpdate('demo', updates[i]!)
    if (i % 50 === 0) await nextTurn()
  }
  await store.close()

  store = await open(dir)
  const loaded = await store.loadDoc('demo')
  const [state, ...log] = loaded
  const logBytes = log.reduce((sum, update) => sum + update.length, 0)
  assert.ok(
    log.length < 100 || logBytes < state!.length,
    `compaction kept the log under 100 entries or the state's size (${log.length} entries of ${logBytes} bytes, a state of ${state!.length})`,
  )
  const copy = rebuild(loaded)
  assert.equal(contentOf(copy), contentOf(doc))
  assert.equal(Y.encodeStateVector(copy), Y.encodeStateVector(doc))
  await store.close()
})

test('concurrent loads of one document share a read and get their own arrays', async () => {
  const store = await open(tempDir())
  await store.loadDoc('demo')
  const first = setKey(1)
  await store.appendUpdate('demo', first)
  store.forget('demo')
  const [a, b] = await Promise.all([store.loadDoc('demo'), store.loadDoc('demo')])
  assert.equal(a, b)
  assert.is.not(a, b)
  assert.is(store.stats().docs, 1)
  const second = setKey(2)
  await store.appendUpdate('demo', second)
  const loaded = await store.loadDoc('demo')
  assert.is(loaded.length, 2)
  assert.equal(Array.from(loaded[loaded.length - 1]!), Array.from(second), 'the append after reload did not overwrite anything')
  await store.close()
})

test('all writes of one turn go into one batch; writes during a batch go into the next', async () => {
  const batches: number[] = []
  const store = await open(tempDir(), { onBatch: (_ms, ops) => batches.push(ops) })
  const names = Array.from({ length: 20 }, (_, i) => `ws/doc-${i}`)
  await Promise.all(names.map((name) => store.loadDoc(name)))
  const before = store.stats().batchesWritten

  const sameTurn: Promise<void>[] = []
  for (let i = 0; i < 500; i++) sameTurn.push(store.appendUpdate(names[i % names.length]!, bytes(i & 0xff)))
  sameTurn.push(store.put('audit!ws!1', bytes(1)))
  assert.ok(
    sameTurn.every((p) => p === sameTurn[0]),
    'one promise: the batch carrying them all',
  )
  await Promise.all(sameTurn)
  assert.is(store.stats().batchesWritten, before + 1)
  assert.is(store.stats().lastBatchSize, 501)

  const order: string[] = []
  const first = store.appendUpdate(names[0]!, bytes(1)).then(() => order.push('first'))
  await nextTurn() // the store's setImmediate ran first: that batch is now being written
  assert.is(store.stats().pending, 1)
  const second = store.appendUpdate(names[1]!, bytes(2)).then(() => order.push('second'))
  const third = store.del('audit!ws!1').then(() => order.push('third'))
  assert.is(store.stats().pending, 3)
  await Promise.all([first, second, third])
  assert.equal(order, ['first', 'second', 'third'])
  assert.is(store.stats().batchesWritten, before + 3)
  assert.is(store.stats().lastBatchSize, 2)
  assert.equal(batches.slice(-3), [501, 1, 2])
  await store.close()
})

test('compaction shrinks the log, keeps appends made meanwhile, and caches the state vector', async () => {
  const store = await open(tempDir(), { compactAfter: 1_000_000 })
  await store.loadDoc('demo/big')
  const { doc, updates } = recordingDoc()
  for (let i = 0; i < 3_000; i++) {
    edit(doc, i)
    void store.appendUpdate('demo/big', updates[i]!)
  }
  await store.flush()
  assert.is(await logCount(store, 'demo/big'), 3_000)
  assert.is(await store.stateVector('demo/big'), null)

  let compacted = false
  const compaction = store.compact('demo/big').then(() => {
    compacted = true
  })
  let during = 0
  for (let i = 3_000; !compacted; i++, during++) {
    edit(doc, i)
    void store.appendUpdate('demo/big', updates[i]!)
    await nextTurn()
  }
  await compaction
  await store.flush()
  assert.ok(during > 0, 'appends happened while compacting')
  assert.ok((await logCount(store, 'demo/big')) <= during, 'the compacted entries are gone')
  assert.equal(contentOf(rebuild(await store.loadDoc('demo/big'))), contentOf(doc))

  await store.compact('demo/big')
  assert.is(await logCount(store, 'demo/big'), 0)
  const [state] = await store.loadDoc('demo/big')
  const withoutGc = Y.mergeUpdates(updates).length
  assert.ok(state!.length < withoutGc * 0.8, `deleted content was collected (${state!.length} bytes; ${withoutGc} merged without gc)`)
  assert.equal(Array.from((await store.stateVector('demo/big'))!), Array.from(Y.encodeStateVector(doc)))
  await store.close()
})

/** A loaded document with `edits` updates appended, and one change never appended: it can reach
 * the disk only through an encoding of the live doc. */
async function liveDoc(edits: number): Promise<{ store: Store; doc: Y.Doc; updates: Uint8Array[] }> {
  const store = await open(tempDir(), { compactAfter: 1_000_000 })
  await store.loadDoc('demo/live')
  const { doc, updates } = recordingDoc()
  for (let i = 0; i < edits; i++) {
    edit(doc, i)
    void store.appendUpdate('demo/live', updates[i]!)
  }
  await store.flush()
  doc.getMap('m').set('only-in-memory', true)
  return { store, doc, updates }
}

test('a tracked document compacts from its live copy, and appends made meanwhile stay in the log', async () => {
  const { store, doc, updates } = await liveDoc(300)
  let encoded = 0
  store.track('demo/live', () => {
    encoded++
    return doc
  })
  const compaction = store.compact('demo/live')
  await nextTurn()
  edit(doc, 300)
  const after = store.appendUpdate('demo/live', updates[updates.length - 1]!)
  await Promise.all([compaction, after])
  assert.is(encoded, 1, 'the compaction encoded the live doc')
  assert.is(await logCount(store, 'demo/live'), 1, 'only the append made during the compaction is left in the log')
  const reloaded = rebuild(await store.loadDoc('demo/live'))
  assert.is(reloaded.getMap('m').get('only-in-memory'), true)
  assert.equal(contentOf(reloaded), contentOf(doc))
  await store.close()
})

test('a live compaction waiting behind a failed batch is given up: the log on disk is compacted instead', async () => {
  const { store, doc } = await liveDoc(50)
  let failing: Promise<unknown> | undefined
  store.track('demo/live', () => {
    // a batch queued just before the snapshot, which fails while the compaction waits for it
    failing = store.put('meta!x', undefined as unknown as Uint8Array).catch((error: Error) => error)
    return doc
  })
  await store.compact('demo/live')
  assert.instance(await failing, Error)
  assert.is(await logCount(store, 'demo/live'), 0, 'the log was compacted from disk')
  const reloaded = rebuild(await store.loadDoc('demo/live'))
  assert.is(reloaded.getMap('m').get('only-in-memory'), undefined, 'nothing of the live doc was written')
  assert.equal(reloaded.getText('t').toString(), doc.getText('t').toString())
  await store.close()
})

test('compaction starts by itself once the log reaches compactAfter', async () => {
  const dir = tempDir()
  let store = await open(dir, { compactAfter: 40 })
  await store.loadDoc('auto')
  const { doc, updates } = recordingDoc()
  for (let i = 0; i < 100; i++) {
    edit(doc, i)
    await store.appendUpdate('auto', updates[i]!)
  }
  await store.close()
  store = await open(dir)
  assert.ok((await logCount(store, 'auto')) < 40)
  assert.ok(await store.stateVector('auto'))
  assert.equal(contentOf(rebuild(await store.loadDoc('auto'))), contentOf(doc))
  await store.close()
})

test('a large document compacts only once its log is also as large as its state in bytes', async () => {
  const dir = tempDir()
  let store = await open(dir, { compactAfter: 10 })
  await store.loadDoc('big')
  const { doc, updates } = recordingDoc()
  doc.getText('t').insert(0, 'x'.repeat(100_000))
  await store.appendUpdate('big', updates[0]!)
  await store.compact('big')
  for (let i = 0; i < 30; i++) {
    edit(doc, i)
    await store.appendUpdate('big', updates[updates.length - 1]!)
  }
  await store.close()
  store = await open(dir, { compactAfter: 10 })
  assert.is(await logCount(store, 'big'), 30, '30 small entries against a 100 KB state: not compacted yet')
  await store.loadDoc('big')
  doc.getText('t').insert(0, 'y'.repeat(100_000))
  await store.appendUpdate('big', updates[updates.length - 1]!)
  await store.close()
  store = await open(dir)
  // the compaction starts as the entry is queued, so it may or may not find that entry on disk yet
  assert.ok((await logCount(store, 'big')) <= 1, 'a 100 KB entry made the log as large as the state: the 30 small entries were compacted')
  assert.equal(contentOf(rebuild(await store.loadDoc('big'))), contentOf(doc))
  await store.close()
})

test('a failed batch rejects every write in it and later writes still work', async () => {
  const dir = tempDir()
  const store = await open(dir)
  await store.loadDoc('demo')
  const append = store.appendUpdate('demo', bytes(1))
  const bad = store.put('meta!x', undefined as unknown as Uint8Array)
  assert.is(append, bad)
  for (const write of [append, bad]) {
    try {
      await write
      assert.unreachable('the batch should fail')
    } catch (error) {
      assert.match((error as Error).message, `writing a batch of 2 operations to ${dir} failed`)
      assert.is(((error as Error).cause as { code?: string }).code, 'LEVEL_INVALID_VALUE')
    }
  }
  await store.appendUpdate('demo', bytes(2))
  await store.put('meta!x', bytes(3))
  assert.equal(
    (await store.loadDoc('demo')).map((u) => Array.from(u)),
    [[2]],
  )
  assert.equal(Array.from((await store.get('meta!x'))!), [3])
  await store.close()

  try {
    await store.appendUpdate('demo', bytes(4))
    assert.unreachable('a closed store refuses writes')
  } catch (error) {
    assert.match((error as Error).message, 'is closed')
  }
})

test('compaction failures reach onError, or the next call without it', async () => {
  const errors: Error[] = []
  let store = await open(tempDir(), { compactAfter: 3, onError: (error) => errors.push(error) })
  await store.loadDoc('broken')
  for (let i = 0; i < 3; i++) await store.appendUpdate('broken', bytes(0xff, 0xff, 0xff))
  await store.close()
  assert.is(errors.length, 1)
  assert.match(errors[0]!.message, 'compacting document "broken" failed')

  store = await open(tempDir(), { compactAfter: 3 })
  await store.loadDoc('broken')
  for (let i = 0; i < 3; i++) await store.appendUpdate('broken', bytes(0xff, 0xff, 0xff))
  while (store.stats().compactions > 0) await nextTurn()
  try {
    await store.get('anything')
    assert.unreachable('the failure is rethrown')
  } catch (error) {
    assert.match((error as Error).message, 'compacting document "broken" failed')
  }
  assert.is(await store.get('anything'), undefined)
  try {
    await store.compact('broken')
    assert.unreachable('on-demand compaction rejects its caller')
  } catch (error) {
    assert.match((error as Error).message, 'compacting document "broken" failed')
  }
  await store.close()
})

test('loading and forgetting 2,000 documents leaves no bookkeeping behind', async () => {
  const dir = tempDir()
  const store = await open(dir)
  for (let round = 0; round < 4; round++) {
    const names = Array.from({ length: 500 }, (_, i) => `ws${round}/doc-${i}`)
    await Promise.all(names.map((name) => store.loadDoc(name)))
    await Promise.all(names.map((name) => store.appendUpdate(name, setKey(round))))
    for (const name of names) store.forget(name)
    assert.is(store.stats().docs, 0)
    assert.is(store.stats().loading, 0)
  }
  while (store.stats().compactions > 0) await nextTurn()
  await store.flush()
  assert.equal(store.stats().pending, 0)
  await store.close()
  assert.equal(store.stats(), { ...store.stats(), docs: 0, loading: 0, compactions: 0, pending: 0 })
})

test("caller keys: put, get, del and range reads; doc! keys are the store's own", async () => {
  const store = await open(tempDir())
  await Promise.all([1, 2, 3, 4].map((i) => store.put(`audit!ws!${i}`, bytes(i))))
  await store.put('session!abc', bytes(9))
  assert.equal(
    (await store.readRange({ gt: 'audit!ws!1', lt: 'audit!ws!~' })).map(([k]) => k),
    ['audit!ws!2', 'audit!ws!3', 'audit!ws!4'],
  )
  assert.equal(
    (await store.readRange({ gte: 'audit!', lt: 'audit!~', reverse: true, limit: 2 })).map(([k]) => k),
    ['audit!ws!4', 'audit!ws!3'],
  )
  await store.del('audit!ws!4')
  assert.is(await store.get('audit!ws!4'), undefined)
  assert.equal(Array.from((await store.get('session!abc'))!), [9])
  try {
    await store.put('doc!x!state', bytes(1))
    assert.unreachable('doc! is reserved')
  } catch (error) {
    assert.match((error as Error).message, "under 'doc!'")
  }
  try {
    await store.loadDoc('bad!name')
    assert.unreachable('names with ! are refused')
  } catch (error) {
    assert.match((error as Error).message, 'bad document name')
  }
  await store.close()
})

test('a directory another server holds gives a clear error', async () => {
  const dir = tempDir()
  const first = await open(dir)
  try {
    await open(dir)
    assert.unreachable('the second open must fail')
  } catch (error) {
    assert.match((error as Error).message, `another huddle server is using ${dir}`)
    assert.match((error as Error).message, '--data')
  }
  await first.close()
  const second = await open(dir)
  await second.close()
})

test.run()
