// The `activity` array: the server appends every audit event there, including `refused` entries
// for writes it undid. A refused write has no other reply on the socket, so this is where the
// client learns why, and where it sees its votes and requests counted.
import * as Y from 'yjs'
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
      for (const entry of insertedInto(array, event.transaction)) for (const listener of [...this.listeners]) listener(entry)
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

/**
 * The entries `transaction` added to `array` (and did not trim again), oldest first. Not the
 * event's `changes`, and not reading the array's tail either: both walk the array from its start
 * through the tombstone of every entry ever trimmed, after each remote update (Yjs drops its
 * search positions then), so the cost grew with the workspace's history; under lock contention it
 * was an eighth of an agent's CPU. The transaction's new items are found by clock instead.
 */
function insertedInto(array: Y.Array<ActivityEntry>, transaction: Y.Transaction): ActivityEntry[] {
  const entries: ActivityEntry[] = []
  transaction.afterState.forEach((clock, client) => {
    const before = transaction.beforeState.get(client) ?? 0
    if (clock <= before) return
    const structs = transaction.doc.store.clients.get(client) ?? []
    for (let i = Y.findIndexSS(structs, before); i < structs.length; i++) {
      const struct = structs[i]
      if (struct instanceof Y.Item && struct.parent === array && !struct.deleted) entries.push(...(struct.content.getContent() as ActivityEntry[]))
    }
  })
  // Clock order is array order only within one client id; after a server restart the array
  // holds entries of two, and seq puts them in order.
  return entries.sort((a, b) => a.seq - b.seq)
}

/** The reason, when `entry` is a refusal of `session`'s write matching `match`. */
export function refusalOf(entry: ActivityEntry, session: string, match: (write: RefusedWrite) => boolean): string | null {
  if (entry.type !== 'refused' || entry.session !== session) return null
  const write = entry.data?.write as RefusedWrite | undefined
  return write && match(write) ? String(entry.data?.reason ?? 'refused') : null
}
