// Share links and token revocations are kept in each node's memory (revocation is checked on every
// live connection each second, synchronously). In a cluster another node may write them at any
// time, so every write of one bumps a counter in the same Redis script (redis-store.ts), and a node
// rereads them whenever the counter moved:
//
// - before judging a credential (a REST call, a WebSocket admission, a link redemption): one GET,
//   so a revocation or a link answered by one node counts on every node for the next request;
// - every POLL_MS in the background, so live connections follow the one-second revocation rule.
//
// Why a counter and not pub/sub: a message published while a node reconnects to Redis is lost,
// and a lost revocation would let a token through for good; a counter read before each decision
// cannot miss one.
import { log } from '../log.js'
import * as K from './keys.js'
import type { RedisClient } from './redis.js'

const POLL_MS = 500

export class CredentialSync {
  /** the counter's value the credentials in memory are at least as new as; -1 before the first read */
  private seen = -1
  /** reloads run one after another, each after the counter was read */
  private chain: Promise<void> = Promise.resolve()
  private queued: { version: number; done: Promise<void> } | null = null
  private readonly timer: NodeJS.Timeout

  constructor(
    private readonly client: RedisClient,
    private readonly reload: () => Promise<void>,
  ) {
    this.timer = setInterval(() => {
      // While Redis is away every credential check answers 503 / 1013: nothing to log twice a second.
      if (!this.client.reachable) return
      this.fresh().catch((error: Error) => log('could not reread share links and revocations; retried', { error: error.message }))
    }, POLL_MS)
    this.timer.unref()
  }

  /** Resolves once what this node holds is at least as new as Redis was when it was called. */
  async fresh(): Promise<void> {
    const version = Number((await this.client.call(() => this.client.redis.get(K.CREDENTIALS))) ?? 0)
    if (version <= this.seen) return
    if (this.queued === null || this.queued.version < version) {
      const done = this.chain.then(async () => {
        if (version <= this.seen) return
        await this.reload()
        this.seen = Math.max(this.seen, version)
      })
      // A failed reload (Redis went away) is not remembered: the next call tries again.
      this.chain = done.catch(() => {
        if (this.queued?.done === done) this.queued = null
      })
      this.queued = { version, done }
    }
    await this.queued.done
  }

  stop(): void {
    clearInterval(this.timer)
  }
}
