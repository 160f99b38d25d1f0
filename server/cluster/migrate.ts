// Keys of a workspace that an earlier layout of cluster mode wrote under `{global}` (webhook
// endpoints and their logs, change sets), where this one no longer looks: a node moves them to
// their workspace's tag when it joins, before it serves anything. A key the workspace already has
// under its own tag is newer (written since this layout) and wins; the old copy is dropped.
// One key at a time and not in one script: the two tags may be different slots of a Redis Cluster.
import * as K from './keys.js'
import type { RedisClient } from './redis.js'

/** Moves the workspace keys found under `{global}`; returns how many it moved. */
export async function moveWorkspaceKeysFromGlobal(client: RedisClient): Promise<number> {
  const redis = client.redis
  let moved = 0
  for (const family of K.WORKSPACE_FAMILIES) {
    // '"' is the character after '!': the range holds exactly the family's keys.
    const keys = await client.call(() => redis.zrangebylex(K.idx(K.GLOBAL_TAG), `[${family}!`, `(${family}"`))
    for (const key of keys) {
      const workspace = K.workspaceOfKey(key)
      if (workspace === null) continue
      const value = await client.call(() => redis.hgetBuffer(K.kv(K.GLOBAL_TAG), key))
      const tag = K.tagOf(workspace)
      if (value) {
        await client.call(() => redis.hsetnx(K.kv(tag), key, value))
        await client.call(() => redis.zadd(K.idx(tag), 0, key))
        await client.call(() => redis.zadd(K.WORKSPACES, 0, workspace))
      }
      await client.call(() => redis.multi().hdel(K.kv(K.GLOBAL_TAG), key).zrem(K.idx(K.GLOBAL_TAG), key).exec())
      moved++
    }
  }
  return moved
}
