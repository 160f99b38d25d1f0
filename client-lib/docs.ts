// Content documents as text, for agents: open a document's Y.Text (`body` by default), read it,
// and write whole texts as the fewest Yjs edits, so a person typing elsewhere in it keeps their
// work. A write the server refuses because someone else holds the guarding lock `doc:<path>` is
// kept in the local document and sent again once the lock is free, never dropped or retried blind.
import * as Y from 'yjs'
import type { LockValue } from '../shared/coordination.js'
import { CloseCode } from '../shared/close-codes.js'
import { guardResource, isLockedReason } from '../shared/guard.js'
import { parseRoom } from '../shared/names.js'
import { roleAtLeast } from '../shared/roles.js'
import { replaceText, type TextEdit } from '../shared/text-edit.js'
import { closedError, type StateChange, WorkspaceConnection } from './connection.js'
import type { ClientContext } from './context.js'
import { Emitter } from './emitter.js'
import { HuddleError } from './errors.js'
import { DocumentHistory } from './history.js'

/** The Y.Text the dashboard's editor binds. */
export const DEFAULT_TEXT = 'body'
const DEFAULT_TIMEOUT_MS = 10_000

export interface OpenOptions {
  /** the name of the document's Y.Text (default `body`) */
  type?: string
  /** give up when the first sync takes longer (default 10 s) */
  timeoutMs?: number
}

export interface TextChange {
  text: string
  /** true for this handle's own edits */
  local: boolean
}

/** Why this handle's edits are not (yet) on the server. */
export interface DocumentConflict {
  path: string
  /** the server's reason, e.g. "doc:plan.md is locked by alice; …" */
  reason: string
  /** true when the edits are sent again by themselves once the guarding lock is free */
  willRetry: boolean
}

export interface DocumentInfo {
  path: string
}

/** Content documents as text, with their history (versions, diff, blame, revert) inherited. */
export class Docs extends DocumentHistory {
  private readonly handles = new Set<DocumentHandle>()

  constructor(
    private readonly ctx: ClientContext,
    private readonly workspace: string,
  ) {
    super(ctx.api, ctx.session)
  }

  /** The content documents stored in the workspace. */
  async list(): Promise<DocumentInfo[]> {
    return this.ctx.api.documents()
  }

  /** A live handle on the document's text; close it when done. */
  async open(path: string, options: OpenOptions = {}): Promise<DocumentHandle> {
    const handle = new DocumentHandle(this.ctx, this.workspace, checkPath(this.workspace, path), options.type ?? DEFAULT_TEXT)
    this.handles.add(handle)
    handle.on('closed', () => this.handles.delete(handle))
    try {
      await handle.connection.firstSync(options.timeoutMs ?? DEFAULT_TIMEOUT_MS)
    } catch (error) {
      handle.close()
      throw error
    }
    return handle
  }

  /** The document's current text; not-found when nothing was ever written there. */
  async read(path: string, options: OpenOptions = {}): Promise<string> {
    const handle = await this.open(path, options)
    try {
      if (handle.doc.store.clients.size === 0)
        throw new HuddleError('not-found', `no document at ${path} in ${this.workspace}: list the documents (huddle doc ls) for the paths there are`)
      return handle.text
    } finally {
      handle.close()
    }
  }

  /**
   * Makes the document read `text` by the fewest edits and resolves once the server stored them.
   * Rejects with `refused` when the server refuses them (a guard held by someone else: the
   * message says who; a viewer's token).
   */
  async write(path: string, text: string, options: OpenOptions = {}): Promise<TextEdit[]> {
    this.checkEditor(path)
    const handle = await this.open(path, options)
    try {
      const edits = handle.replace(text)
      await handle.saved(options.timeoutMs ?? DEFAULT_TIMEOUT_MS)
      return edits
    } finally {
      handle.close()
    }
  }

  /** Closes every open handle (when the client closes). */
  closeAll(): void {
    for (const handle of [...this.handles]) handle.close()
  }

  private checkEditor(path: string): void {
    const { role, actor } = this.ctx.identity
    if (!roleAtLeast(role, 'editor'))
      throw new HuddleError('forbidden', `writing ${path} needs role editor; the token for ${actor} has role ${role}: ask an admin for an editor token`)
  }
}

export class DocumentHandle extends Emitter<{
  change: (change: TextChange) => void
  conflict: (conflict: DocumentConflict | null) => void
  closed: () => void
}> {
  readonly doc = new Y.Doc()
  readonly ytext: Y.Text
  /** the current connection; replaced when edits refused by a guard are sent again */
  connection: WorkspaceConnection
  private conflictNow: DocumentConflict | null = null
  private closed = false
  private readonly stopWatchingLocks: () => void

  /** @internal use `huddle.docs.open()` */
  constructor(
    private readonly ctx: ClientContext,
    readonly workspace: string,
    readonly path: string,
    readonly type: string,
  ) {
    super()
    this.ytext = this.doc.getText(type)
    this.ytext.observe((event) => this.emit('change', { text: this.ytext.toString(), local: event.transaction.local }))
    this.connection = this.connect()
    const onLocks = () => this.retryIfFree()
    ctx.maps.locks.observe(onLocks)
    this.stopWatchingLocks = () => ctx.maps.locks.unobserve(onLocks)
  }

  get text(): string {
    return this.ytext.toString()
  }

  /** Set while the server refuses this handle's edits; they stay in `doc` meanwhile. */
  get conflict(): DocumentConflict | null {
    return this.conflictNow
  }

  /** Calls `listener` after every change of the text, own and others'. */
  onChange(listener: (change: TextChange) => void): () => void {
    return this.on('change', listener)
  }

  /** Calls `listener` when a conflict starts (a conflict) and when it is over (null). */
  onConflict(listener: (conflict: DocumentConflict | null) => void): () => void {
    return this.on('conflict', listener)
  }

  /** Makes the text read `next` by the fewest edits; returns them. */
  replace(next: string): TextEdit[] {
    this.checkOpen()
    return replaceText(this.ytext, next)
  }

  /**
   * The text now, and `commit(next)` to write a new version of it later (after an editor closes):
   * the edits from this text to `next` are made on a copy of the document as it is now and merged
   * in, so whatever others changed meanwhile is kept, as with any concurrent Yjs edit.
   */
  draft(): { text: string; commit(next: string): TextEdit[] } {
    this.checkOpen()
    const base = Y.encodeStateAsUpdate(this.doc)
    return {
      text: this.text,
      commit: (next) => {
        this.checkOpen()
        const copy = new Y.Doc()
        Y.applyUpdate(copy, base)
        const before = Y.encodeStateVector(copy)
        const edits = replaceText(copy.getText(this.type), next)
        Y.applyUpdate(this.doc, Y.encodeStateAsUpdate(copy, before))
        copy.destroy()
        return edits
      },
    }
  }

  insert(index: number, text: string): void {
    this.checkOpen()
    this.checkIndex(index, 0)
    this.ytext.insert(index, text)
  }

  delete(index: number, length: number): void {
    this.checkOpen()
    this.checkIndex(index, length)
    this.ytext.delete(index, length)
  }

  /**
   * Resolves once the server has stored every edit made so far. Rejects with `refused` while
   * the server refuses them (the edits are kept), or `closed`/`timeout`.
   */
  async saved(timeoutMs = DEFAULT_TIMEOUT_MS): Promise<void> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      this.checkOpen()
      if (this.conflictNow) throw this.conflictError()
      const connection = this.connection
      // The server answers a sync step 1 after it handled (and stored) what came before it.
      if (connection.state === 'connected' && (await connection.roundTrip(Math.max(1, deadline - Date.now())))) return
      if (this.conflictNow) throw this.conflictError()
      if (connection.state === 'closed' && connection === this.connection) throw closedError(connection.lastProblem)
      if (Date.now() >= deadline)
        throw new HuddleError(
          'timeout',
          `the server did not confirm the edits of ${this.path} within ${timeoutMs} ms; they are kept and sent when the connection is back`,
        )
      await this.connectedOrChanged(deadline - Date.now())
    }
  }

  close(): void {
    if (this.closed) return
    this.closed = true
    this.stopWatchingLocks()
    this.connection.close()
    this.doc.destroy()
    this.emit('closed')
  }

  private connect(): WorkspaceConnection {
    const { conn, session } = this.ctx
    const connection = new WorkspaceConnection({ ...conn.options, workspace: `${this.workspace}/${this.path}`, session, doc: this.doc })
    connection.on('state', (change) => this.onState(connection, change))
    return connection
  }

  private onState(connection: WorkspaceConnection, change: StateChange): void {
    if (change.state !== 'closed' || connection !== this.connection || this.closed || !change.code) return
    const reason = change.reason ?? ''
    const willRetry = isLockedReason(reason)
    if (change.code !== CloseCode.forbidden) return
    this.conflictNow = { path: this.path, reason, willRetry }
    this.emit('conflict', this.conflictNow)
    // Once the coordination document is as new as the server's refusal, a lock already released
    // shows as free; until then it may still show no lock at all, and a retry would be refused again.
    if (willRetry) void this.ctx.conn.roundTrip().then(() => this.retryIfFree())
  }

  /** Sends the kept edits again (on a new connection) once nobody else holds the guard. */
  private retryIfFree(): void {
    if (!this.conflictNow?.willRetry || this.closed) return
    const lock = this.ctx.maps.locks.get(guardResource(this.path)) as LockValue | undefined
    if (lock?.holders.some((holder) => holder.session !== this.ctx.session)) return
    this.conflictNow = null
    this.connection.close()
    this.connection = this.connect()
    this.emit('conflict', null)
  }

  private conflictError(): HuddleError {
    const conflict = this.conflictNow!
    const next = conflict.willRetry ? 'your edits are kept and sent again once the lock is released' : 'your edits are kept locally only'
    return new HuddleError('refused', `the server refused the edits of ${this.path}: ${conflict.reason} (${next})`)
  }

  private connectedOrChanged(timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer)
        offState()
        offConflict()
        resolve()
      }
      const timer = setTimeout(done, Math.max(1, timeoutMs))
      const offState = this.connection.on('state', done)
      const offConflict = this.on('conflict', done)
    })
  }

  private checkOpen(): void {
    if (this.closed) throw new HuddleError('closed', `the handle on ${this.path} is closed; open the document again`)
  }

  private checkIndex(index: number, length: number): void {
    const size = this.ytext.length
    if (!Number.isInteger(index) || !Number.isInteger(length) || index < 0 || length < 0 || index + length > size) {
      throw new HuddleError('invalid-argument', `index ${index} and length ${length} do not fit the text of ${this.path}, which is ${size} characters long`)
    }
  }
}

function checkPath(workspace: string, path: string): string {
  const parsed = parseRoom(`${workspace}/${path}`)
  if (typeof parsed === 'string') throw new HuddleError('invalid-argument', parsed)
  if (parsed.path === null) throw new HuddleError('invalid-argument', 'no document path: name one, e.g. notes/plan.md')
  return parsed.path
}
