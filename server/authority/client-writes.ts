// Splits a client's transaction into the key-level writes the rules judge: (top-level type, key)
// and, inside an approval's Y.Map, (approvals, key, sub-key).
import type * as Y from 'yjs'
import { topLevelNames } from './ydoc.js'
import { COORD } from '../../shared/coordination.js'

type Type = Y.AbstractType<unknown>

export interface KeyWrite {
  type: string
  key: string
  subKey?: string
  /** the Yjs type holding the written key (the approval's Y.Map for sub-keys) */
  target: Type
}

export interface ClientWrites {
  keyed: KeyWrite[]
  /** types with list-level changes, or nested content where none is allowed: undone whole */
  illegal: Array<{ type: Type; name: string }>
}

export function clientWrites(doc: Y.Doc, transaction: Y.Transaction): ClientWrites {
  const names = topLevelNames(doc)
  const keyed: KeyWrite[] = []
  const illegal: ClientWrites['illegal'] = []
  for (const [type, keys] of transaction.changed as Map<Type, Set<string | null>>) {
    const name = names.get(type)
    const parent = type._item ? names.get(type._item.parent as Type) : undefined
    const approvalKey = parent === COORD.approvals ? (type._item?.parentSub ?? undefined) : undefined
    if (name === undefined && approvalKey === undefined) {
      illegal.push({ type, name: 'nested content' })
      continue
    }
    for (const key of keys) {
      if (key === null) illegal.push({ type, name: name ?? `approvals.${approvalKey}` })
      else if (name !== undefined) keyed.push({ type: name, key, target: type })
      else keyed.push({ type: COORD.approvals, key: approvalKey!, subKey: key, target: type })
    }
  }
  // Map-level writes first, so a refused new approval map takes its sub-keys with it.
  keyed.sort((a, b) => Number(a.subKey !== undefined) - Number(b.subKey !== undefined))
  return { keyed, illegal }
}

/**
 * Sub-keys of an approval map created in this transaction: Yjs does not list changes inside a
 * type created in the same transaction, so they are read from the new map itself.
 */
export function keysOfNewMap(map: Y.Map<unknown>, key: string): KeyWrite[] {
  const writes: KeyWrite[] = []
  for (const [subKey, item] of map._map) {
    if (!item.deleted) writes.push({ type: COORD.approvals, key, subKey, target: map as Type })
  }
  return writes
}
