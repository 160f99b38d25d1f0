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
  constructor(private readonly api: HuddleApi, private readonly wake?: (listener: () => void) => () => void) {}

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

  /** Every entry after `after`, then each new one as it is written, until `signal` aborts. */
  async *follow(options: FollowOptions = {}): AsyncGenerator<AuditEntry> {
    let after = options.after ?? 0
    const { signal } = options
    while (!signal?.aborted) {
      const page = await this.api.audit({ after, limit: PAGE })
      for (const entry of page) {
        if (signal?.aborted) return
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
