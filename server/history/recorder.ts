// The history hook of content documents: stamps every change with who made it (in the update's own
// batch, through onPersist: both are written or neither), binds each Yjs clientID
// to the first actor using it, and takes versions when a document goes quiet, after long editing,
// and on request.
import { createHash } from 'node:crypto'
import * as Y from 'yjs'
import type { RoomName } from '../../shared/names.js'
import { log } from '../log.js'
import type { DocumentHook, PersistContext, UnloadReason, Writer } from '../rooms/hooks.js'
import type { UpdateBatch } from '../store/index.js'
import type { Storage } from '../store/storage.js'
import { type Attribution, decodeAttribution, encodeAttribution, type IdRange, mergeRecords, rangesOfTransaction } from './attribution.js'
import { nameKey, nameOfKey, numberKey, numberOfKey, sectionRange } from './keys.js'
import { RecordPut } from './record-put.js'
import type { RetentionPolicy } from './retention.js'
import { sweepDocument } from './sweep.js'
import { encodeJson, readLastVersion, type VersionMeta, type VersionReason } from './versions.js'

export interface HistoryOptions {
  /** a changed document gets a version after this long without changes */
  quietMs: number
  /** ... or this long after its first change since the last version, however busy */
  maxMs: number
  retention: RetentionPolicy
}

/** Attribution seqs (one per update; merged records leave gaps) after which a document's attribution is compacted in the background. */
const COMPACT_EVERY = 500
/** consecutive records of one session within this long merge into one when compacted */
const MERGE_WINDOW_MS = 60_000

/** Writes the server makes for nobody in particular (no authenticated writer behind them). */
export const SERVER_ACTOR = 'huddle:server'

interface DocState {
  doc: Y.Doc | null
  bindings: Map<number, string>
  /**
   * Who sent the first new ids of each clientID not bound yet: Yjs may hold them pending (they
   * build on ids the server lacks) and integrate them in another client's transaction. An entry
   * lives only until its clientID is bound or its ids are no longer pending (see pruneClaims).
   */
  claims: Map<number, Writer>
  known: Set<string>
  nextSeq: number
  /** the last record the previous attribution compaction read: the records before it are merged */
  compactedFrom: number
  nextVersion: number
  last: VersionMeta | null
  /** actors since the last version; null while nothing changed */
  since: Set<string> | null
  quiet: NodeJS.Timeout | null
  max: NodeJS.Timeout | null
}

export class HistoryRecorder implements DocumentHook {
  private readonly docs = new Map<string, DocState>()
  private readonly compacting = new Set<string>()

  constructor(
    private readonly store: Storage,
    private readonly options: HistoryOptions,
  ) {}

  matches(room: RoomName): boolean {
    // The dashboard's own bookkeeping under .huddle/ is not content anyone edits.
    return room.path !== null && !room.path.startsWith('.huddle/')
  }

  async beforeLoad(room: RoomName): Promise<void> {
    const name = room.room
    const [bindings, writers, lastRecord, last] = await Promise.all([
      this.store.readRange(sectionRange(name, 'c')),
      this.store.readRange(sectionRange(name, 'w')),
      this.store.readRange({ ...sectionRange(name, 'a'), reverse: true, limit: 1 }),
      readLastVersion(this.store, name),
    ])
    const decoder = new TextDecoder()
    this.docs.set(name, {
      doc: null,
      bindings: new Map(bindings.map(([key, value]) => [Number(nameOfKey(key, name, 'c')), decoder.decode(value)])),
      claims: new Map(),
      known: new Set(writers.map(([key]) => nameOfKey(key, name, 'w'))),
      nextSeq: lastRecord[0] ? numberOfKey(lastRecord[0][0]) + 1 : 0,
      compactedFrom: 0,
      nextVersion: last ? last.id + 1 : 1,
      last,
      since: null,
      quiet: null,
      max: null,
    })
  }

  onLoad(room: RoomName, doc: Y.Doc): void {
    const state = this.docs.get(room.room)
    if (!state) return
    state.doc = doc
    // Changes since the last version (a crash before the quiet timer fired) still get one.
    if (doc.store.clients.size > 0 && state.last?.fingerprint !== fingerprintOf(doc)) void this.recoverChanges(room.room, state)
    void this.sweep(room.room)
  }

  /** Attribution goes into the batch of the update it describes: both are written or neither. */
  onPersist({ room, writer, batch, transaction }: PersistContext): void {
    const state = this.docs.get(room.room)
    if (state?.doc) this.record(room.room, state, transaction, writer, batch)
  }

  /** Refuses a client's update using a clientID bound to another actor (or the server's own). */
  refuseClientUpdate(room: RoomName, _update: Uint8Array, writer: Writer, ends: ReadonlyMap<number, number>): string | null {
    const state = this.docs.get(room.room)
    if (!state) return null
    // Ids the document already has are no new writing (a sync step 2 may repeat them).
    const fresh = (client: number, end: number) => !state.doc || end > Y.getState(state.doc.store, client)
    for (const [client, end] of ends) {
      if (!fresh(client, end)) continue
      const owner = client === state.doc?.clientID ? SERVER_ACTOR : (state.bindings.get(client) ?? state.claims.get(client)?.identity.actor)
      if (owner !== undefined && owner !== writer.identity.actor) {
        return `Yjs clientID ${client} already writes for ${owner} in ${room.room}; a client writes under its own clientID (reload to get a new one)`
      }
    }
    for (const [client, end] of ends) {
      if (fresh(client, end) && !state.bindings.has(client) && !state.claims.has(client) && client !== state.doc?.clientID) state.claims.set(client, writer)
    }
    return null
  }

  onUnload(room: RoomName, doc: Y.Doc, reason: UnloadReason): void {
    const state = this.docs.get(room.room)
    if (!state || state.doc !== doc) return
    this.docs.delete(room.room)
    clearTimers(state)
    // After a storage failure memory may be ahead of the disk: nothing derived from it is written.
    if (reason !== 'failed' && state.since) this.snapshot(room.room, state, 'auto').catch(() => undefined)
  }

  /** Takes a version of a loaded document now; resolves with it once it is written. */
  takeVersion(room: string, reason: VersionReason, label?: string, restored?: number): Promise<VersionMeta> {
    const state = this.docs.get(room)
    if (!state?.doc) return Promise.reject(new Error(`document ${room} is not loaded`))
    // Before a revert or a change set, an unchanged document's last version already is the state to go back to.
    if (reason.startsWith('before-') && state.last && !state.since) return Promise.resolve(state.last)
    return this.snapshot(room, state, reason, label, restored)
  }

  /** The attribution seq the next record gets (records below it are written or queued). */
  nextSeq(room: string): number | undefined {
    return this.docs.get(room)?.nextSeq
  }

  private record(room: string, state: DocState, transaction: Y.Transaction, writer: Writer | null, batch: UpdateBatch): void {
    const ranges = rangesOfTransaction(transaction)
    const actor = writer?.identity.actor ?? SERVER_ACTOR
    // Ids another actor claimed (its structs waited pending until this update) are its own.
    const mine: IdRange[] = []
    const others = new Map<string, { writer: Writer; inserted: IdRange[] }>()
    for (const range of ranges.inserted) {
      const claim = state.claims.get(range[0])
      const owner = state.bindings.get(range[0]) ?? claim?.identity.actor ?? actor
      if (owner === actor || !claim) mine.push(range)
      else if (others.has(owner)) others.get(owner)!.inserted.push(range)
      else others.set(owner, { writer: claim, inserted: [range] })
    }
    const before = state.nextSeq
    this.append(room, state, writer, { inserted: mine, deleted: ranges.deleted }, batch)
    for (const other of others.values()) this.append(room, state, other.writer, { inserted: other.inserted, deleted: [] }, batch)
    if (state.claims.size > 0) pruneClaims(state)
    if (Math.floor(before / COMPACT_EVERY) !== Math.floor(state.nextSeq / COMPACT_EVERY)) void this.compact(room, state)
  }

  private append(room: string, state: DocState, writer: Writer | null, ranges: { inserted: IdRange[]; deleted: IdRange[] }, batch: UpdateBatch): void {
    const actor = writer?.identity.actor ?? SERVER_ACTOR
    const record = { at: Date.now(), actor, session: writer?.session ?? '', ...ranges }
    batch.merge(new RecordPut(room, state.nextSeq++, record))
    for (const [client] of record.inserted) {
      if (state.bindings.has(client) || client === state.doc?.clientID) continue
      state.bindings.set(client, actor)
      state.claims.delete(client)
      batch.put(nameKey(room, 'c', String(client)), new TextEncoder().encode(actor))
    }
    if (!state.known.has(actor)) {
      state.known.add(actor)
      const info = writer ? { name: writer.identity.name, kind: writer.identity.kind } : { name: 'Huddle server', kind: 'server' }
      batch.put(nameKey(room, 'w', actor), encodeJson(info))
    }
    this.changed(room, state, actor)
  }

  private changed(room: string, state: DocState, actor: string): void {
    if (!state.since) {
      state.since = new Set()
      state.max = setTimeout(() => this.autoVersion(room, state), this.options.maxMs)
      state.max.unref()
    }
    state.since.add(actor)
    // Every update restarts the quiet timer: refresh() re-arms it without a new Timeout each time.
    if (state.quiet) state.quiet.refresh()
    else {
      state.quiet = setTimeout(() => this.autoVersion(room, state), this.options.quietMs)
      state.quiet.unref()
    }
  }

  private autoVersion(room: string, state: DocState): void {
    if (this.docs.get(room) !== state || !state.since) return
    this.snapshot(room, state, 'auto').catch((error: Error) => log('history: version not written', { room, error: error.message }))
  }

  private async snapshot(room: string, state: DocState, reason: VersionReason, label?: string, restored?: number): Promise<VersionMeta> {
    const doc = state.doc!
    const content = Y.encodeStateAsUpdate(doc)
    const meta: VersionMeta = {
      id: state.nextVersion++,
      at: Date.now(),
      ...(label !== undefined ? { label } : {}),
      reason,
      actors: [...(state.since ?? [])].sort(),
      bytes: content.length,
      attrSeq: state.nextSeq,
      fingerprint: fingerprintOf(doc),
      ...(restored !== undefined ? { restored } : {}),
    }
    state.last = meta
    state.since = null
    clearTimers(state)
    await Promise.all([this.store.put(numberKey(room, 's', meta.id), content), this.store.put(numberKey(room, 'v', meta.id), encodeJson(meta))])
    void this.sweep(room)
    return meta
  }

  private async recoverChanges(room: string, state: DocState): Promise<void> {
    try {
      const rows = await this.store.readRange({ gte: numberKey(room, 'a', state.last?.attrSeq ?? 0), lt: sectionRange(room, 'a').lt })
      const actors = new Set(rows.map(([key, value]) => decodeAttribution(numberOfKey(key), value).actor))
      if (this.docs.get(room) !== state) return
      if (actors.size === 0) actors.add(SERVER_ACTOR)
      for (const actor of actors) this.changed(room, state, actor)
    } catch (error) {
      log('history: could not read the changes since the last version', { room, error: (error as Error).message })
    }
  }

  /**
   * Merges runs of small records (a person typing) into one each; all in one batch. Reads from the
   * last record the previous compaction read (the only group before it that may still grow), so
   * each record is read about once while the document stays loaded.
   */
  private async compact(room: string, state: DocState): Promise<void> {
    if (this.compacting.has(room)) return
    this.compacting.add(room)
    try {
      const records = await readAttribution(this.store, room, state.compactedFrom)
      const { merged, dropped } = mergeRecords(records, MERGE_WINDOW_MS)
      const writes = [
        ...merged.map((record) => this.store.put(numberKey(room, 'a', record.seq), encodeAttribution(record))),
        ...dropped.map((seq) => this.store.del(numberKey(room, 'a', seq))),
      ]
      await Promise.all(writes)
      state.compactedFrom = records[records.length - 1]?.seq ?? state.compactedFrom
    } catch (error) {
      log('history: attribution compaction failed; the records are kept as they are', { room, error: (error as Error).message })
    } finally {
      this.compacting.delete(room)
    }
  }

  /** Drops what retention no longer keeps, after each version and load (and see sweep.ts). */
  private async sweep(room: string): Promise<void> {
    try {
      await sweepDocument(this.store, room, this.options.retention)
    } catch (error) {
      log('history: retention sweep failed; it runs again with the next version', { room, error: (error as Error).message })
    }
  }
}

/** Attribution records of a document from seq `from` on, oldest first. */
export async function readAttribution(store: Storage, room: string, from = 0): Promise<Attribution[]> {
  const rows = await store.readRange({ gte: numberKey(room, 'a', from), lt: sectionRange(room, 'a').lt })
  return rows.map(([key, value]) => decodeAttribution(numberOfKey(key), value))
}

/** What the document holds (state vector and deletions, both canonical however the structs are split). */
function fingerprintOf(doc: Y.Doc): string {
  return createHash('sha256')
    .update(Y.encodeSnapshot(Y.snapshot(doc)))
    .digest('base64')
}

/**
 * Keeps only the claims whose ids Yjs still holds pending (a v2 update): the others were bound when their ids
 * were integrated, or their update was refused after the claim (by a later hook) and never applied.
 */
function pruneClaims(state: DocState): void {
  const pending = state.doc?.store.pendingStructs
  const waiting = pending ? Y.parseUpdateMetaV2(pending.update).to : new Map<number, number>()
  for (const client of state.claims.keys()) if (state.bindings.has(client) || !waiting.has(client)) state.claims.delete(client)
}

function clearTimers(state: DocState): void {
  if (state.quiet) clearTimeout(state.quiet)
  if (state.max) clearTimeout(state.max)
  state.quiet = null
  state.max = null
}
