// Reading and undoing a client's write inside the Yjs transaction that carries it. The authority
// compares each changed key's value before and after the write, and puts back the old value when
// the write is refused, in the same transaction, so the update that leaves the server already
// carries the correction.
import * as Y from 'yjs'
import { Y_MAP, Y_TYPE } from './rules/index.js'

// `any` so that Y.Map<T>, Y.Array<T> and plain AbstractTypes are all accepted.
type Type = Y.AbstractType<any>

function insertedIn(transaction: Y.Transaction, item: Y.Item): boolean {
  return item.id.clock >= (transaction.beforeState.get(item.id.client) ?? 0)
}

function plain(item: Y.Item): unknown {
  const content = item.content
  if (content instanceof Y.ContentType) return content.type instanceof Y.Map ? Y_MAP : Y_TYPE
  const values = content.getContent()
  return values[values.length - 1]
}

/** The value of `key` as it was before this transaction (undefined when absent). */
export function valueBefore(transaction: Y.Transaction, type: Type, key: string): unknown {
  let item: Y.Item | null = type._map.get(key) ?? null
  while (item && insertedIn(transaction, item)) item = item.left
  if (!item || (item.deleted && !Y.isDeleted(transaction.deleteSet, item.id))) return undefined
  return plain(item)
}

/**
 * Whether `key` had a value before this transaction. Unlike `valueBefore` it reads no content, so
 * it still answers after the transaction, once garbage collection has emptied deleted items.
 */
export function hadValueBefore(transaction: Y.Transaction, type: Type, key: string): boolean {
  let item: Y.Item | null = type._map.get(key) ?? null
  while (item && insertedIn(transaction, item)) item = item.left
  return !!item && (!item.deleted || Y.isDeleted(transaction.deleteSet, item.id))
}

/** The value of `key` now (undefined when absent). */
export function valueNow(type: Type, key: string): unknown {
  const item = type._map.get(key)
  return item && !item.deleted ? plain(item) : undefined
}

/**
 * Whether this transaction inserted an item under `key` that Yjs hid as it arrived. Concurrent
 * writes of one map key are ordered by client id, and any but the last is deleted on arrival: a
 * write concurrent with an earlier one (typically a refused write, since deleted by the server)
 * can lose, and the key's value does not change, so the writer would never learn its write is
 * gone. An item its own writer overwrote or deleted in the same update is not hidden: it is the
 * key's last item, or an item of this transaction follows it. Only the items this transaction
 * inserted are looked at, never the key's whole history.
 */
export function hiddenInsert(transaction: Y.Transaction, type: Type, key: string): boolean {
  for (const [client, structs] of transaction.doc.store.clients) {
    const from = transaction.beforeState.get(client) ?? 0
    if (Y.getState(transaction.doc.store, client) <= from) continue
    for (let i = Y.findIndexSS(structs, from); i < structs.length; i++) {
      const item = structs[i]
      if (!(item instanceof Y.Item) || item.parent !== type || item.parentSub !== key || !item.deleted) continue
      if (insertedIn(transaction, item) && item.right !== null && !insertedIn(transaction, item.right)) return true
    }
  }
  return false
}

/** Puts back a plain JSON value, or removes the key when it had none. */
export function restoreKey(transaction: Y.Transaction, type: Type, key: string, before: unknown): void {
  if (before === undefined) {
    const item = type._map.get(key)
    if (item && !item.deleted) item.delete(transaction)
    return
  }
  ;(type as Y.Map<unknown>).set(key, before)
}

/**
 * Undoes list changes (inserts and deletes at the list level) made by this transaction: new items
 * are deleted, deleted ones are inserted again as copies at their place. Map-only types and
 * unknown types get only the first half, which is all they can legally need.
 */
export function undoListChanges(transaction: Y.Transaction, type: Type): void {
  // A list's search markers (cached index positions) are wrong once remote items were integrated
  // or deleted without them: Yjs drops them when it calls the observers of a remote transaction,
  // but the room marks this one local, and the deletes below bypass them as in Yjs's UndoManager,
  // which drops them too. The inserts here and the activity feed's insert at the end need them right.
  if (type._searchMarker) type._searchMarker.length = 0
  const revive: Array<{ index: number; values: unknown[] }> = []
  let index = 0
  for (let item = type._start; item !== null; item = item.right) {
    if (insertedIn(transaction, item)) {
      if (!item.deleted) item.delete(transaction)
      continue
    }
    if (!item.countable) continue
    if (item.deleted && Y.isDeleted(transaction.deleteSet, item.id)) revive.push({ index, values: item.content.getContent() })
    if (!item.deleted || Y.isDeleted(transaction.deleteSet, item.id)) index += item.length
  }
  if (revive.length > 0 && type instanceof Y.Array) {
    for (const { index: at, values } of revive) type.insert(at, values)
  }
}

/** Deletes every entry of a type this transaction added (content under an unknown name). */
export function deleteInserted(transaction: Y.Transaction, type: Type): void {
  for (const item of type._map.values()) {
    for (let entry: Y.Item | null = item; entry !== null; entry = entry.left) {
      if (insertedIn(transaction, entry) && !entry.deleted) entry.delete(transaction)
    }
  }
  undoListChanges(transaction, type)
}

/** Top-level types by object, to name what a transaction changed. */
export function topLevelNames(doc: Y.Doc): Map<Type, string> {
  const names = new Map<Type, string>()
  for (const [name, type] of doc.share) names.set(type as Type, name)
  return names
}
