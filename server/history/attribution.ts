// Attribution records: which actor and session wrote which Yjs ids of a document, and when. One
// record per accepted update, holding the ids the update inserted and the ids it deleted as
// run-length ranges (clientID, first clock, length), so a keystroke costs a few bytes.
import * as decoding from 'lib0/decoding'
import * as encoding from 'lib0/encoding'
import type * as Y from 'yjs'

/** [clientID, first clock, length] */
export type IdRange = [number, number, number]

export interface Attribution {
  /** the record's sequence number within its document (its key) */
  seq: number
  at: number
  actor: string
  session: string
  inserted: IdRange[]
  deleted: IdRange[]
}

/**
 * The ids a transaction inserted and deleted, adjacent ranges of one client merged: exactly what
 * its update carries (Yjs writes the structs between the transaction's before and after states,
 * and its delete set), read without decoding the update.
 */
export function rangesOfTransaction(transaction: Y.Transaction): { inserted: IdRange[]; deleted: IdRange[] } {
  const inserted: IdRange[] = []
  // afterState holds every client of the document: sort only the few this transaction wrote.
  for (const [client, after] of transaction.afterState) {
    const before = transaction.beforeState.get(client) ?? 0
    if (after > before) inserted.push([client, before, after - before])
  }
  if (inserted.length > 1) inserted.sort((a, b) => b[0] - a[0])
  const deleted: IdRange[] = []
  for (const [client, items] of transaction.deleteSet.clients) {
    for (const item of items) push(deleted, client, item.clock, item.len)
  }
  return { inserted, deleted }
}

function push(ranges: IdRange[], client: number, clock: number, length: number): void {
  const last = ranges[ranges.length - 1]
  if (last && last[0] === client && last[1] + last[2] === clock) last[2] += length
  else ranges.push([client, clock, length])
}

export function encodeAttribution(record: Omit<Attribution, 'seq'>): Uint8Array {
  const encoder = encoding.createEncoder()
  encoding.writeVarUint(encoder, record.at)
  encoding.writeVarString(encoder, record.actor)
  encoding.writeVarString(encoder, record.session)
  for (const ranges of [record.inserted, record.deleted]) {
    encoding.writeVarUint(encoder, ranges.length)
    for (const [client, clock, length] of ranges) {
      encoding.writeVarUint(encoder, client)
      encoding.writeVarUint(encoder, clock)
      encoding.writeVarUint(encoder, length)
    }
  }
  return encoding.toUint8Array(encoder)
}

export function decodeAttribution(seq: number, bytes: Uint8Array): Attribution {
  const decoder = decoding.createDecoder(bytes)
  const at = decoding.readVarUint(decoder)
  const actor = decoding.readVarString(decoder)
  const session = decoding.readVarString(decoder)
  const readRanges = (): IdRange[] => {
    const count = decoding.readVarUint(decoder)
    const ranges: IdRange[] = []
    for (let i = 0; i < count; i++) ranges.push([decoding.readVarUint(decoder), decoding.readVarUint(decoder), decoding.readVarUint(decoder)])
    return ranges
  }
  const inserted = readRanges()
  const deleted = readRanges()
  return { seq, at, actor, session, inserted, deleted }
}

/** A piece of an id range and the record that covers it (null: written before history was kept). */
export interface Segment {
  length: number
  record: Attribution | null
}

interface Entry {
  clock: number
  length: number
  record: Attribution
}

/**
 * Looks up who inserted (or deleted) an id: per client, the ranges sorted by clock. Ids are
 * inserted once; two clients deleting the same ids gives overlapping ranges, and either is right.
 */
export class IdIndex {
  private readonly byClient = new Map<number, Entry[]>()

  constructor(records: Attribution[], which: 'inserted' | 'deleted') {
    for (const record of records) {
      for (const [client, clock, length] of record[which]) {
        let entries = this.byClient.get(client)
        if (!entries) this.byClient.set(client, (entries = []))
        entries.push({ clock, length, record })
      }
    }
    for (const entries of this.byClient.values()) entries.sort((a, b) => a.clock - b.clock || a.record.seq - b.record.seq)
  }

  /** The ids client:clock .. clock+length-1 cut into pieces by the record covering each. */
  segments(client: number, clock: number, length: number): Segment[] {
    const entries = this.byClient.get(client) ?? []
    const out: Segment[] = []
    const end = clock + length
    let at = clock
    let i = Math.max(0, lastAtOrBefore(entries, at))
    while (at < end) {
      while (i < entries.length && entries[i]!.clock + entries[i]!.length <= at) i++
      const entry = entries[i]
      if (!entry || entry.clock >= end) {
        pushSegment(out, end - at, null)
        break
      }
      if (entry.clock > at) {
        pushSegment(out, entry.clock - at, null)
        at = entry.clock
        continue
      }
      const stop = Math.min(end, entry.clock + entry.length)
      pushSegment(out, stop - at, entry.record)
      at = stop
    }
    return out
  }
}

function lastAtOrBefore(entries: Entry[], clock: number): number {
  let low = 0
  let high = entries.length - 1
  let found = -1
  while (low <= high) {
    const mid = (low + high) >> 1
    if (entries[mid]!.clock <= clock) {
      found = mid
      low = mid + 1
    } else {
      high = mid - 1
    }
  }
  return found
}

function pushSegment(out: Segment[], length: number, record: Attribution | null): void {
  const last = out[out.length - 1]
  if (last && last.record === record) last.length += length
  else out.push({ length, record })
}

/**
 * Compaction: consecutive records of one actor and session within `windowMs` of the first of them
 * become one record, its ranges merged, keeping the last record's seq and time (so a version
 * taken between them may be named for a write it already held: blame is coarse by at most the
 * window). Returns the merged records and the seqs they replace.
 */
export function mergeRecords(records: Attribution[], windowMs: number): { merged: Attribution[]; dropped: number[] } {
  const merged: Attribution[] = []
  const dropped: number[] = []
  let group: Attribution[] = []
  const flush = () => {
    if (group.length > 1) {
      const last = group[group.length - 1]!
      merged.push({ ...last, inserted: mergeRanges(group.flatMap((r) => r.inserted)), deleted: mergeRanges(group.flatMap((r) => r.deleted)) })
      for (const record of group.slice(0, -1)) dropped.push(record.seq)
    }
    group = []
  }
  for (const record of records) {
    const first = group[0]
    if (first && (first.actor !== record.actor || first.session !== record.session || record.at - first.at > windowMs)) flush()
    group.push(record)
  }
  flush()
  return { merged, dropped }
}

/** Ranges sorted, overlapping and adjacent ones of a client joined. */
export function mergeRanges(ranges: IdRange[]): IdRange[] {
  const sorted = ranges.map((range) => [...range] as IdRange).sort((a, b) => a[0] - b[0] || a[1] - b[1])
  const out: IdRange[] = []
  for (const range of sorted) {
    const last = out[out.length - 1]
    if (last && last[0] === range[0] && range[1] <= last[1] + last[2]) last[2] = Math.max(last[2], range[1] + range[2] - last[1])
    else out.push(range)
  }
  return out
}
