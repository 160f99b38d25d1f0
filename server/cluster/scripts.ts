// The Lua scripts of cluster mode. Each runs atomically in Redis, and each touches the keys of one
// workspace only (one hash tag), so it also runs on Redis Cluster.

/** Takes a free (or expired, or our own) lease with the next epoch, unless it is being handed over
 * to another node. KEYS: lease, epoch, handover. ARGV: holder, url, ttl ms, node id.
 * Returns {1, epoch}, {0, epoch, holder, url}, or {0, '0', node handed over to, ''}. */
export const ACQUIRE = `
local cur = redis.call('HMGET', KEYS[1], 'epoch', 'node', 'url')
if cur[1] and cur[2] ~= ARGV[1] then return {0, cur[1], cur[2], cur[3]} end
local to = redis.call('GET', KEYS[3])
if not cur[1] and to and to ~= ARGV[4] then return {0, '0', to, ''} end
local e = redis.call('INCR', KEYS[2])
redis.call('DEL', KEYS[1], KEYS[3])
redis.call('HSET', KEYS[1], 'epoch', e, 'node', ARGV[1], 'url', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return {1, tostring(e)}
`

/** Extends the lease only if `epoch` still holds it. KEYS: lease. ARGV: epoch, ttl ms. */
export const RENEW = `
if redis.call('HGET', KEYS[1], 'epoch') ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
`

/** Gives the lease up only if `epoch` still holds it. KEYS: lease. ARGV: epoch. */
export const RELEASE = `
if redis.call('HGET', KEYS[1], 'epoch') ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
return 1
`

/** Gives the lease up for node `to` alone to take (for ttl ms), only if `epoch` still holds it.
 * KEYS: lease, handover. ARGV: epoch, to, ttl ms. */
export const HANDOVER = `
if redis.call('HGET', KEYS[1], 'epoch') ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
return 1
`

const FENCE = `
if ARGV[1] ~= '' and redis.call('HGET', KEYS[1], 'epoch') ~= ARGV[1] then
  return redis.error_reply('FENCED epoch ' .. ARGV[1] .. ' no longer holds the lease')
end
`

/**
 * One group-commit batch of one workspace (or of the cluster-wide keys, with epoch ''), refused
 * as a whole unless the epoch holds the lease. KEYS: lease, kv, idx, docs, then the logs appended
 * to. ARGV: epoch, then four per operation: 'p' key value -, 'd' key - -, 'a' log-index update room,
 * 'v' key-index - - (increments a counter: the cluster-wide credentials changed).
 */
export const BATCH = `${FENCE}
for i = 2, #ARGV, 4 do
  local kind = ARGV[i]
  if kind == 'p' then
    redis.call('HSET', KEYS[2], ARGV[i + 1], ARGV[i + 2])
    redis.call('ZADD', KEYS[3], 0, ARGV[i + 1])
  elseif kind == 'd' then
    redis.call('HDEL', KEYS[2], ARGV[i + 1])
    redis.call('ZREM', KEYS[3], ARGV[i + 1])
  elseif kind == 'v' then
    redis.call('INCR', KEYS[tonumber(ARGV[i + 1])])
  else
    redis.call('XADD', KEYS[tonumber(ARGV[i + 1])], '*', 'u', ARGV[i + 2], 'e', ARGV[1])
    redis.call('ZADD', KEYS[4], 0, ARGV[i + 3])
  end
end
return 1
`

/** Replaces a document's state and the log entries it merged. KEYS: lease, state, sv, log.
 * ARGV: epoch, state, state vector, the first stream id NOT merged. */
export const COMPACT = `${FENCE}
redis.call('SET', KEYS[2], ARGV[2])
redis.call('SET', KEYS[3], ARGV[3])
redis.call('XTRIM', KEYS[4], 'MINID', ARGV[4])
return 1
`

/** Keys and values of a sorted range of a kv hash. KEYS: idx, kv. ARGV: min, max, count, reverse. */
export const RANGE = `
local ks
if ARGV[4] == '1' then
  ks = redis.call('ZREVRANGEBYLEX', KEYS[1], ARGV[2], ARGV[1], 'LIMIT', 0, ARGV[3])
else
  ks = redis.call('ZRANGEBYLEX', KEYS[1], ARGV[1], ARGV[2], 'LIMIT', 0, ARGV[3])
end
local out = {}
for i = 1, #ks do
  out[2 * i - 1] = ks[i]
  out[2 * i] = redis.call('HGET', KEYS[2], ks[i]) or ''
end
return out
`
