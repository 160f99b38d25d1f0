// Guarded documents (docs/design.md §12): while a lock on `doc:<path>` is held, only its holders'
// sessions (and admins) may change the content document `<workspace>/<path>`. The room asks
// before it applies a client's update, so a refused write is never seen by anyone else.
import type { LockHolder } from '../../shared/coordination.js'
import { guardResource, lockedReason } from '../../shared/guard.js'
import type { RoomName } from '../../shared/names.js'
import type { DocumentHook, Writer } from '../rooms/hooks.js'

export interface GuardDeps {
  /** the holders of a lock resource; undefined when the workspace's authority is not loaded */
  holders(workspace: string, resource: string): readonly LockHolder[] | undefined
  /** resolves once the server loaded, after its start, every workspace that has an audit log */
  resumed(): Promise<void>
}

/** Why `writer` may not change the document at `path` while `holders` hold its guard, or null. */
export function guardRefusal(path: string, holders: readonly LockHolder[], writer: Writer): string | null {
  if (holders.length === 0 || writer.identity.role === 'admin') return null
  // The actor too: a session id sent over REST (a revert) is not bound to its sender as a socket's is.
  if (holders.some((holder) => holder.session === writer.session && holder.actor === writer.identity.actor)) return null
  return lockedReason(path, [...new Set(holders.map((holder) => holder.actor))])
}

export class DocumentGuard implements DocumentHook {
  constructor(private readonly deps: GuardDeps) {}

  matches(room: RoomName): boolean {
    return room.path !== null
  }

  /**
   * A lock lives only while its session is connected or in its grace period, and either keeps the
   * workspace's coordination document (and its authority) loaded: a workspace whose authority is
   * not loaded has no lock held. After a restart that holds once every workspace was loaded
   * again, so content documents wait for that before they load.
   */
  async beforeLoad(): Promise<void> {
    await this.deps.resumed()
  }

  refuseClientUpdate(room: RoomName, _update: Uint8Array, writer: Writer): string | null {
    return this.refusal(room, writer)
  }

  /** Why `writer` may not change the content document `room` now, or null (the server's own writes ask too). */
  refusal(room: RoomName, writer: Writer): string | null {
    const holders = this.deps.holders(room.workspace, guardResource(room.path!))
    return holders ? guardRefusal(room.path!, holders, writer) : null
  }
}
