// One attribution record on its way to the disk. The records of one writer (actor and session) in
// one document queued for the same LevelDB batch merge into one (server/store/group-commit.ts):
// all of them are written with the updates they describe, or none, and the batch carries one key
// per writer instead of one per update. The merged record keeps the last one's seq and time, as
// attribution compaction does (attribution.ts mergeRecords).
import type { Mergeable } from '../store/index.js'
import { type Attribution, encodeAttribution, mergeRanges } from './attribution.js'
import { numberKey } from './keys.js'

export class RecordPut implements Mergeable {
  readonly slot: string
  private readonly record: Omit<Attribution, 'seq'>

  constructor(
    private readonly room: string,
    private seq: number,
    record: Omit<Attribution, 'seq'>,
  ) {
    // Room names, actor ids and session ids never hold a line break (shared/names.ts): no two writers share a slot.
    this.slot = `attribution\n${room}\n${record.actor}\n${record.session}`
    // Takes the record, arrays included: later records' ranges are appended to them.
    this.record = record
  }

  absorb(later: Mergeable): boolean {
    if (!(later instanceof RecordPut) || later.slot !== this.slot || later.seq < this.seq) return false
    this.seq = later.seq
    this.record.at = later.record.at
    this.record.inserted.push(...later.record.inserted)
    this.record.deleted.push(...later.record.deleted)
    return true
  }

  key(): string {
    return numberKey(this.room, 'a', this.seq)
  }

  encode(): Uint8Array {
    return encodeAttribution({ ...this.record, inserted: mergeRanges(this.record.inserted), deleted: mergeRanges(this.record.deleted) })
  }
}
