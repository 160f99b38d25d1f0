// Each resource's waiters in arrival (`seq`) order, derived from `state.queue`. A lock handoff
// then looks at the one resource's queue instead of every waiter in the workspace. The index lives
// beside the queue dict it was built from (a WeakMap), is kept in step by `Tx`, and is rebuilt
// from the dict whenever it may not match (a fresh state, a copy, an event rolled back).
import type { QueueEntry } from '../../../shared/coordination.js'
import type { Dict } from './state.js'

/** resource → its waiters, claim key → entry, in `seq` order */
export type Queues = Map<string, Map<string, QueueEntry>>

interface Index {
  queues: Queues
  /** the highest `seq` indexed: a newer arrival can be appended to its queues */
  lastSeq: number
}

const indexes = new WeakMap<Readonly<Dict<QueueEntry>>, Index>()

export function queuesOf(queue: Readonly<Dict<QueueEntry>>): Queues {
  return indexOf(queue).queues
}

function indexOf(queue: Readonly<Dict<QueueEntry>>): Index {
  let index = indexes.get(queue)
  if (!index) {
    index = { queues: new Map(), lastSeq: 0 }
    const entries = Object.entries(queue).sort(([, a], [, b]) => a.seq - b.seq)
    for (const [key, entry] of entries) add(index, key, entry)
    indexes.set(queue, index)
  }
  return index
}

/** Follows a change of `queue[key]` from `before` to `after` (undefined: absent). */
export function queueChanged(queue: Readonly<Dict<QueueEntry>>, key: string, before: QueueEntry | undefined, after: QueueEntry | undefined): void {
  const index = indexes.get(queue)
  if (!index) return
  for (const resource of before?.resources ?? []) {
    const waiters = index.queues.get(resource)
    waiters?.delete(key)
    if (waiters?.size === 0) index.queues.delete(resource)
  }
  if (!after) return
  // appending keeps `seq` order only for the newest arrival; anything else rebuilds
  if (after.seq <= index.lastSeq) forgetQueues(queue)
  else add(index, key, after)
}

export function forgetQueues(queue: Readonly<Dict<QueueEntry>>): void {
  indexes.delete(queue)
}

function add(index: Index, key: string, entry: QueueEntry): void {
  for (const resource of entry.resources) {
    let waiters = index.queues.get(resource)
    if (!waiters) index.queues.set(resource, (waiters = new Map()))
    waiters.set(key, entry)
  }
  index.lastSeq = Math.max(index.lastSeq, entry.seq)
}
