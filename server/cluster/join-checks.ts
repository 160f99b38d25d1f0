// What a node checks before it joins a cluster: that it shares the cluster's signing secret, and
// that Redis keeps what it acknowledges (a warning only: the operator may accept the risk).
import { createHmac } from 'node:crypto'
import { log } from '../log.js'
import * as K from './keys.js'
import type { RedisClient } from './redis.js'

/** Throws the reason this node may not join the cluster behind `client`; warns of a Redis without AOF. */
export async function checkJoin(client: RedisClient, key: Uint8Array): Promise<void> {
  await checkClusterSecret(client, key)
  await warnWithoutAof(client)
}

/**
 * Nodes must share the signing secret (a token minted for one is checked by another when relayed).
 * The first node leaves an HMAC of a fixed text under it; a node whose secret gives another HMAC
 * is refused.
 */
async function checkClusterSecret(client: RedisClient, key: Uint8Array): Promise<void> {
  const proof = createHmac('sha256', key).update('huddle cluster secret check').digest('hex')
  const stored = await client.call(async () => (await client.redis.set(K.SECRET_CHECK, proof, 'NX', 'GET')) ?? proof)
  if (stored !== proof) {
    throw new Error(`the cluster on ${client.url} uses another secret: start this node with the same HUDDLE_SECRET as the others`)
  }
}

/** Acknowledged writes survive a crash of Redis only with its append-only file. */
async function warnWithoutAof(client: RedisClient): Promise<void> {
  const reply = (await client.redis.config('GET', 'appendonly').catch(() => null)) as string[] | null
  if (reply?.[1] === 'no')
    log('WARNING: Redis runs without its append-only file: a crash of Redis loses what it acknowledged since its last snapshot; run it with appendonly yes', {
      redis: client.url,
    })
}
