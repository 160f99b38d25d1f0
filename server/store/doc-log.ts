// A document on disk: its compacted state plus the update log appended since, and the merge that
// folds the two into a new state.
import * as Y from 'yjs'
import type { AbstractBatchOptions, AbstractLevel } from 'abstract-level'
import type { Op } from './group-commit.js'
import { logAndStateRange, logKey, seqOfLogKey, stateKey, svKey } from './keys.js'

/** LevelDB on disk (`level`) or in memory (`memory-level`): both are abstract-level databases. */
export type Db = AbstractLevel<string | Buffer | Uint8Array, string, Uint8Array>

/** classic-level's `sync` (fsync the batch) is not part of the abstract interface; memory-level ignores it. */
export interface BatchOptions extends AbstractBatchOptions<string, Uint8Array> {
  sync?: boolean
}

export interface DocOnDisk {
  state: Uint8Array | undefined
  logKeys: string[]
  logUpdates: Uint8Array[]
}

/** Reads state and log (from seq `from`: entries below it are known to be merged and deleted)
 * through one iterator, i.e. one LevelDB snapshot, so a compaction
 * committing meanwhile can never make us see the old state without the log it replaced. */
export async function readDoc(db: Db, name: string, from = 0): Promise<DocOnDisk> {
  const entries = await db.iterator(logAndStateRange(name, from)).all()
  const doc: DocOnDisk = { state: undefined, logKeys: [], logUpdates: [] }
  const state = stateKey(name)
  for (const [key, value] of entries) {
    if (key === state) {
      doc.state = value
    } else {
      doc.logKeys.push(key)
      doc.logUpdates.push(value)
    }
  }
  return doc
}

/** The updates that rebuild the document, in the order they must be applied. */
export function updatesOf(doc: DocOnDisk): Uint8Array[] {
  return doc.state ? [doc.state, ...doc.logUpdates] : doc.logUpdates.slice()
}

/** The seq the next appended update gets. */
export function nextSeqOf(doc: DocOnDisk): number {
  const last = doc.logKeys[doc.logKeys.length - 1]
  return last === undefined ? 0 : seqOfLogKey(last) + 1
}

/** What a compaction did, for the store's bookkeeping. */
export interface Compacted {
  /** the log below this seq is merged into the state and deleted */
  mergedBelow: number
  /** bytes of log entries merged */
  mergedBytes: number
  /** bytes of the new state */
  stateBytes: number
  /** encoded from the loaded document, or by replaying the log */
  from: 'live' | 'log'
}

export interface Compaction {
  ops: Op[]
  done: Compacted
}

/** The batch replacing state + log by one merged state. Going through a Y.Doc (rather than
 * Y.mergeUpdates) garbage-collects deleted content. Only the log keys that were read are
 * deleted, so updates appended after the read survive. */
export function compactionOps(name: string, doc: DocOnDisk): Compaction {
  // A guid of our own: Yjs would draw a random one, 31 calls to crypto.getRandomValues
  const ydoc = new Y.Doc({ gc: true, guid: name })
  try {
    ydoc.transact(() => {
      for (const update of updatesOf(doc)) Y.applyUpdate(ydoc, update)
    })
    const state = Y.encodeStateAsUpdate(ydoc)
    const ops: Op[] = [
      { type: 'put', key: stateKey(name), value: state },
      { type: 'put', key: svKey(name), value: Y.encodeStateVector(ydoc) },
    ]
    for (const key of doc.logKeys) ops.push({ type: 'del', key })
    return { ops, done: { mergedBelow: nextSeqOf(doc), mergedBytes: bytesOf(doc.logUpdates), stateBytes: state.length, from: 'log' } }
  } finally {
    ydoc.destroy()
  }
}

/**
 * The batch replacing state + log entries [from, to) by the state of `doc`, a live copy of the
 * document that holds every one of those entries: encoding it skips the replay of the log that
 * `compactionOps` does (a live doc is garbage-collected as it goes). Seqs are given out one by
 * one, so the range names every entry; deleting one that a failed batch never wrote is harmless.
 */
export function liveCompactionOps(name: string, doc: Y.Doc, from: number, to: number, logBytes: number): Compaction {
  const state = Y.encodeStateAsUpdate(doc)
  const ops: Op[] = [
    { type: 'put', key: stateKey(name), value: state },
    { type: 'put', key: svKey(name), value: Y.encodeStateVector(doc) },
  ]
  for (let seq = from; seq < to; seq++) ops.push({ type: 'del', key: logKey(name, seq) })
  return { ops, done: { mergedBelow: to, mergedBytes: logBytes, stateBytes: state.length, from: 'live' } }
}

export function bytesOf(updates: Uint8Array[]): number {
  let bytes = 0
  for (const update of updates) bytes += update.length
  return bytes
}
