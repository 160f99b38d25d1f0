// The `activity` array: the server appends every audit event there, including `refused` entries
// for writes it undid. A refused write has no other reply on the socket, so this is where the
// client learns why, and where it sees its votes and requests counted.
import type * as Y from 'yjs'
import type { ActivityEntry } from '../shared/coordination.js'

export type { ActivityEntry }

/** The write a `refused` entry names. */
export interface RefusedWrite {
  type: string
  key: string
  subKey?: string
}

type Listener = (entry: ActivityEntry) => void

export class ActivityFeed {
  private readonly listeners = new Set<Listener>()

  constructor(readonly array: Y.Array<ActivityEntry>) {
    array.observe((event) => {
      for (const change of event.changes.delta) {
        if (!change.insert) continue
        for (const entry of change.insert as ActivityEntry[]) for (const listener of [...this.listeners]) listener(entry)
      }
    })
  }

  /** Calls `listener` for every entry appended from now on; returns the unsubscribe function. */
  subscribe(listener: Listener): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  /** The reason of the newest refusal of `session`'s write matching `match`, if still in the array. */
  findRefusal(session: string, match: (write: RefusedWrite) => boolean): string | null {
    const entries = this.array.toArray()
    for (let i = entries.length - 1; i >= 0; i--) {
      const reason = refusalOf(entries[i]!, session, match)
      if (reason) return reason
    }
    return null
  }
}

/** The reason, when `entry` is a refusal of `session`'s write matching `match`. */
export function refusalOf(entry: ActivityEntry, session: string, match: (write: RefusedWrite) => boolean): string | null {
  if (entry.type !== 'refused' || entry.session !== session) return null
  const write = entry.data?.write as RefusedWrite | undefined
  return write && match(write) ? String(entry.data?.reason ?? 'refused') : null
}
