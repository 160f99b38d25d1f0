// The workspace's coordination document (docs/design.md §4) read as plain values for the panels, with
// one batched change signal for document updates and one for presence.
import * as Y from 'yjs'
import { type ActivityEntry, COORD, type LockValue, type QueueEntry, type SessionValue } from '../../shared/coordination.js'
import { type ApprovalInfo, approvalInfos, type LockInfo, lockInfos } from '../../client-lib/views.js'
import type { Me } from './auth.js'
import { DocumentConnection } from './connection.js'
import { batched } from './dom.js'
import type { PresenceState } from './self-presence.js'
import { observeServerTime } from './time.js'

export type { ActivityEntry }

/** An approval as the client library reads it (votes counted, what is still needed). */
export type ApprovalView = ApprovalInfo

/** A resource's holders and its waiters in arrival order, as the client library lists them. */
export type LockView = LockInfo

export interface SessionView extends SessionValue {
  id: string
}

export class WorkspaceModel {
  readonly connection: DocumentConnection
  readonly doc: Y.Doc
  readonly locks: Y.Map<LockValue>
  readonly queue: Y.Map<QueueEntry>
  readonly approvals: Y.Map<unknown>
  readonly sessions: Y.Map<SessionValue>
  readonly activity: Y.Array<ActivityEntry>
  private readonly docListeners = new Set<() => void>()
  private readonly presenceListeners = new Set<() => void>()

  constructor(
    readonly workspace: string,
    readonly me: Me,
    readonly session: string,
  ) {
    this.connection = new DocumentConnection({ room: workspace, token: me.token, session })
    this.doc = this.connection.doc
    this.locks = this.doc.getMap(COORD.locks)
    this.queue = this.doc.getMap(COORD.queue)
    this.approvals = this.doc.getMap(COORD.approvals)
    this.sessions = this.doc.getMap(COORD.sessions)
    this.activity = this.doc.getArray(COORD.activity)
    const docChanged = batched(() => {
      this.learnServerClock()
      for (const listener of this.docListeners) listener()
    })
    this.doc.on('update', docChanged)
    const presenceChanged = batched(() => {
      for (const listener of this.presenceListeners) listener()
    })
    this.awareness.on('change', presenceChanged)
    this.connection.provider.on('sync', docChanged)
  }

  get awareness() {
    return this.connection.provider.awareness
  }

  /** Calls `listener` (batched) after every change of the coordination document. */
  onDocChange(listener: () => void): void {
    this.docListeners.add(listener)
  }

  onPresenceChange(listener: () => void): void {
    this.presenceListeners.add(listener)
  }

  /** Our own session entry is stamped by the server when we join: a reading of its clock. */
  private learnServerClock(): void {
    const mine = this.sessions.get(this.session)
    if (mine?.online && this.connection.openedAt) observeServerTime(mine.connectedAt, this.connection.openedAt)
  }

  sessionList(): SessionView[] {
    return [...this.sessions.entries()].map(([id, value]) => ({ id, ...value }))
  }

  presenceStates(): Array<{ clientID: number; state: PresenceState }> {
    return [...this.awareness.getStates().entries()].map(([clientID, state]) => ({ clientID, state: state as PresenceState }))
  }

  /** Every resource held or waited for, by name. */
  lockList(): LockView[] {
    return lockInfos(this.locks.entries(), this.queue.entries())
  }

  /** Every approval the server accepted (it has a status), oldest status first. */
  approvalList(): ApprovalView[] {
    return approvalInfos(this.approvals.toJSON())
  }

  approval(key: string): Y.Map<unknown> | null {
    const value = this.approvals.get(key)
    return value instanceof Y.Map ? value : null
  }

  activityList(): ActivityEntry[] {
    return this.activity.toArray().filter((entry): entry is ActivityEntry => typeof entry === 'object' && entry !== null && typeof entry.type === 'string')
  }

  /** A person's display name from the sessions map, else the actor id. */
  nameOf(actor: string): string {
    for (const value of this.sessions.values()) if (value.actor === actor) return value.name
    for (const state of this.awareness.getStates().values()) {
      const user = (state as PresenceState).user
      if (user?.id === actor && user.name) return user.name
    }
    return actor
  }

  kindOf(actor: string): 'human' | 'agent' | null {
    for (const value of this.sessions.values()) if (value.actor === actor) return value.kind
    return null
  }

  destroy(): void {
    this.docListeners.clear()
    this.presenceListeners.clear()
    this.connection.destroy()
  }
}
