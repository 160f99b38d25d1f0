// The draft of one event, written into the state in place: handlers read and write through it,
// it records which keys changed so the glue writes back only those, and it keeps an undo log so a
// refused (or throwing) event leaves the state as it was. Copying each touched map per event, as
// an earlier copy-on-write draft did, cost O(waiters) per lock handoff.
import type { LockValue, OutcomeValue, QueueEntry } from '../../../shared/coordination.js'
import { deadlinesChanged } from './deadlines.js'
import { forgetQueues, queueChanged, type Queues, queuesOf } from './queues.js'
import type { ApprovalEntry, AuditEvent, Changed, ClaimRecord, CoordState, Dict, ReduceResult } from './state.js'

type Maps = Omit<CoordState, 'fence' | 'seq'>
type MapName = keyof Maps

interface Undo {
  map: Dict<unknown>
  key: string
  had: boolean
  value: unknown
}

export class Tx {
  private readonly undo: Undo[] = []
  private readonly touched = {
    claims: new Set<string>(),
    locks: new Set<string>(),
    queue: new Set<string>(),
    outcomes: new Set<string>(),
    approvals: new Set<string>(),
  }
  /** resources whose holders or waiters changed: only their waiters can have become grantable */
  private readonly moved = new Set<string>()
  private readonly audit: AuditEvent[] = []
  private fence: number
  private seq: number

  constructor(
    private readonly state: CoordState,
    readonly at: number,
  ) {
    this.fence = state.fence
    this.seq = state.seq
  }

  get claims(): Readonly<Dict<ClaimRecord>> {
    return this.state.claims
  }
  get locks(): Readonly<Dict<LockValue>> {
    return this.state.locks
  }
  get queue(): Readonly<Dict<QueueEntry>> {
    return this.state.queue
  }
  get outcomes(): Readonly<Dict<OutcomeValue>> {
    return this.state.outcomes
  }
  get approvals(): Readonly<Dict<ApprovalEntry>> {
    return this.state.approvals
  }

  /** Each resource's waiters in arrival order, kept in step with `queue`. */
  queues(): Queues {
    return queuesOf(this.state.queue)
  }

  /** Resources whose holders or waiters changed so far in this event. */
  movedResources(): ReadonlySet<string> {
    return this.moved
  }

  /** Records a claim the client already wrote (or deleted): the document needs no write. */
  mirrorClaim(key: string, record: ClaimRecord | undefined): void {
    this.put('claims', key, record)
  }

  /** Deletes a claim on the server's behalf: the glue must delete it from the document. */
  dropClaim(key: string): void {
    this.put('claims', key, undefined)
    this.touched.claims.add(key)
  }

  /** Sets or (for a lock without holders) deletes a resource's lock. */
  setLock(resource: string, lock: LockValue): void {
    this.put('locks', resource, lock.holders.length === 0 ? undefined : lock)
    this.touched.locks.add(resource)
    this.moved.add(resource)
  }

  /** Puts a claim in the queue of each of its resources, or (undefined) takes it out. */
  setQueued(key: string, entry: QueueEntry | undefined): void {
    const before = this.state.queue[key]
    this.put('queue', key, entry)
    queueChanged(this.state.queue, key, before, entry)
    this.touched.queue.add(key)
    for (const resource of (entry ?? before)?.resources ?? []) this.moved.add(resource)
  }

  setOutcome(key: string, outcome: OutcomeValue | undefined): void {
    this.put('outcomes', key, outcome)
    this.touched.outcomes.add(key)
  }

  /** Stores an approval; `statusChanged` marks its server-owned `status` for writing. */
  setApproval(key: string, entry: ApprovalEntry, statusChanged: boolean): void {
    this.put('approvals', key, entry)
    if (statusChanged) this.touched.approvals.add(key)
  }

  /** The next fencing token: one per grant, strictly increasing, never reused. */
  nextToken(): number {
    this.fence += 1
    return this.fence
  }

  /** The next queue arrival number: strictly increasing across the workspace. */
  nextSeq(): number {
    this.seq += 1
    return this.seq
  }

  log(event: Omit<AuditEvent, 'at'>): void {
    this.audit.push({ ...event, at: this.at })
  }

  /** Ends the event: the state (the same object) now includes it. */
  result(): ReduceResult & { ok: true } {
    const changed: Changed = {
      claims: [...this.touched.claims],
      locks: [...this.touched.locks],
      queue: [...this.touched.queue],
      outcomes: [...this.touched.outcomes],
      approvals: [...this.touched.approvals],
      fence: this.fence !== this.state.fence,
      seq: this.seq !== this.state.seq,
    }
    this.state.fence = this.fence
    this.state.seq = this.seq
    deadlinesChanged(this.state, changed)
    return { ok: true, state: this.state, changed, audit: this.audit }
  }

  /** Ends a refused event: every write is undone, newest first. A key put back may sit at another
   * position in its map; nothing in the rules depends on the order of keys. */
  rollback(): void {
    for (let i = this.undo.length - 1; i >= 0; i--) {
      const { map, key, had, value } = this.undo[i]!
      if (had) map[key] = value
      else delete map[key]
    }
    if (this.undo.length > 0) forgetQueues(this.state.queue)
    this.undo.length = 0
  }

  private put<N extends MapName>(name: N, key: string, value: Maps[N][string] | undefined): void {
    const map = this.state[name] as Dict<unknown>
    const had = key in map
    const previous = map[key]
    if (value === undefined) delete map[key]
    else map[key] = value
    // only after the write succeeded: a write that threw has nothing to undo
    this.undo.push({ map, key, had, value: previous })
  }
}
