// One loaded document and its connections. Every change to the document — a client's update or a
// server write — is captured by the doc's `update` event, appended to the store's group commit,
// and broadcast (echo included) only once the batch carrying it is written: persist before
// broadcast, for all writers alike.
import * as Y from 'yjs'
import type { RoomName } from '../../shared/names.js'
import { roleAtLeast } from '../../shared/roles.js'
import { encodeAwareness, type Incoming, ProtocolError } from '../protocol/messages.js'
import { decodeAwarenessUpdate } from '../protocol/awareness.js'
import { CloseCode } from '../../shared/close-codes.js'
import { type DocumentHook, type SessionNotice, type UnloadReason, waitingSessions, type Writer } from './hooks.js'
import { encodeLockMessage } from '../../shared/lock-channel.js'
import { answerLockRequest, checkKind, type LockRequestRoom } from './lock-only.js'
import { UpdateBatch } from '../store/index.js'
import type { AuditEntry } from '../audit/chain.js'
import { Presence } from './presence.js'
import { clockEnds, updateChangesDoc } from './read-only.js'
import { readUpdateShape, type UpdateShape } from '../protocol/update-shape.js'
import { type PreparedFrame, prepareFrame } from '../protocol/frame.js'
import { SyncBudgetExceeded, SyncReplies } from './sync-replies.js'
import type { Policy } from './pacing.js'
import { PacedBroadcast, Pacer } from './pacer.js'
import type { LoopMeter } from './loop-meter.js'
import { Audience, type Member, sendTo } from './audience.js'

export interface RoomDeps {
  appendUpdate(room: string, update: Uint8Array, batch?: UpdateBatch): Promise<void>
  /** audits a write a hook refused, in this turn (the batch of the undo) */
  recordRefusal(room: RoomName, writer: Writer, reason: string, detail?: Record<string, unknown>): AuditEntry
  /** counts `frame`'s messages sent to `sockets` sockets */
  countSent(sockets: number, frame: PreparedFrame): void
  /** how broadcasts are paced (see pacing.ts) */
  pacing: Policy
  loop: LoopMeter
  onEmpty(room: Room): void
  /** the room stopped serving: its memory may differ from storage (see `RoomFailure`) */
  onFailed(room: Room, error: Error, cause: RoomFailure): void
}

/**
 * `storage`: a batch failed, and it may have carried any room's writes. `hook`: a document hook
 * (or Yjs itself) threw while changing this room's document; the changes were neither written nor
 * sent, so this room's memory is ahead of its storage.
 */
export type RoomFailure = 'storage' | 'hook'

interface Pending {
  update: Uint8Array
  batch: Promise<void>
  /** sessions waiting for this update (see hooks.ts `answerFirst`) */
  waiting: ReadonlySet<string> | undefined
  /** for lock-only connections, sent as soon as the update is written */
  notices: SessionNotice[] | undefined
}

export class Room {
  readonly doc: Y.Doc
  private readonly audience: Audience
  readonly members: ReadonlySet<Member>
  readonly presence = new Presence()
  private outbox: Pending[] = []
  private readonly writeHooks: DocumentHook[]
  private lastBatch: Promise<void> = Promise.resolve()
  /** written updates waiting for the next paced broadcast, and the sessions waiting for them */
  private ready: Uint8Array[] = []
  private readyWaiting = new Set<string>()
  private readonly pacer: Pacer
  private readonly presenceBroadcast = new PacedBroadcast(() => this.broadcastPresence(), true)
  private readonly updateBroadcast = new PacedBroadcast(() => this.broadcastReady(), false)
  private readonly replies: SyncReplies
  /**
   * While hooks run, the document's updates are collected here instead of being written: they
   * are written only if the hooks return (see `guarded`).
   */
  private captured: Change[] | null = null
  private readonly persistHooks: DocumentHook[]
  private failed = false
  private readonly lockRequests: LockRequestRoom

  constructor(
    readonly name: RoomName,
    private readonly hooks: DocumentHook[],
    private readonly deps: RoomDeps,
    stored: Uint8Array[],
  ) {
    this.doc = new Y.Doc({ gc: true })
    this.audience = new Audience(deps.countSent)
    this.members = this.audience.members
    this.writeHooks = hooks.filter((hook) => hook.onClientWrite)
    this.persistHooks = hooks.filter((hook) => hook.onPersist)
    this.replies = new SyncReplies(this.doc)
    this.pacer = new Pacer(deps.pacing, deps.loop)
    // Stored updates are already durable: apply them before listening, so they are not written again.
    this.doc.transact(() => {
      for (const update of stored) Y.applyUpdate(this.doc, update)
    })
    this.doc.on('update', (update: Uint8Array, origin: unknown, _doc: Y.Doc, transaction: Y.Transaction) => {
      const pending = { update, writer: writerOf(origin), transaction }
      if (this.captured) {
        this.captured.push(pending)
        return
      }
      const failure = this.persistThenBroadcast(pending)
      if (failure) this.fail(failure, 'hook')
    })
    for (const hook of this.hooks) hook.onLoad?.(this.name, this.doc)
    this.lockRequests = {
      name,
      doc: this.doc,
      hooks,
      writeAs: (member, change) => {
        const { failure, refusals } = this.clientTransaction(member, change)
        return failure ? null : refusals
      },
      afterWritten: (member, send) =>
        this.lastBatch.then(
          () => this.members.has(member) && send(),
          () => undefined,
        ),
    }
  }

  get isCoordination(): boolean {
    return this.name.path === null
  }

  join(member: Member): void {
    this.audience.add(member)
    if (!member.lockOnly) {
      sendTo(member, this.replies.step1(), Date.now())
      const states = this.presence.snapshot()
      if (states) member.send(encodeAwareness(states))
    }
    const failure = this.guarded(() => {
      for (const hook of this.hooks) hook.onJoin?.(this.name, this.doc, member)
    })
    if (failure) this.fail(failure, 'hook')
  }

  leave(member: Member): void {
    if (!this.audience.remove(member)) return
    this.presence.removeOwner(member)
    this.presenceBroadcast.request()
    // A failed room is being discarded with its memory: nothing may be written on its behalf.
    if (!this.failed) {
      const failure = this.guarded(() => {
        for (const hook of this.hooks) hook.onLeave?.(this.name, this.doc, member)
      })
      if (failure) return this.fail(failure, 'hook')
    }
    if (this.members.size === 0) this.deps.onEmpty(this)
  }

  /** Handles one decoded message; throws ProtocolError for input that breaks the protocol. */
  receive(member: Member, message: Incoming): void {
    if (this.failed) return
    checkKind(member, message)
    switch (message.kind) {
      case 'lock':
        return answerLockRequest(this.lockRequests, member, message.request)
      case 'sync-step1':
        this.audience.askedToSync(member)
        return this.answerSyncStep1(member, message.stateVector)
      case 'sync-step2':
      case 'update':
        // A client writing without having asked to sync wants its echo, not a consistent snapshot.
        this.audience.wrote(member)
        return this.applyClientUpdate(member, message.update)
      case 'awareness':
        return this.applyAwareness(member, message.update)
      case 'query-awareness': {
        const states = this.presence.snapshot()
        if (states) member.send(encodeAwareness(states))
      }
    }
  }

  /**
   * The reply holds the document as it is now; it is sent once every batch queued so far is
   * written, so a joining client never sees state that a crash could still lose.
   */
  private answerSyncStep1(member: Member, stateVector: Uint8Array): void {
    let reply: PreparedFrame
    try {
      reply = this.replies.replyTo(member, stateVector)
    } catch (error) {
      if (!(error instanceof SyncBudgetExceeded)) throw error
      return member.refuse(CloseCode.rateLimited, error.message)
    }
    const prepared = reply
    this.lastBatch.then(
      () => {
        if (!this.members.has(member)) return
        const now = Date.now()
        sendTo(member, prepared, now)
        this.audience.release(member, now)
      },
      () => undefined,
    )
  }

  private applyClientUpdate(member: Member, update: Uint8Array): void {
    // Reading the whole update first (structs and delete set) refuses it before anything is
    // applied: Y.applyUpdate integrates the structs before it reads the delete set, so a bad tail
    // would leave half an update in the document. Viewers' updates and the hooks' checks use the
    // same reading, which allocates nothing per struct (protocol/update-shape.ts).
    let decoded: UpdateShape
    try {
      decoded = readUpdateShape(update)
    } catch (error) {
      throw new ProtocolError(`malformed Yjs update (${(error as Error).message})`)
    }
    // Asked at most once per update, and only when a refusal depends on it.
    let changes: boolean | undefined
    const changesDoc = () => (changes ??= updateChangesDoc(this.doc, decoded))
    if (!this.isCoordination && !roleAtLeast(member.identity.role, 'editor') && changesDoc()) {
      member.refuse(CloseCode.forbidden, `read-only: your role is ${member.identity.role}; ask an admin for an editor token to change ${this.name.room}`)
      return
    }
    const refusal = this.refusalOf(member, update, decoded, changesDoc)
    if (refusal) {
      member.refuse(CloseCode.forbidden, refusal)
      return
    }
    let malformed: ProtocolError | null = null
    const { failure } = this.clientTransaction(member, () => {
      try {
        Y.applyUpdate(this.doc, update, member)
      } catch (error) {
        // Some updates decode but cannot be integrated; the client sent something no Yjs writes.
        // What Yjs integrated before it threw is in the document: the hooks judge it like any
        // write, and the writer is closed once they have.
        malformed = new ProtocolError(`malformed Yjs update: it could not be applied (${(error as Error).message})`)
      }
    })
    if (failure) return
    if (malformed) member.refuse(CloseCode.malformed, (malformed as ProtocolError).message)
  }

  /**
   * Runs `apply` as `member`'s write and then the write hooks, in one transaction. Returns the
   * reasons the hooks refused, or the failure of a hook that threw (the room is then failing and
   * `member` closed).
   */
  private clientTransaction(member: Member, apply: () => void): { failure: Error | null; refusals: string[] } {
    const hooks = this.writeHooks
    const refusals: string[] = []
    const failure = this.guarded(() =>
      this.doc.transact((transaction) => {
        apply()
        if (hooks.length === 0) return
        // Y.applyUpdate marks the transaction remote; server corrections made after it would make
        // Yjs believe another client uses the server's client id and pick a new one every time.
        transaction.local = true
        const refuse = (reason: string, detail?: Record<string, unknown>) => {
          const entry = this.deps.recordRefusal(this.name, member, reason, detail)
          member.noteForgery(reason)
          refusals.push(reason)
          return entry
        }
        const context = { room: this.name, doc: this.doc, transaction, writer: member, refuse }
        for (const hook of hooks) hook.onClientWrite!(context)
      }, member),
    )
    if (failure) {
      const reason = `your update was not saved or shared: a server hook failed on it (${failure.message}); reconnect to retry, report it if it repeats`
      this.fail(failure, 'hook', { member, code: CloseCode.internalError, reason })
    }
    return { failure, refusals }
  }

  /**
   * Fail closed: runs `change` (a transaction that calls hooks) and writes the document updates it
   * made only if it returns. Yjs emits a transaction's update even when its callback threw, so they
   * are collected, and an exception discards them and returns the error: the document in memory
   * then holds changes nobody may see, and the room must be failed (and reloaded from storage).
   * An onPersist hook that throws while they are queued is returned the same way.
   */
  private guarded(change: () => void): Error | null {
    if (this.captured) throw new Error('hooks may not re-enter the room')
    const captured: Change[] = []
    this.captured = captured
    try {
      change()
    } catch (error) {
      return error instanceof Error ? error : new Error(String(error))
    } finally {
      this.captured = null
    }
    for (const change of captured) {
      const failure = this.persistThenBroadcast(change)
      if (failure) return failure
    }
    return null
  }

  /** A hook's reason to refuse the whole update (see DocumentHook.refuseClientUpdate); fails closed. */
  private refusalOf(member: Member, update: Uint8Array, decoded: UpdateShape, changesDoc: () => boolean): string | null {
    let ends: Map<number, number> | undefined
    for (const hook of this.hooks) {
      if (!hook.refuseClientUpdate) continue
      let reason: string | null
      try {
        reason = hook.refuseClientUpdate(this.name, update, member, (ends ??= clockEnds(decoded)))
      } catch (error) {
        reason = `the write check failed (${(error as Error).message}); nothing was applied, retry`
      }
      if (reason && changesDoc()) return reason
    }
    return null
  }

  private applyAwareness(member: Member, update: Uint8Array): void {
    const accepted = this.presence.accept(member, decodeAwarenessUpdate(update))
    if ('code' in accepted) return member.refuse(accepted.code, accepted.reason)
    if (accepted.reply) member.send(encodeAwareness(accepted.reply))
    this.presenceBroadcast.request()
  }

  private broadcastPresence(): void {
    const update = this.presence.takePending()
    if (!update) return
    this.presenceBroadcast.nextAt = this.pacer.presence(() => this.audience.sendAll(prepareFrame(encodeAwareness(update))))
  }

  /** Queues `change` for writing; returns the error of an onPersist hook that threw (nothing was queued). */
  private persistThenBroadcast({ update, writer, transaction }: Change): Error | null {
    if (this.failed) return null
    this.replies.changed()
    let extra: UpdateBatch | undefined
    if (this.persistHooks.length > 0) {
      extra = new UpdateBatch()
      try {
        for (const hook of this.persistHooks) hook.onPersist!({ room: this.name, update, writer, batch: extra, transaction })
      } catch (error) {
        return error instanceof Error ? error : new Error(String(error))
      }
    }
    let notices: SessionNotice[] | undefined
    if (this.audience.hasLockOnly) {
      try {
        notices = this.hooks.flatMap((hook) => hook.lockNotices?.(this.name, transaction) ?? [])
      } catch (error) {
        return error instanceof Error ? error : new Error(String(error))
      }
    }
    const batch = this.deps.appendUpdate(this.name.room, update, extra)
    this.outbox.push({ update, batch, waiting: waitingSessions(transaction), notices })
    if (batch === this.lastBatch) return null
    this.lastBatch = batch
    batch.then(
      () => this.broadcastWritten(batch),
      (error: Error) => this.fail(error, 'storage'),
    )
    return null
  }

  /** Sends every update carried by `batch` (a prefix of the outbox: batches complete in order). */
  private broadcastWritten(batch: Promise<void>): void {
    let count = 0
    while (count < this.outbox.length && this.outbox[count]!.batch === batch) count++
    if (count === 0 || this.failed) return
    for (const pending of this.outbox.splice(0, count)) {
      // what a lock-only client waits for goes at once: it is one small message to one socket
      for (const { session, notice } of pending.notices ?? []) this.audience.notify(session, encodeLockMessage(notice))
      this.ready.push(pending.update)
      for (const session of pending.waiting ?? []) this.readyWaiting.add(session)
    }
    this.updateBroadcast.request()
  }

  private broadcastReady(): void {
    const updates = this.ready
    const waiting = this.readyWaiting
    this.ready = []
    this.readyWaiting = new Set()
    if (updates.length === 0 || this.failed) return
    this.updateBroadcast.nextAt = this.pacer.update(() => this.audience.sendUpdates(updates, waiting))
  }

  /**
   * Resolves once everything this room queued is on disk. Rejects once the room has failed: what
   * was written into its memory since may never be stored, so nobody may report it saved.
   */
  written(): Promise<void> {
    if (this.failed) return Promise.reject(new Error(`the document ${this.name.room} was reloaded after an internal error; retry`))
    return this.lastBatch
  }

  /** False once the room has failed: it is being discarded, and a new open loads the document again. */
  get serving(): boolean {
    return !this.failed
  }

  keepLoaded(): boolean {
    return this.members.size > 0 || this.hooks.some((hook) => hook.keepLoaded?.(this.name, this.doc))
  }

  /**
   * One way: the room stops writing and sending, closes `culprit` (if a client's write caused it)
   * with its own reason, and tells its owner, who discards it and closes the other members.
   */
  private fail(error: Error, cause: RoomFailure, culprit?: { member: Member; code: number; reason: string }): void {
    if (this.failed) return
    this.failed = true
    this.outbox = []
    this.ready = []
    culprit?.member.refuse(culprit.code, culprit.reason)
    this.deps.onFailed(this, error, cause)
  }

  /** The document, which holds every update this room appended to storage; null once the room failed (its memory may hold more). */
  liveDoc(): Y.Doc | null {
    return this.failed ? null : this.doc
  }

  /** Fails the room for a storage failure elsewhere: its memory may be ahead of the disk. */
  failForStorage(error: Error): void {
    this.fail(error, 'storage')
  }

  destroy(reason: UnloadReason): void {
    this.failed ||= reason === 'failed'
    this.presenceBroadcast.cancel()
    this.updateBroadcast.cancel()
    for (const hook of this.hooks) hook.onUnload?.(this.name, this.doc, reason)
    this.doc.destroy()
  }
}

/** A document update and whose write it is */
interface Change {
  update: Uint8Array
  writer: Writer | null
  transaction: Y.Transaction
}

/**
 * Whose write a transaction is: its origin when that is a writer (a member applying its update, or
 * server code acting for someone, like a revert made through REST); else the server's own.
 */
function writerOf(origin: unknown): Writer | null {
  if (typeof origin !== 'object' || origin === null) return null
  const candidate = origin as Partial<Writer>
  return candidate.identity && typeof candidate.session === 'string' ? (candidate as Writer) : null
}
