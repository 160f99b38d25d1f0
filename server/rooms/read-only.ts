// What a decoded client update holds: whether it would change a document, and which ids it
// writes. Whether it changes the document: Viewers resend what they already have when they
// reconnect (sync step 2), which must pass; anything new must be refused with 4403 instead of
// being dropped, because a silently dropped update leaves the client diverged for ever.
import * as Y from 'yjs'

export type DecodedUpdate = ReturnType<typeof Y.decodeUpdate>

/** Whether the update (as Y.decodeUpdate returns it) would change `doc`. */
export function updateChangesDoc(doc: Y.Doc, { structs, ds }: DecodedUpdate): boolean {
  for (const struct of structs) {
    if (struct instanceof Y.Skip) continue
    if (struct.id.clock + struct.length > Y.getState(doc.store, struct.id.client)) return true
  }
  if (ds.clients.size === 0) return false
  const deleted = Y.snapshot(doc).ds
  for (const [client, ranges] of ds.clients) {
    for (const range of ranges) {
      if (!rangeCovered(deleted.clients.get(client) ?? [], range.clock, range.clock + range.len)) return true
    }
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

/** For each clientID the update writes, the clock after its last id (what Y.parseUpdateMeta calls `to`). */
export function clockEnds({ structs }: DecodedUpdate): Map<number, number> {
  const ends = new Map<number, number>()
  for (const struct of structs) {
    const end = struct.id.clock + struct.length
    if (end > (ends.get(struct.id.client) ?? 0)) ends.set(struct.id.client, end)
  }
  return ends
}
