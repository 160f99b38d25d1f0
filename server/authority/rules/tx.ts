// A copy-on-write draft of the state for one event: handlers read and write through it, and it
// records which keys changed so the glue writes back only those.
import type { LockValue, OutcomeValue, QueueEntry } from '../../../shared/coordination.js'
import { type ApprovalEntry, type AuditEvent, type ClaimRecord, type CoordState, dict, type Dict, type ReduceResult } from './state.js'

type Maps = Omit<CoordState, 'fence' | 'seq'>
type MapName = keyof Maps

export class Tx {
  private readonly maps: Maps
  private readonly copied = new Set<MapName>()
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
  private readonly base: { fence: number; seq: number }
  private fence: number
  private seq: number

  constructor(
    base: CoordState,
    readonly at: number,
  ) {
    const { fence, seq, ...maps } = base
    this.maps = maps
    this.base = { fence, seq }
    this.fence = fence
    this.seq = seq
  }

  get claims(): Readonly<Dict<ClaimRecord>> {
    return this.maps.claims
  }
  get locks(): Readonly<Dict<LockValue>> {
    return this.maps.locks
  }
  get queue(): Readonly<Dict<QueueEntry>> {
    return this.maps.queue
  }
  get outcomes(): Readonly<Dict<OutcomeValue>> {
    return this.maps.outcomes
  }
  get approvals(): Readonly<Dict<ApprovalEntry>> {
    return this.maps.approvals
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
    const resources = (entry ?? this.maps.queue[key])?.resources ?? []
    this.put('queue', key, entry)
    this.touched.queue.add(key)
    for (const resource of resources) this.moved.add(resource)
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

  result(): ReduceResult & { ok: true } {
    return {
      ok: true,
      state: { ...this.maps, fence: this.fence, seq: this.seq },
      changed: {
        claims: [...this.touched.claims],
        locks: [...this.touched.locks],
        queue: [...this.touched.queue],
        outcomes: [...this.touched.outcomes],
        approvals: [...this.touched.approvals],
        fence: this.fence !== this.base.fence,
        seq: this.seq !== this.base.seq,
      },
      audit: this.audit,
    }
  }

  private put<N extends MapName>(name: N, key: string, value: Maps[N][string] | undefined): void {
    if (!this.copied.has(name)) {
      this.maps[name] = dict<Maps[N][string]>(this.maps[name] as Dict<Maps[N][string]>) as Maps[N]
      this.copied.add(name)
    }
    const map = this.maps[name] as Dict<Maps[N][string]>
    if (value === undefined) delete map[key]
    else map[key] = value
  }
}
