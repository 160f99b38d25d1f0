// Revert: make a live document hold what a version holds, by the fewest edits (so people typing
// meanwhile keep what they type elsewhere): texts through replaceText, map keys set or deleted,
// array items inserted or removed, XML replaced where it differs. Run inside a transaction.
import { diffArrays } from 'diff'
import * as Y from 'yjs'
import { replaceText } from '../../shared/text-edit.js'
import { kindOf, sharedTypes, typed } from './content.js'

export function restore(target: Y.Doc, source: Y.Doc): void {
  const wanted = sharedTypes(source)
  const names = new Set([...wanted.keys(), ...target.share.keys()])
  for (const name of names) {
    const from = wanted.get(name)
    const current = target.share.get(name)
    const kind = from?.kind ?? (current ? kindOf(current) : null)
    if (!kind) continue
    const live = typed(target, name, kind)
    if (live.kind === 'text') {
      replaceText(live.type, from?.kind === 'text' ? from.type.toString() : '')
    } else if (live.kind === 'map') {
      const goal = from?.kind === 'map' ? from.type : null
      for (const key of [...live.type.keys()]) if (!goal?.has(key)) live.type.delete(key)
      for (const [key, value] of goal?.entries() ?? []) {
        if (!live.type.has(key) || JSON.stringify(jsonOf(live.type.get(key))) !== JSON.stringify(jsonOf(value))) live.type.set(key, copyOf(value))
      }
    } else if (live.kind === 'array') {
      restoreArray(live.type, from?.kind === 'array' ? from.type.toArray() : [])
    } else if (live.type.toString() !== (from?.kind === 'xml' ? from.type.toString() : '')) {
      live.type.delete(0, live.type.length)
      if (from?.kind === 'xml') live.type.insert(0, from.type.toArray().map((child) => child.clone()) as Array<Y.XmlElement | Y.XmlText>)
    }
  }
}

function restoreArray(live: Y.Array<unknown>, goal: unknown[]): void {
  const key = (value: unknown) => JSON.stringify(jsonOf(value))
  let index = 0
  let goalIndex = 0
  for (const part of diffArrays(live.toArray().map(key), goal.map(key))) {
    const count = part.value.length
    if (part.removed) {
      live.delete(index, count)
    } else if (part.added) {
      live.insert(index, goal.slice(goalIndex, goalIndex + count).map(copyOf))
      index += count
      goalIndex += count
    } else {
      index += count
      goalIndex += count
    }
  }
}

function jsonOf(value: unknown): unknown {
  return value instanceof Y.AbstractType ? value.toJSON() : value
}

/** A value from another doc, fit to insert here: shared types are copied, plain values as they are. */
function copyOf(value: unknown): unknown {
  return value instanceof Y.AbstractType ? (value as Y.AbstractType<any> & { clone(): unknown }).clone() : value
}
