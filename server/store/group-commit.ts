// Group commit: every write queued during one event-loop turn goes into one batch, and one batch
// is written at a time, so the disk sees one write (and with fsync one sync) per turn however many
// documents changed. Writes queued one after another without yielding always share a batch, which
// is what lets a caller write a document update and its audit entry atomically. A mergeable put
// joins the put of its slot already queued in the open batch instead of adding one (one
// attribution record per writer per batch rather than one per update).

export type Op = { type: 'put'; key: string; value: Uint8Array } | { type: 'del'; key: string }

/**
 * A put that later puts of the same slot, queued in the same not-yet-written batch, merge into.
 * Its key and value are read when the batch is written, so the merged value is written exactly
 * with the writes that contributed to it.
 */
export interface Mergeable {
  /** puts of one slot merge (e.g. one document and writer) */
  readonly slot: string
  /** takes in a later put of its slot; false: it cannot, and `later` is written on its own */
  absorb(later: Mergeable): boolean
  key(): string
  encode(): Uint8Array
}

interface Merging {
  value: Mergeable
  /** the put that carries it, filled in when the batch is written */
  op: { type: 'put'; key: string; value: Uint8Array }
}

export type WriteBatch = (ops: Op[]) => Promise<void>
export type OnBatch = (durationMs: number, ops: number) => void
/** how a document's log was compacted: from the loaded document (`live`) or by replaying the log on disk (`log`) */
export type OnCompacted = (from: 'live' | 'log') => void

interface Batch {
  ops: Op[]
  /** the mergeable puts queued, by slot (the newest of each) */
  merging: Map<string, Merging>
  /** every mergeable put queued, in order */
  mergeables: Merging[]
  /** what writers await: rejects when the batch fails */
  written: Promise<void>
  resolve(): void
  reject(error: unknown): void
  /** resolves once the batch is done either way, so flush() never swallows or re-raises writers' errors */
  settled: Promise<void>
  settle(): void
}

export class GroupCommit {
  private next: Batch | null = null
  private inFlight: Batch | null = null
  private scheduled = false
  batchesWritten = 0
  lastBatchSize = 0

  constructor(
    private readonly write: WriteBatch,
    private readonly onBatch: OnBatch,
  ) {}

  /** Queues one operation; resolves when the batch carrying it is written. */
  push(op: Op): Promise<void> {
    const batch = this.openBatch()
    batch.ops.push(op)
    return batch.written
  }

  /**
   * Queues operations that must be written atomically, in one batch; each of `merges` merges into
   * the put of its slot already in that batch, or becomes one.
   */
  pushAll(ops: Op[], merges: readonly Mergeable[] = []): Promise<void> {
    const batch = this.openBatch()
    for (const op of ops) batch.ops.push(op)
    for (const value of merges) {
      if (batch.merging.get(value.slot)?.value.absorb(value)) continue
      const merging: Merging = { value, op: { type: 'put', key: '', value: EMPTY } }
      batch.ops.push(merging.op)
      batch.merging.set(value.slot, merging)
      batch.mergeables.push(merging)
    }
    return batch.written
  }

  /** Resolves when everything queued so far has been written or has failed (its writers see why). */
  flush(): Promise<void> {
    // Batches complete in order, so the newest one settling means all earlier ones have.
    const last = this.next ?? this.inFlight
    return last ? last.settled : Promise.resolve()
  }

  /** Operations queued or being written. */
  get pending(): number {
    return (this.next?.ops.length ?? 0) + (this.inFlight?.ops.length ?? 0)
  }

  private openBatch(): Batch {
    if (!this.next) {
      this.next = newBatch()
      this.schedule()
    }
    return this.next
  }

  private schedule(): void {
    if (this.scheduled || this.inFlight || !this.next) return
    this.scheduled = true
    // setImmediate runs after the poll phase, so every message read in this turn joins the batch.
    setImmediate(() => this.writeNext())
  }

  private writeNext(): void {
    this.scheduled = false
    const batch = this.next
    if (!batch || this.inFlight) return
    this.next = null
    this.inFlight = batch
    const started = performance.now()
    this.encodeMergeables(batch)
      .then(() => this.write(batch.ops))
      .then(
        () => this.succeeded(batch, performance.now() - started),
        (error: unknown) => batch.reject(error),
      )
      .finally(() => {
        this.inFlight = null
        batch.settle()
        this.schedule()
      })
  }

  /** Nothing merges into a batch once it is taken for writing: its mergeable puts get their bytes. */
  private async encodeMergeables(batch: Batch): Promise<void> {
    for (const { value, op } of batch.mergeables) {
      op.key = value.key()
      op.value = value.encode()
    }
  }

  private succeeded(batch: Batch, durationMs: number): void {
    this.batchesWritten++
    this.lastBatchSize = batch.ops.length
    batch.resolve()
    this.onBatch(durationMs, batch.ops.length)
  }
}

function newBatch(): Batch {
  let resolve!: () => void
  let reject!: (error: unknown) => void
  let settle!: () => void
  const written = new Promise<void>((res, rej) => {
    resolve = res
    reject = rej
  })
  const settled = new Promise<void>((res) => {
    settle = res
  })
  return { ops: [], merging: new Map(), mergeables: [], written, resolve, reject, settled, settle }
}

const EMPTY = new Uint8Array(0)
