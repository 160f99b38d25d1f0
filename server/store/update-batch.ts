// The writes that go into the batch of one document update (Store.appendUpdate): written with it
// or not at all. Keys under 'doc!' belong to the store: adding one throws.
import { ownKeyError } from './errors.js'
import type { Mergeable, Op } from './group-commit.js'
import { isDocKey } from './keys.js'

export class UpdateBatch {
  /** plain puts and deletes, in order */
  readonly direct: Op[] = []
  /** puts that may merge with those of their slot in the same LevelDB batch (group-commit.ts) */
  readonly mergeable: Mergeable[] = []

  put(key: string, value: Uint8Array): void {
    this.add({ type: 'put', key, value })
  }

  del(key: string): void {
    this.add({ type: 'del', key })
  }

  merge(value: Mergeable): void {
    const key = value.key()
    if (isDocKey(key)) throw ownKeyError(key)
    this.mergeable.push(value)
  }

  /** Every write as a plain operation, mergeable puts unmerged: for a store that does not merge them. */
  get ops(): Op[] {
    return [...this.direct, ...this.mergeable.map((value): Op => ({ type: 'put', key: value.key(), value: value.encode() }))]
  }

  private add(op: Op): void {
    if (isDocKey(op.key)) throw ownKeyError(op.key)
    this.direct.push(op)
  }
}
