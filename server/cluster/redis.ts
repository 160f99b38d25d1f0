// The Redis connection of a cluster node. Commands fail at once while Redis is unreachable (no
// offline queue, nothing resent after a reconnect): a write that waited for Redis to come back
// would hold its client for an unknown time, and one resent after a new owner took the room would
// be refused by the fence anyway. The writer is told, its clients reconnect, and the node carries
// on when Redis is back.
import { Redis } from 'ioredis'
import { TryAgainLater } from '../rooms/hooks.js'
import { ACQUIRE, BATCH, COMPACT, HANDOVER, RANGE, RELEASE, RENEW } from './scripts.js'

const SCRIPTS = { acquire: ACQUIRE, renew: RENEW, release: RELEASE, handover: HANDOVER, batch: BATCH, compact: COMPACT, range: RANGE }
export type ScriptName = keyof typeof SCRIPTS
type Arg = string | Buffer | Uint8Array | number

export class StorageUnavailable extends TryAgainLater {}

export class Fenced extends TryAgainLater {}

/** The workspace is being handed over to another node (rebalancing): reconnect, to be served there. */
export class Moving extends Fenced {}

/** Why `url` cannot name a Redis, or null. */
export function redisUrlError(url: string): string | null {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    return `--redis ${JSON.stringify(url)} is not a URL: write redis://HOST:PORT[/DB]`
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:')
    return `--redis ${JSON.stringify(url)}: the URL must start with redis:// (or rediss:// for TLS)`
  return null
}

export class RedisClient {
  private constructor(
    readonly redis: Redis,
    readonly url: string,
  ) {}

  /** Connects, or throws saying why (the caller exits with it). */
  static async connect(url: string): Promise<RedisClient> {
    const bad = redisUrlError(url)
    if (bad) throw new Error(bad)
    const redis = new Redis(url, {
      lazyConnect: true,
      enableOfflineQueue: false,
      autoResendUnfulfilledCommands: false,
      maxRetriesPerRequest: 0,
      connectTimeout: 5000,
      retryStrategy: (times) => Math.min(100 * times, 1000),
    })
    // Without a listener ioredis reports every failed reconnect on stderr as an unhandled error.
    let lastError: Error | null = null
    redis.on('error', (error: Error) => (lastError = error))
    for (const [name, lua] of Object.entries(SCRIPTS)) redis.defineCommand(name, { lua })
    try {
      await redis.connect()
      await redis.ping()
    } catch (error) {
      redis.disconnect()
      throw new Error(`cannot reach Redis at ${url} (${(lastError ?? (error as Error)).message}): start Redis, or check --redis`)
    }
    return new RedisClient(redis, url)
  }

  get reachable(): boolean {
    return this.redis.status === 'ready'
  }

  /** Runs a script with the given keys; replies as Buffers. */
  async script(name: ScriptName, keys: string[], args: Arg[]): Promise<unknown> {
    const command = (this.redis as unknown as Record<string, (...a: Arg[]) => Promise<unknown>>)[`${name}Buffer`]!
    return this.call(() => command.call(this.redis, keys.length, ...keys, ...args))
  }

  /** Maps Redis's failures onto the two the server reacts to. */
  async call<T>(run: () => Promise<T>): Promise<T> {
    try {
      return await run()
    } catch (error) {
      const message = (error as Error).message
      if (message.startsWith('FENCED')) throw new Fenced(message)
      if (this.redis.status !== 'ready' || /Connection is closed|Stream isn't writeable|ECONNRE|ETIMEDOUT|EPIPE/.test(message)) {
        throw new StorageUnavailable(`storage unavailable: Redis at ${this.url} is unreachable (${message})`)
      }
      throw error
    }
  }

  async close(): Promise<void> {
    if (this.redis.status === 'ready') await this.redis.quit().catch(() => undefined)
    this.redis.disconnect()
  }
}
