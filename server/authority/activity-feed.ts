// The `activity` array: the last few hundred audit entries, newest last. A Y.Array keeps every
// item it ever held in its linked list, deleted ones too, so anything that walks the list from its
// start costs the workspace's whole history: `delete(0, n)` walks the deleted prefix from the
// start, and Yjs's search markers (cached positions) left pointing at deleted items walk back over
// it at the next insert. In a lock benchmark both grew to 8–11 % of the server's CPU. So the
// oldest entries are deleted item by item from a remembered first live item, and the markers are
// mended by hand. This reaches into Yjs internals (`Item`, `_searchMarker`), which the pinned Yjs
// version keeps stable; tests/authority-audit.test.ts covers the result.
import * as Y from 'yjs'

export class ActivityFeed {
  /** the first live item after the last trim: a hint, checked before each use */
  private oldest: Y.Item | null = null

  constructor(
    private readonly array: Y.Array<unknown>,
    /** entries kept after a trim */
    private readonly limit: number,
    /** entries it may run over the limit before the oldest are trimmed */
    private readonly slack: number,
  ) {}

  /** Appends `entry` in the current transaction, trimming the oldest once over limit + slack. */
  push(entry: unknown): void {
    this.array.insert(this.array.length, [entry])
    if (this.array.length > this.limit + this.slack) this.trim(this.array.length - this.limit)
  }

  /** Deletes the oldest `count` entries, splitting the item that carries the last of them (Yjs merges entries of one writer into one item). */
  private trim(count: number): void {
    this.array.doc!.transact((transaction) => {
      let item = this.firstLive()
      let deleted = 0
      for (; item !== null && deleted < count; item = item.right) {
        if (item.deleted || !item.countable) continue
        const rest = count - deleted
        if (item.length > rest) Y.getItemCleanStart(transaction, Y.createID(item.id.client, item.id.clock + rest))
        deleted += item.length
        item.delete(transaction)
      }
      this.oldest = item
      this.mendMarkers(deleted)
    })
  }

  /** The hint when every live entry lies to its right (counting them says so); else found from the start. */
  private firstLive(): Y.Item | null {
    let live = 0
    for (let item = this.oldest; item !== null; item = item.right) if (!item.deleted && item.countable) live += item.length
    if (this.oldest !== null && live === this.array.length) return this.oldest
    // After a forged write was undone, a revived entry may sit left of the hint.
    let item = this.array._start
    while (item !== null && (item.deleted || !item.countable)) item = item.right
    return item
  }

  /** Every deleted entry preceded every live one: markers on live items move down by `deleted`, those on deleted items go. */
  private mendMarkers(deleted: number): void {
    const markers = this.array._searchMarker
    if (!markers) return
    for (let i = markers.length - 1; i >= 0; i--) {
      const marker = markers[i]!
      if (marker.p.deleted) {
        marker.p.marker = false
        markers.splice(i, 1)
      } else {
        marker.index -= deleted
      }
    }
  }
}
