// Following the audit log. The REST API has pages only, so following is polling; a connected
// client also wakes up whenever the `activity` array grows, which makes new entries show at once.
import type { AuditEntry, HuddleApi } from './api.js'

export interface FollowOptions {
  /** start after this seq (default 0: from the first entry) */
  after?: number
  /** ends the iteration */
  signal?: AbortSignal
  /** how often to poll when nothing wakes it (default 1000 ms) */
  pollMs?: number
}

const PAGE = 1000

export class Audit {
  /**
   * @param wake subscribes to something that signals new entries (the activity array)
   * @param lifetime aborted when the client closes: every follower then ends
   */
  constructor(
    private readonly api: HuddleApi,
    private readonly wake?: (listener: () => void) => () => void,
    private readonly lifetime?: AbortSignal,
  ) {}

  read(page?: { after?: number; limit?: number }): Promise<AuditEntry[]> {
    return this.api.audit(page)
  }

  /** The last `count` entries, oldest first (reads the log from the start). */
  async tail(count: number): Promise<AuditEntry[]> {
    const last: AuditEntry[] = []
    for (let after = 0; ; ) {
      const page = await this.api.audit({ after, limit: PAGE })
      last.push(...page)
      if (last.length > count) last.splice(0, last.length - count)
      if (page.length < PAGE) return last
      after = page[page.length - 1]!.seq
    }
  }

  /**
   * Every entry after `after`, then each new one as it is written, until `signal` aborts or the
   * client closes; then it ends quietly, also when a poll was under way (e.g. the server went away
   * meanwhile). A poll that fails while still following rejects the iteration.
   */
  async *follow(options: FollowOptions = {}): AsyncGenerator<AuditEntry> {
    let after = options.after ?? 0
    const signal = anySignal([options.signal, this.lifetime])
    while (!signal.aborted) {
      let page: AuditEntry[]
      try {
        page = await this.api.audit({ after, limit: PAGE })
      } catch (error) {
        if (signal.aborted) return
        throw error
      }
      for (const entry of page) {
        if (signal.aborted) return
        yield entry
        after = entry.seq
      }
      if (page.length < PAGE) await this.pause(options.pollMs ?? 1000, signal)
    }
  }

  private pause(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer)
        unwake?.()
        signal?.removeEventListener('abort', done)
        resolve()
      }
      const timer = setTimeout(done, ms)
      const unwake = this.wake?.(done)
      signal?.addEventListener('abort', done, { once: true })
    })
  }
}

function anySignal(signals: Array<AbortSignal | undefined>): AbortSignal {
  const present = signals.filter((signal): signal is AbortSignal => signal !== undefined)
  return present.length === 1 ? present[0]! : AbortSignal.any(present)
}
