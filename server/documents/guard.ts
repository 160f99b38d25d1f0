// Guarded documents (DESIGN.md §12): while a lock on `doc:<path>` is held, only its holders'
// sessions (and admins) may change the content document `<workspace>/<path>`. The room asks
// before it applies a client's update, so a refused write is never seen by anyone else.
import type { LockHolder } from '../../shared/coordination.js'
import { guardResource, lockedReason } from '../../shared/guard.js'
import type { RoomName } from '../../shared/names.js'
import type { DocumentHook, Writer } from '../rooms/hooks.js'

export interface GuardDeps {
  /** the holders of a lock resource; undefined when the workspace's authority is not loaded */
  holders(workspace: string, resource: string): readonly LockHolder[] | undefined
  /** loads a workspace's coordination document (and so its authority) */
  openWorkspace(workspace: string): Promise<unknown>
}

/** Why `writer` may not change the document at `path` while `holders` hold its guard, or null. */
export function guardRefusal(path: string, holders: readonly LockHolder[], writer: Writer): string | null {
  if (holders.length === 0 || writer.identity.role === 'admin') return null
  if (holders.some((holder) => holder.session === writer.session)) return null
  return lockedReason(path, [...new Set(holders.map((holder) => holder.actor))])
}

export class DocumentGuard implements DocumentHook {
  constructor(private readonly deps: GuardDeps) {}

  matches(room: RoomName): boolean {
    return room.path !== null
  }

  /**
   * The authority must be loaded before the first write is judged (after a restart, locks live
   * only there). Once loaded it stays loaded while any lock can be held: a lock needs a live
   * session or one in its grace period, and either keeps the coordination document loaded.
   */
  async beforeLoad(room: RoomName): Promise<void> {
    await this.deps.openWorkspace(room.workspace)
  }

  refuseWrite(room: RoomName, writer: Writer): string | null {
    const holders = this.deps.holders(room.workspace, guardResource(room.path!))
    return holders ? guardRefusal(room.path!, holders, writer) : null
  }
}
