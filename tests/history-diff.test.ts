// The diff of two document states in-process (server/history/diff.ts), without a server: array
// items inserted and removed with who did each, from attribution records built the way the
// recorder builds them (rangesOfTransaction of each update's transaction). history.test.ts covers texts and maps over REST.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import * as Y from 'yjs'
import { type Attribution, IdIndex, rangesOfTransaction } from '../server/history/attribution.js'
import { docOf } from '../server/history/content.js'
import { diffDocs } from '../server/history/diff.js'

/** Records every update of `doc` as written by `actor`. */
function recordInto(records: Attribution[], doc: Y.Doc, actor: string): void {
  doc.on('update', (_update: Uint8Array, _origin: unknown, _doc: Y.Doc, transaction: Y.Transaction) =>
    records.push({ seq: records.length, at: records.length, actor, session: `${actor}-s`, ...rangesOfTransaction(transaction) }),
  )
}

test('arrays: items removed and inserted, each with the actor who did it and its index in the newer state', () => {
  const records: Attribution[] = []
  const ann = new Y.Doc()
  ann.clientID = 1
  recordInto(records, ann, 'ann')
  ann.getArray('tasks').push(['a', 'b', { title: 'c' }, 'd'])
  const v1 = Y.encodeStateAsUpdate(ann)

  const bot = new Y.Doc()
  bot.clientID = 2
  Y.applyUpdate(bot, v1)
  recordInto(records, bot, 'bot')
  bot.getArray('tasks').delete(1, 1)
  bot.getArray('tasks').insert(2, ['x', ['y']])
  const v2 = Y.encodeStateAsUpdate(bot)

  const from = docOf(v1)
  const to = docOf(v2)
  const { patch, changes } = diffDocs(
    from,
    to,
    { inserted: new IdIndex(records, 'inserted'), deleted: new IdIndex(records, 'deleted') },
    { from: 'version 1', to: 'current' },
  )
  assert.is(patch, '', 'no text, no patch')
  assert.equal(changes, [
    { name: 'tasks', kind: 'array', op: 'removed', index: 1, before: ['b'], actors: ['bot'] },
    { name: 'tasks', kind: 'array', op: 'added', index: 2, after: ['x', ['y']], actors: ['bot'] },
  ])
  const back = diffDocs(
    to,
    from,
    { inserted: new IdIndex(records, 'inserted'), deleted: new IdIndex(records, 'deleted') },
    { from: 'current', to: 'version 1' },
  )
  assert.equal(
    back.changes.map((change) => [change.op, change.index, change.before ?? change.after, change.actors]),
    [
      ['added', 1, ['b'], ['ann']],
      ['removed', 3, ['x', ['y']], []],
    ],
    'backwards: the items come back as written by ann; nobody deleted x and y',
  )
  for (const doc of [ann, bot, from, to]) doc.destroy()
})

test.run()
