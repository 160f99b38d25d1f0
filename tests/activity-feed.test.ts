// The activity feed's trimming (server/authority/activity-feed.ts) against real Yjs documents: it
// deletes the oldest entries item by item from a remembered first live item and mends Yjs's search
// markers by hand, so these check the array's content, its random access (which goes through the
// markers) and a replica's copy, across thousands of entries, merged items and a revived entry.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import * as Y from 'yjs'
import { ActivityFeed } from '../server/authority/activity-feed.js'

const LIMIT = 30
const SLACK = 10

function feedDoc(): { doc: Y.Doc; array: Y.Array<unknown>; feed: ActivityFeed; replica: Y.Doc } {
  const doc = new Y.Doc()
  const replica = new Y.Doc()
  doc.on('update', (update: Uint8Array) => Y.applyUpdate(replica, update))
  const array = doc.getArray('activity')
  return { doc, array, feed: new ActivityFeed(array, LIMIT, SLACK), replica }
}

/** Every index read through `get` (search markers) and the whole array, against what it should hold. */
function checkHolds(array: Y.Array<unknown>, expected: unknown[]): void {
  assert.equal(array.toArray(), expected)
  for (let i = expected.length - 1; i >= 0; i -= 3) assert.is(array.get(i), expected[i], `entry ${i} through the search markers`)
}

test('keeps the newest entries in order, between the limit and limit + slack, over thousands of pushes', () => {
  const { doc, array, feed, replica } = feedDoc()
  const all: number[] = []
  for (let n = 0; n < 5_000; n++) {
    // one writer's entries merge into one item (here all of them: nothing else is written), and
    // some transactions log several
    const burst = n % 7 === 0 ? 3 : 1
    doc.transact(() => {
      for (let i = 0; i < burst; i++) {
        all.push(all.length)
        feed.push(all.length - 1)
      }
    })
    assert.ok(array.length >= Math.min(all.length, LIMIT) && array.length <= LIMIT + SLACK, `${array.length} entries`)
    if (n % 97 === 0) checkHolds(array, all.slice(-array.length))
    // an insert in the middle, as a marker-using operation between trims, then taken out again
    if (n % 211 === 0) {
      const middle = Math.floor(array.length / 2)
      doc.transact(() => array.insert(middle, ['probe']))
      assert.is(array.get(middle), 'probe')
      doc.transact(() => array.delete(middle, 1))
    }
  }
  checkHolds(array, all.slice(-array.length))
  assert.equal(replica.getArray('activity').toArray(), array.toArray(), 'a replica sees the same feed')
})

test('an entry put back in front of the remembered first item (an undone forged delete) is trimmed first', () => {
  const { doc, array, feed } = feedDoc()
  for (let n = 0; n < LIMIT + SLACK + 1; n++) doc.transact(() => feed.push(n))
  const kept = array.toArray()
  doc.transact(() => array.insert(0, ['revived']))
  let next = LIMIT + SLACK + 1
  while (array.get(0) === 'revived') doc.transact(() => feed.push(next++))
  const expected = [...kept, ...Array.from({ length: next - (LIMIT + SLACK + 1) }, (_, i) => LIMIT + SLACK + 1 + i)]
  checkHolds(array, expected.slice(-array.length))
})

test.run()
