// Group commit: every write queued during one event-loop turn goes into one batch, and one batch
// is written at a time, so the disk sees one write (and with fsync one sync) per turn however many
// documents changed. Writes queued one after another without yielding always share a batch, which
// is what lets a caller write a document update and its audit entry atomically.

export type Op = { type: 'put'; key: string; value: Uint8Array } | { type: 'del'; key: string }

export type WriteBatch = (ops: Op[]) => Promise<void>
export type OnBatch = (durationMs: number, ops: number) => void

interface Batch {
  ops: Op[]
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

  /** Queues operations that must be written atomically, in one batch. */
  pushAll(ops: Op[]): Promise<void> {
    const batch = this.openBatch()
    for (const op of ops) batch.ops.push(op)
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
    this.write(batch.ops)
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
  return { ops: [], written, resolve, reject, settled, settle }
}
