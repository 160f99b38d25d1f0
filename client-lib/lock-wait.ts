// Where a queued claim stands: its position and what blocks it on each resource, reported to
// `onWait`. Kept up to date from the keys each transaction changed, so a wait report costs no scan
// of the whole queue.
import type * as Y from 'yjs'
import { type LockHolder, type LockValue, type LockWaiter, lockQueues, type QueueEntry } from '../shared/coordination.js'
import { changedKeys } from './context.js'

/** What a waiting claim waits for, on one resource. */
export interface Blocker {
  resource: string
  holders: LockHolder[]
  /** waiters queued before this claim */
  ahead: LockWaiter[]
}

export interface WaitInfo {
  /** the claim key, `<session>:<id>` */
  claim: string
  resources: string[]
  /** 1 when next in line on every resource; else 1 + the most claims ahead on any resource */
  position: number
  /** the resources that are not free for this claim */
  blockers: Blocker[]
  /** local time the wait started (ms since the epoch) */
  since: number
}

/** The maps a wait is read from. */
export interface WaitMaps {
  locks: Y.Map<unknown>
  queue: Y.Map<unknown>
}

/** The wait of one claim, from when it was written until it is granted or ends. */
export class ClaimWait {
  readonly since = Date.now()
  /** the claims queued before this one on one of its resources, while it is queued */
  private earlier?: { seq: number; keys: Set<string> }
  private lastReport = ''

  constructor(
    private readonly key: string,
    private readonly resources: string[],
  ) {}

  /**
   * The wait after `transaction`, or null when it did not change: the claim is not queued (yet),
   * `transaction` changed nothing it waits for, or position and blockers are as last reported.
   */
  update(maps: WaitMaps, transaction: Y.Transaction): WaitInfo | null {
    const info = this.current(maps, transaction)
    if (!info) return null
    const report = JSON.stringify([info.position, info.blockers])
    if (report === this.lastReport) return null
    this.lastReport = report
    return info
  }

  private current({ locks, queue }: WaitMaps, transaction: Y.Transaction): WaitInfo | null {
    const own = queue.get(this.key) as QueueEntry | undefined
    if (!own) {
      delete this.earlier
      return null
    }
    // Only the entries that share a resource with this claim and arrived before it matter.
    const resources = new Set(this.resources)
    const isEarlier = (entry: QueueEntry | undefined) => !!entry && entry.seq < own.seq && entry.resources.some((resource) => resources.has(resource))
    const queueKeys = changedKeys(transaction, queue)
    let relevant = this.earlier?.seq !== own.seq || queueKeys.has(this.key)
    if (relevant) {
      const keys = new Set<string>()
      for (const [key, entry] of queue.entries()) if (isEarlier(entry as QueueEntry)) keys.add(key)
      this.earlier = { seq: own.seq, keys }
    } else {
      const { keys } = this.earlier!
      for (const key of queueKeys) {
        if (key === null) continue
        const was = keys.has(key)
        const is = isEarlier(queue.get(key) as QueueEntry | undefined)
        if (is) keys.add(key)
        else keys.delete(key)
        relevant ||= was || is
      }
    }
    for (const resource of changedKeys(transaction, locks)) relevant ||= resource !== null && resources.has(resource)
    if (!relevant) return null
    const queues = lockQueues([...this.earlier!.keys].map((key) => [key, queue.get(key) as QueueEntry]))
    const blockers: Blocker[] = []
    let position = 1
    for (const resource of this.resources) {
      const holders = (locks.get(resource) as LockValue | undefined)?.holders ?? []
      const ahead = queues.get(resource) ?? []
      position = Math.max(position, ahead.length + 1)
      if (holders.length > 0 || ahead.length > 0) blockers.push({ resource, holders, ahead })
    }
    return { claim: this.key, resources: this.resources, position, blockers, since: this.since }
  }
}
