// The built-in document hook for coordination documents (room `<workspace>`): it loads each
// workspace's authority state (checkpoint + replay of the audit log), and routes joins, leaves
// and client writes to that workspace's authority.
import type * as Y from 'yjs'
import type { LockHolder } from '../../shared/coordination.js'
import type { RoomName } from '../../shared/names.js'
import type { AuditLog } from '../audit/log.js'
import type { DocumentHook, RequestContext, SessionNotice, UnloadReason, WriteContext, Writer } from '../rooms/hooks.js'
import type { LockRequest } from '../../shared/lock-channel.js'
import { log } from '../log.js'
import type { Storage as Store } from '../store/storage.js'
import { advance, type CoordState, emptyState, type CoordEvent, stateFromJson, type StoredState } from './rules/index.js'
import { WorkspaceAuthority, type WorkspaceDeps } from './workspace.js'

/** Accepted events between checkpoints of the authority state. */
const CHECKPOINT_EVERY = 200
const encoder = new TextEncoder()
const decoder = new TextDecoder()

interface Checkpoint<S = CoordState> {
  /** the audit entry the state includes, up to and with */
  seq: number
  /** read back through `stateFromJson`, which also upgrades one of layout 1 */
  state: S
}

export class CoordinationAuthority implements DocumentHook {
  private readonly prepared = new Map<string, CoordState>()
  private readonly workspaces = new Map<string, WorkspaceAuthority>()
  private readonly sinceCheckpoint = new Map<string, number>()

  constructor(
    private readonly store: Store,
    private readonly audit: AuditLog,
    private readonly timing: Pick<WorkspaceDeps, 'leaseGraceMs'>,
  ) {}

  matches(room: RoomName): boolean {
    return room.path === null
  }

  async beforeLoad(room: RoomName): Promise<void> {
    await this.audit.ready(room.workspace)
    this.prepared.set(room.room, await this.loadState(room.workspace))
  }

  onLoad(room: RoomName, doc: Y.Doc): void {
    const state = this.prepared.get(room.room) ?? emptyState()
    this.prepared.delete(room.room)
    const authority = new WorkspaceAuthority(room.workspace, doc, state, {
      audit: this.audit,
      ...this.timing,
      onCommit: (committed) => this.maybeCheckpoint(committed),
    })
    this.workspaces.set(room.workspace, authority)
  }

  onClientWrite(context: WriteContext): void {
    this.workspaces.get(context.room.workspace)?.judge(context)
  }

  onLockRequest(context: RequestContext, request: LockRequest): void {
    this.workspaces.get(context.room.workspace)?.answer(context, request)
  }

  lockNotices(room: RoomName, transaction: Y.Transaction): SessionNotice[] {
    return this.workspaces.get(room.workspace)?.notices(transaction) ?? []
  }

  onJoin(room: RoomName, _doc: Y.Doc, writer: Writer): void {
    this.workspaces.get(room.workspace)?.join(writer)
  }

  onLeave(room: RoomName, _doc: Y.Doc, writer: Writer): void {
    this.workspaces.get(room.workspace)?.leave(writer)
  }

  keepLoaded(room: RoomName): boolean {
    return this.workspaces.get(room.workspace)?.keepLoaded() ?? false
  }

  onUnload(room: RoomName, _doc: Y.Doc, reason: UnloadReason): void {
    const authority = this.workspaces.get(room.workspace)
    if (!authority) return
    authority.close()
    // After a storage failure the state may include events whose audit entries were never written.
    if (reason !== 'failed') this.checkpoint(authority)
    this.workspaces.delete(room.workspace)
    this.sinceCheckpoint.delete(room.workspace)
  }

  /** The loaded authority of a workspace (its coordination document must be open). */
  get(workspace: string): WorkspaceAuthority | undefined {
    return this.workspaces.get(workspace)
  }

  /** The holders of `resource` in a loaded workspace (read-only); undefined when it is not loaded. */
  holders(workspace: string, resource: string): readonly LockHolder[] | undefined {
    const locks = this.workspaces.get(workspace)?.state.locks
    if (!locks) return undefined
    return Object.hasOwn(locks, resource) ? locks[resource]!.holders : []
  }

  private maybeCheckpoint(authority: WorkspaceAuthority): void {
    const count = (this.sinceCheckpoint.get(authority.workspace) ?? 0) + 1
    if (count < CHECKPOINT_EVERY) {
      this.sinceCheckpoint.set(authority.workspace, count)
      return
    }
    this.checkpoint(authority)
  }

  /** Written in the same batch as the entries it covers, so it can never be ahead of them. */
  private checkpoint(authority: WorkspaceAuthority): void {
    this.sinceCheckpoint.set(authority.workspace, 0)
    const checkpoint: Checkpoint = { seq: this.audit.headSeq(authority.workspace), state: authority.state }
    // A failed batch fails the document change written with it, which closes the room.
    this.store.put(checkpointKey(authority.workspace), encoder.encode(JSON.stringify(checkpoint))).catch((error: Error) => {
      log('authority checkpoint not written', { workspace: authority.workspace, error: error.message })
    })
  }

  private async loadState(workspace: string): Promise<CoordState> {
    const stored = await this.store.get(checkpointKey(workspace))
    const checkpoint: Checkpoint<StoredState> = stored ? JSON.parse(decoder.decode(stored)) : { seq: 0, state: emptyState() }
    const state = stateFromJson(checkpoint.state)
    for await (const event of replayInputs(this.audit, workspace, checkpoint.seq)) advance(state, event)
    return state
  }
}

/** The input events logged after `after`, in order: what the rules saw. */
export async function* replayInputs(audit: AuditLog, workspace: string, after = 0): AsyncGenerator<CoordEvent> {
  for (;;) {
    const page = await audit.read(workspace, after, 1000)
    for (const entry of page) {
      const input = (entry.data as { input?: CoordEvent } | undefined)?.input
      if (input) yield input
      after = entry.seq
    }
    if (page.length < 1000) return
  }
}

function checkpointKey(workspace: string): string {
  return `authority!${workspace}`
}
