// The hook lifecycle of a document. The authority (server/authority) is the built-in hook for
// coordination documents; a deployment can register its own validators for its own documents.
import type * as Y from 'yjs'
import type { RoomName } from '../../shared/names.js'
import type { Identity } from '../../shared/roles.js'
import type { AuditEntry } from '../audit/chain.js'
import type { UpdateBatch } from '../store/index.js'
import type { LockNotice, LockRequest } from '../../shared/lock-channel.js'

/**
 * Why a document leaves memory. After `failed` (a storage failure, or a hook that threw while the
 * document changed) its memory may differ from the disk, so nothing derived from it may be written.
 */
export type UnloadReason = 'idle' | 'failed' | 'shutdown'

/**
 * Thrown by a hook's `beforeLoad` (or by storage) when the document cannot be opened now but will
 * be shortly: a service it needs is down, or the document is moving to another node. The
 * connection is closed with 1013 and the message, and the client reconnects, instead of seeing
 * an internal error (1011). Any other exception still means 1011.
 */
export class TryAgainLater extends Error {}

/** Who made a write: the authenticated identity and the session of the connection. */
export interface Writer {
  identity: Identity
  session: string
}

export interface WriteContext {
  room: RoomName
  doc: Y.Doc
  /** the transaction holding the client's write; corrections made in it leave in the same update */
  transaction: Y.Transaction
  writer: Writer
  /**
   * Records a refused (already undone) part of the write: an audit entry in the same batch as the
   * undo, and a strike toward the forgery limit. Returns the audit entry.
   */
  refuse(reason: string, detail?: Record<string, unknown>): AuditEntry
}

/**
 * Who is waiting for a transaction's update: a hook names the sessions its change answers (a lock
 * granted, an approval decided) and the room sends the update to their connections before its
 * other members, so the one who waits does not wait for the whole fan-out. Carried in the
 * transaction's own `meta`, so client writes and the server's own (timers, sessions ending) alike.
 */
const WAITING = Symbol('huddle:waiting-sessions')

export function answerFirst(transaction: Y.Transaction, session: string): void {
  const sessions = transaction.meta.get(WAITING) as Set<string> | undefined
  if (sessions) sessions.add(session)
  else transaction.meta.set(WAITING, new Set([session]))
}

/** The sessions `answerFirst` named for `transaction`, if any. */
export function waitingSessions(transaction: Y.Transaction): ReadonlySet<string> | undefined {
  return transaction.meta.get(WAITING) as Set<string> | undefined
}

export interface PersistContext {
  room: RoomName
  /** the document update about to be written (one transaction's) */
  update: Uint8Array
  /** the connection whose write it is; null for the server's own writes (timers, hooks on join) */
  writer: Writer | null
  /** writes added here go into the same LevelDB batch as the update: both or neither survive */
  batch: UpdateBatch
  /**
   * the transaction that made the update: its before and after states and its delete set say
   * which ids the update inserts and deletes without decoding it (history/attribution.ts)
   */
  transaction: Y.Transaction
}

/** What a hook gets to answer a lock-only connection's request (shared/lock-channel.ts). */
export interface RequestContext {
  room: RoomName
  doc: Y.Doc
  writer: Writer
  /**
   * Makes `change` as the writer's own write: one transaction, judged by every hook's
   * `onClientWrite` as if the client had sent it. Returns the reasons of the parts they refused
   * (and undid), or null when a hook threw: the room then reloads and the writer is closed.
   */
  writeAs(change: () => void): string[] | null
  /** sends `notice` to this connection once everything queued so far is written */
  reply(notice: LockNotice): void
}

/** A notice for the lock-only connections of one session. */
export interface SessionNotice {
  session: string
  notice: LockNotice
}

export interface DocumentHook {
  /** which documents this hook watches */
  matches(room: RoomName): boolean
  /** before the document is read from storage: load what the hook needs alongside it */
  beforeLoad?(room: RoomName): Promise<void>
  /** after the document is loaded from storage, before anyone is answered */
  onLoad?(room: RoomName, doc: Y.Doc): void
  /**
   * Before a client's update that would change the document is applied: a reason refuses all of
   * it (4403 with the reason), so nobody else ever sees it. A throw refuses it too (fail closed).
   * `ends`: for each clientID the update writes, the clock after its last id (the room has
   * decoded the update already; hooks need not decode it again).
   */
  refuseClientUpdate?(room: RoomName, update: Uint8Array, writer: Writer, ends: ReadonlyMap<number, number>): string | null
  /**
   * Inside the client's transaction, after its update was applied: undo what is not allowed. If
   * this (or anything else in the transaction) throws, nothing of the transaction is written or
   * sent: the writer is closed with 1011 and the document reloads from storage.
   */
  onClientWrite?(context: WriteContext): void
  /**
   * For every update of the document before it is queued for writing (a client's, after its
   * hooks returned, or the server's own): add what must be written atomically with it (e.g.
   * attribution). Throwing fails closed: the update is neither written nor sent and the room
   * reloads from storage.
   */
  onPersist?(context: PersistContext): void
  /** a lock-only connection's request (only one hook of a document should take them) */
  onLockRequest?(context: RequestContext, request: LockRequest): void
  /**
   * While lock-only connections are in the room, for every update about to be written: what it
   * means for their sessions. Each notice is sent once the update is written. Throwing fails
   * closed like `onPersist`.
   */
  lockNotices?(room: RoomName, transaction: Y.Transaction): SessionNotice[]
  onJoin?(room: RoomName, doc: Y.Doc, writer: Writer): void
  onLeave?(room: RoomName, doc: Y.Doc, writer: Writer): void
  /** true keeps an idle document loaded (e.g. it has timers due) */
  keepLoaded?(room: RoomName, doc: Y.Doc): boolean
  onUnload?(room: RoomName, doc: Y.Doc, reason: UnloadReason): void
}
