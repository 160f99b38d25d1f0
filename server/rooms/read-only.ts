// What a client update holds (its shape, server/protocol/update-shape.ts): whether it would change
// a document, and which ids it writes. Whether it changes the document: Viewers resend what they already have when they
// reconnect (sync step 2), which must pass; anything new must be refused with 4403 instead of
// being dropped, because a silently dropped update leaves the client diverged for ever.
import * as Y from 'yjs'
import type { UpdateShape } from '../protocol/update-shape.js'

/** Whether an update of this shape would change `doc`. */
export function updateChangesDoc(doc: Y.Doc, { writes, deletes }: UpdateShape): boolean {
  for (const [client, , end] of writes) if (end > Y.getState(doc.store, client)) return true
  if (deletes.length === 0) return false
  const deleted = Y.snapshot(doc).ds
  for (const [client, clock, length] of deletes) {
    if (!rangeCovered(deleted.clients.get(client) ?? [], clock, clock + length)) return true
  }
  return false
}

/** True when [start, end) lies inside the union of the sorted, merged delete ranges. */
function rangeCovered(ranges: Array<{ clock: number; len: number }>, start: number, end: number): boolean {
  let position = start
  for (const range of ranges) {
    if (range.clock > position) break
    position = Math.max(position, range.clock + range.len)
    if (position >= end) return true
  }
  return position >= end
}

/** For each clientID the update writes, the clock after its last id. */
export function clockEnds({ writes }: UpdateShape): Map<number, number> {
  const ends = new Map<number, number>()
  for (const [client, , end] of writes) if (end > (ends.get(client) ?? 0)) ends.set(client, end)
  return ends
}
