// The difference between two states of a document: texts as a unified line diff with the changed
// words marked, maps by key, arrays by item, XML by its markup lines; each change names the actors
// behind it where attribution knows them (inserts from the newer state, deletions from the older).
import { createTwoFilesPatch, diffArrays, diffLines, diffWords } from 'diff'
import * as Y from 'yjs'
import type { DiffChange } from '../../shared/history.js'
import type { IdIndex } from './attribution.js'
import { idRuns, type Kind, type Shared, sharedTypes } from './content.js'
import { actorsIn } from './lookup.js'

export interface Attributions {
  inserted: IdIndex
  deleted: IdIndex
}

export interface Labels {
  from: string
  to: string
}

export function diffDocs(from: Y.Doc, to: Y.Doc, attribution: Attributions, labels: Labels): { patch: string; changes: DiffChange[] } {
  const before = sharedTypes(from)
  const after = sharedTypes(to)
  const names = [...new Set([...before.keys(), ...after.keys()])].sort((a, b) => (a === 'body' ? -1 : b === 'body' ? 1 : a.localeCompare(b)))
  let patch = ''
  const changes: DiffChange[] = []
  for (const name of names) {
    const a = before.get(name)
    const b = after.get(name)
    const kind = (b ?? a)!.kind
    if (kind === 'text' || kind === 'xml') {
      const old = a?.kind === kind ? a.type.toString() : ''
      const now = b?.kind === kind ? b.type.toString() : ''
      if (old === now) continue
      patch += createTwoFilesPatch(name, name, old, now, labels.from, labels.to)
      const runs = kind === 'text' ? { before: a && idRuns(a.type, true), after: b && idRuns(b.type, true) } : null
      changes.push(...textChanges(name, kind, old, now, runs, attribution))
    } else if (kind === 'map') {
      changes.push(...mapChanges(name, a?.kind === 'map' ? a.type : null, b?.kind === 'map' ? b.type : null, attribution))
    } else {
      changes.push(...arrayChanges(name, listOf(a), listOf(b), attribution))
    }
  }
  return { patch, changes }
}

type Runs = { before: ReturnType<typeof idRuns> | undefined; after: ReturnType<typeof idRuns> | undefined } | null

function textChanges(name: string, kind: Kind, old: string, now: string, runs: Runs, attribution: Attributions): DiffChange[] {
  const changes: DiffChange[] = []
  const parts = diffLines(old, now)
  let oldOffset = 0
  let newOffset = 0
  let newLine = 1
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]!
    const next = parts[i + 1]
    if (!part.added && !part.removed) {
      oldOffset += part.value.length
      newOffset += part.value.length
      newLine += part.count ?? 0
      continue
    }
    const removed = part.removed ? part.value : ''
    const added = part.added ? part.value : next?.added && part.removed ? next.value : ''
    if (part.removed && next?.added) i++
    const deleters = runs?.before ? actorsIn(runs.before, attribution.deleted, oldOffset, oldOffset + removed.length) : []
    const inserters = runs?.after ? actorsIn(runs.after, attribution.inserted, newOffset, newOffset + added.length) : []
    const change: DiffChange = {
      name,
      kind,
      op: removed && added ? 'changed' : added ? 'added' : 'removed',
      line: newLine,
      actors: [...new Set([...deleters, ...inserters])].sort(),
    }
    if (removed) change.before = removed
    if (added) change.after = added
    if (removed && added)
      change.words = diffWords(removed, added).map(({ value, added: plus, removed: minus }) => ({
        value,
        ...(plus ? { added: true } : {}),
        ...(minus ? { removed: true } : {}),
      }))
    changes.push(change)
    oldOffset += removed.length
    newOffset += added.length
    newLine += lineCount(added)
  }
  return changes
}

function mapChanges(name: string, a: Y.Map<unknown> | null, b: Y.Map<unknown> | null, attribution: Attributions): DiffChange[] {
  const changes: DiffChange[] = []
  const keys = [...new Set([...(a?.keys() ?? []), ...(b?.keys() ?? [])])].sort()
  for (const key of keys) {
    const old = a?.has(key) ? jsonOf(a.get(key)) : undefined
    const now = b?.has(key) ? jsonOf(b.get(key)) : undefined
    if (JSON.stringify(old) === JSON.stringify(now)) continue
    const op = old === undefined ? 'added' : now === undefined ? 'removed' : 'changed'
    const item = op === 'removed' ? a!._map.get(key) : b!._map.get(key)
    const index = op === 'removed' ? attribution.deleted : attribution.inserted
    const actors = item ? index.segments(item.id.client, item.id.clock, 1).flatMap((segment) => (segment.record ? [segment.record.actor] : [])) : []
    changes.push({ name, kind: 'map', op, key, ...(old !== undefined ? { before: old } : {}), ...(now !== undefined ? { after: now } : {}), actors })
  }
  return changes
}

interface List {
  type: Y.AbstractType<any>
  items: string[]
}

function listOf(shared: Shared | undefined): List | null {
  if (shared?.kind !== 'array') return null
  return { type: shared.type, items: shared.type.toArray().map((item) => JSON.stringify(jsonOf(item))) }
}

function arrayChanges(name: string, a: List | null, b: List | null, attribution: Attributions): DiffChange[] {
  const changes: DiffChange[] = []
  const runsBefore = a ? idRuns(a.type, false) : []
  const runsAfter = b ? idRuns(b.type, false) : []
  let oldIndex = 0
  let newIndex = 0
  for (const part of diffArrays(a?.items ?? [], b?.items ?? [])) {
    const count = part.value.length
    if (part.added || part.removed) {
      const items = part.value.map((item) => JSON.parse(item))
      // Inserted items are found by their ids in the newer state, removed ones in the older.
      const actors = part.added
        ? actorsIn(runsAfter, attribution.inserted, newIndex, newIndex + count)
        : actorsIn(runsBefore, attribution.deleted, oldIndex, oldIndex + count)
      changes.push({ name, kind: 'array', op: part.added ? 'added' : 'removed', index: newIndex, [part.added ? 'after' : 'before']: items, actors })
    }
    if (!part.removed) newIndex += count
    if (!part.added) oldIndex += count
  }
  return changes
}

function jsonOf(value: unknown): unknown {
  return value instanceof Y.AbstractType ? value.toJSON() : value
}

function lineCount(text: string): number {
  if (!text) return 0
  const newlines = text.split('\n').length - 1
  return text.endsWith('\n') ? newlines : newlines + 1
}
