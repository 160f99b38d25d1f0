// What the server needs from its storage, whichever engine holds it: the embedded LevelDB (Store,
// the default) or Redis in cluster mode (server/cluster/redis-store.ts).
import type * as Y from 'yjs'
import type { RangeOptions, StoreStats, UpdateBatch } from './index.js'

export interface Storage {
  /** where the data is, for messages */
  readonly dir: string
  /** the updates that rebuild a document, in order */
  loadDoc(name: string): Promise<Uint8Array[]>
  /** appends one update to a loaded document, with `batch` written atomically with it; resolves once it is durable */
  appendUpdate(name: string, update: Uint8Array, batch?: UpdateBatch): Promise<void>
  /** optional: lets compactions of a loaded document encode its live Y.Doc (Store.track) */
  track?(name: string, live: () => Y.Doc | null): void
  /** drops the bookkeeping of an unloaded document */
  forget(name: string): void
  put(key: string, value: Uint8Array): Promise<void>
  del(key: string): Promise<void>
  get(key: string): Promise<Uint8Array | undefined>
  readRange(range: RangeOptions): Promise<Array<[string, Uint8Array]>>
  /** names of stored documents starting with `prefix`, in order */
  listDocs(prefix: string, limit?: number): Promise<string[]>
  /** resolves once everything queued so far is written or failed */
  flush(): Promise<void>
  compact(name: string): Promise<void>
  stats(): StoreStats
  close(): Promise<void>
}
