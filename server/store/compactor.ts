// Background compaction: at most one per document at a time, and only a few at once overall, so
// unloading thousands of documents does not read them all into memory together.
import { setImmediate as nextTurn } from 'node:timers/promises'
import { type Compacted, compactionOps, readDoc, type Db } from './doc-log.js'
import { messageOf } from './errors.js'
import type { GroupCommit } from './group-commit.js'

const MAX_CONCURRENT = 4

interface Task {
  /** set once it reads the document: a compact() call after that needs a fresh run */
  started: boolean
  done: Promise<void>
}

export class Compactor {
  private readonly tasks = new Map<string, Task>()
  private running = 0
  private readonly waiting: Array<() => void> = []
  private waitingHead = 0

  constructor(
    private readonly db: Db,
    private readonly commit: GroupCommit,
    /** told, once a compaction is on disk, what it merged */
    private readonly onCompacted: (name: string, done: Compacted) => void,
    /** the seq below which the log is known to be merged (0: not known) */
    private readonly mergedBelow: (name: string) => number,
    /** compacts a loaded document from its live copy; null when it has none */
    private readonly compactLive: (name: string) => Promise<Compacted | null>,
  ) {}

  get size(): number {
    return this.tasks.size
  }

  has(name: string): boolean {
    return this.tasks.has(name)
  }

  /** Compacts everything on disk for `name` when it runs; a run that has not started yet already
   * covers this call, otherwise a new one queues behind the running one. */
  compact(name: string): Promise<void> {
    const current = this.tasks.get(name)
    if (current && !current.started) return current.done
    const task: Task = { started: false, done: Promise.resolve() }
    task.done = this.run(name, task, current).finally(() => {
      if (this.tasks.get(name) === task) this.tasks.delete(name)
    })
    this.tasks.set(name, task)
    return task.done
  }

  async idle(): Promise<void> {
    while (this.tasks.size > 0) {
      await Promise.allSettled([...this.tasks.values()].map((task) => task.done))
    }
  }

  private async run(name: string, task: Task, previous: Task | undefined): Promise<void> {
    // Waiting only: the previous run's failure is reported to whoever asked for it.
    if (previous) await previous.done.catch(() => undefined)
    await nextTurn()
    await this.acquire()
    try {
      task.started = true
      await this.compactNow(name)
    } finally {
      this.release()
    }
  }

  private async compactNow(name: string): Promise<void> {
    try {
      const live = await this.compactLive(name)
      if (live) return this.onCompacted(name, live)
      const doc = await readDoc(this.db, name, this.mergedBelow(name))
      if (doc.logKeys.length === 0) return
      const { ops, done } = compactionOps(name, doc)
      await this.commit.pushAll(ops)
      this.onCompacted(name, done)
    } catch (error) {
      throw new Error(`huddle store: compacting document ${JSON.stringify(name)} failed: ${messageOf(error)}`, { cause: error })
    }
  }

  private async acquire(): Promise<void> {
    if (this.running < MAX_CONCURRENT) {
      this.running++
      return
    }
    await new Promise<void>((resolve) => this.waiting.push(resolve))
  }

  /** Hands the slot straight to the next waiter; the head index and amortised trimming keep a
   * long queue O(1) per release, where Array.shift would make draining it quadratic. */
  private release(): void {
    if (this.waitingHead === this.waiting.length) {
      this.running--
      return
    }
    const next = this.waiting[this.waitingHead++]!
    if (this.waitingHead * 2 >= this.waiting.length) {
      this.waiting.splice(0, this.waitingHead)
      this.waitingHead = 0
    }
    next()
  }
}
