// What the store keeps about each loaded document's log, and when it is due for compaction.
import type * as Y from 'yjs'
import { bytesOf, type Compacted, type DocOnDisk, nextSeqOf } from './doc-log.js'
import { seqOfLogKey } from './keys.js'

export interface DocInfo {
  nextSeq: number
  logLength: number
  /** bytes appended to the log since the last compaction (or found in it at load) */
  logBytes: number
  /** bytes of the compacted state */
  stateBytes: number
  /** the log below this seq is merged into the state and deleted */
  mergedBelow: number
  /** the loaded document itself, holding every update appended (null once it may hold more) */
  live?: () => Y.Doc | null
}

/** The bookkeeping of a document just read from disk. */
export function docInfoOf(doc: DocOnDisk): DocInfo {
  const first = doc.logKeys[0]
  return {
    nextSeq: nextSeqOf(doc),
    logLength: doc.logKeys.length,
    logBytes: bytesOf(doc.logUpdates),
    stateBytes: doc.state?.length ?? 0,
    mergedBelow: first === undefined ? 0 : seqOfLogKey(first),
  }
}

/** Recounts the log from seqs rather than subtracting, so entries counted for a failed batch do
 * not keep the count high for ever. */
export function afterCompaction(info: DocInfo, done: Compacted): void {
  info.logLength = Math.max(0, info.nextSeq - done.mergedBelow)
  info.logBytes = Math.max(0, info.logBytes - done.mergedBytes)
  info.stateBytes = done.stateBytes
  info.mergedBelow = done.mergedBelow
}

/**
 * A compaction rewrites the whole state, so it waits for a log of `compactAfter` entries that is
 * also as large as the state in bytes (as Redis rewrites its append-only file once it has doubled):
 * its cost stays proportional to what was logged however large the document grew (the
 * coordination document keeps a small tombstone for every claim key ever used), and a load
 * replays at most about the state's size in log on top of it.
 */
export function compactionDue(info: DocInfo, compactAfter: number): boolean {
  return info.logLength >= compactAfter && info.logBytes >= info.stateBytes
}
