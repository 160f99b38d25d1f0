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
  /** the newest entry already passed to listeners */
  private newest: ActivityEntry | undefined

  constructor(readonly array: Y.Array<ActivityEntry>) {
    // The server only appends (and trims the oldest), so what is new is the tail after the last
    // entry seen. Not `event.changes`: Yjs computes it by walking the whole array including every
    // trimmed entry's tombstone, a cost that grows with the workspace's history and was an eighth
    // of an agent's CPU under lock contention.
    array.observe(() => {
      const fresh: ActivityEntry[] = []
      for (let i = array.length - 1; i >= 0; i--) {
        const entry = array.get(i)
        if (entry === this.newest) break
        fresh.push(entry)
      }
      if (fresh.length === 0) return
      this.newest = fresh[0]
      for (const entry of fresh.reverse()) for (const listener of [...this.listeners]) listener(entry)
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
