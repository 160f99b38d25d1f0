// Retention in the background (docs/history.md): every `everyMs`, each stored document loses the
// versions the policy no longer keeps, loaded or not, so a document nobody edits any more still
// thins out as its versions age. A version written or a document loaded sweeps that one at once.
import { log } from '../log.js'
import type { Storage } from '../store/storage.js'
import { afterRoom, ALL_HISTORY, roomOfKey } from './keys.js'
import { expiredVersions, type RetentionPolicy } from './retention.js'
import { deleteVersion, readVersions } from './versions.js'

/** Deletes the versions of `room` that retention no longer keeps; resolves with how many. */
export async function sweepDocument(store: Storage, room: string, policy: RetentionPolicy, now = Date.now()): Promise<number> {
  const expired = expiredVersions(await readVersions(store, room), now, policy)
  await Promise.all(expired.map((id) => deleteVersion(store, room, id)))
  return expired.length
}

export class RetentionSweeper {
  private timer: NodeJS.Timeout | null = null
  private running: Promise<void> | null = null

  constructor(
    private readonly store: Storage,
    private readonly policy: RetentionPolicy,
    private readonly everyMs: number,
  ) {}

  start(): void {
    this.timer = setInterval(() => {
      this.running ??= this.sweepAll().finally(() => (this.running = null))
    }, this.everyMs)
    this.timer.unref()
  }

  /** Stops the timer; resolves once a sweep under way has finished (before the store closes). */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer)
    this.timer = null
    await this.running
  }

  /** One pass over every document with history, one at a time (the server serves clients meanwhile). */
  async sweepAll(): Promise<void> {
    let dropped = 0
    try {
      let from = ALL_HISTORY.gt
      for (;;) {
        const [next] = await this.store.readRange({ gt: from, lt: ALL_HISTORY.lt, limit: 1 })
        if (!next) break
        const room = roomOfKey(next[0])
        dropped += await sweepDocument(this.store, room, this.policy)
        from = afterRoom(room)
      }
      if (dropped > 0) log('history: retention sweep dropped versions', { versions: dropped })
    } catch (error) {
      log('history: retention sweep failed; it runs again at the next interval', { error: (error as Error).message })
    }
  }
}
