// Resumes the workspaces of owners that died: a workspace stays listed in huddle:owned from the
// first lease until an owner gives it up idle, so a listed workspace without a lease was left by a
// crash (or a shutdown) with perhaps timers due — grace periods, lock and approval deadlines. Every
// node looks; the lease script lets exactly one take each.
import { log } from '../log.js'
import * as K from './keys.js'
import type { Ownership } from './ownership.js'
import { Moving, type RedisClient } from './redis.js'

export class Sweeper {
  private readonly timer: NodeJS.Timeout
  private running = false

  constructor(
    private readonly client: RedisClient,
    private readonly ownership: Ownership,
    private readonly resume: (workspace: string) => Promise<void>,
    intervalMs: number,
  ) {
    this.timer = setInterval(() => void this.sweep(), intervalMs)
    this.timer.unref()
  }

  private async sweep(): Promise<void> {
    if (this.running || !this.client.reachable) return
    this.running = true
    try {
      const listed = (await this.client.redis.smembers(K.OWNED)).filter((workspace) => !this.ownership.epochOf(workspace))
      if (listed.length === 0) return
      const pipeline = this.client.redis.pipeline()
      for (const workspace of listed) pipeline.exists(K.lease(workspace))
      const leases = (await pipeline.exec()) ?? []
      for (const [index, workspace] of listed.entries()) {
        if (leases[index]?.[1] !== 0) continue
        await this.resume(workspace).catch((error: Error) => {
          // Handed over to another node, which takes it when its clients reconnect.
          if (!(error instanceof Moving)) log('could not resume a workspace; retrying', { workspace, error: error.message })
        })
      }
    } catch {
      // Redis went away in the middle: the next sweep looks again.
    } finally {
      this.running = false
    }
  }

  stop(): void {
    clearInterval(this.timer)
  }
}
