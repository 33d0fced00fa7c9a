/**
 * The cart store's Lua scripts. A cart is one hash, `<prefix>cart:<id>`:
 *   doc      the encoded cart (JSON), written only by insert and update
 *   version  the compare-and-set's version, beside the doc so a script compares it without JSON
 *   views    the view counter, written only by HINCRBY: a cart write never touches it
 * and the index of active carts is one sorted set, `<prefix>carts:active`, member = cart id,
 * score = the caller's time of the cart's last change (ms).
 *
 * Each write is one script, so the check, the write, the TTL and the index move together: Redis
 * runs a script alone, so two instances writing one cart at once are serialised and exactly one
 * compare-and-set wins. TTLs are PEXPIRE, on Redis's own clock. A non-positive TTL stores a cart
 * that is already gone (as PEXPIRE with one would): insert answers "inserted" and keeps nothing,
 * update deletes the cart. Every write also trims index entries older than its TTL: their carts
 * have expired unless they changed since, in which case the change re-added them.
 *
 * The scripts name the index key and build cart keys from the prefix they are given, so they
 * suit a standalone or Sentinel Redis, not a Redis Cluster (whose scripts must declare every key
 * and keep them in one slot).
 */
import * as LuaScript from "./luaScript.js"

/**
 * KEYS: cart, index. ARGV: doc, ttlMs, nowMs, cartId, active (1/0), views, trimBeforeMs. Answers 1
 * inserted, 0 exists. (Times go in as the caller's decimal strings: Lua 5.1 would print a number
 * of 15+ digits with an exponent.)
 */
export const insert = LuaScript.make(`
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
if tonumber(ARGV[2]) <= 0 then return 1 end
redis.call('HSET', KEYS[1], 'doc', ARGV[1], 'version', 1, 'views', ARGV[6])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
if ARGV[5] == '1' then redis.call('ZADD', KEYS[2], ARGV[3], ARGV[4]) else redis.call('ZREM', KEYS[2], ARGV[4]) end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[7])
return 1
`)

/**
 * KEYS: cart, index. ARGV: expectedVersion, doc (already at expectedVersion + 1), ttlMs, nowMs,
 * cartId, active (1/0), trimBeforeMs. Answers the cart's views when written, -1 when the version differs or
 * the cart is gone.
 */
export const update = LuaScript.make(`
local version = redis.call('HGET', KEYS[1], 'version')
if version == false or tonumber(version) ~= tonumber(ARGV[1]) then return -1 end
local views = tonumber(redis.call('HGET', KEYS[1], 'views') or '0')
if tonumber(ARGV[3]) <= 0 then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[2], ARGV[5])
  return views
end
redis.call('HSET', KEYS[1], 'doc', ARGV[2], 'version', tonumber(ARGV[1]) + 1)
redis.call('PEXPIRE', KEYS[1], ARGV[3])
if ARGV[6] == '1' then redis.call('ZADD', KEYS[2], ARGV[4], ARGV[5]) else redis.call('ZREM', KEYS[2], ARGV[5]) end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[7])
return views
`)

/** KEYS: cart. Answers the views after this one, or -1 when the cart does not exist (nothing created). */
export const incrementViews = LuaScript.make(`
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
return redis.call('HINCRBY', KEYS[1], 'views', 1)
`)

/**
 * KEYS: index. ARGV: cutoffMs (exclusive), limit, maxExamined, cart key prefix. Answers up to
 * `limit` [id, score] pairs of live carts last changed before the cutoff, oldest first; entries
 * whose cart is gone (expired) are removed on the way, at most `maxExamined` looked at per call.
 */
export const idle = LuaScript.make(`
local limit = tonumber(ARGV[2])
local maxExamined = tonumber(ARGV[3])
local found = {}
local examined = 0
local offset = 0
while #found < 2 * limit and examined < maxExamined do
  local batch = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[1], 'WITHSCORES', 'LIMIT', offset, limit)
  if #batch == 0 then break end
  for i = 1, #batch, 2 do
    if #found >= 2 * limit or examined >= maxExamined then break end
    examined = examined + 1
    if redis.call('EXISTS', ARGV[4] .. batch[i]) == 1 then
      found[#found + 1] = batch[i]
      found[#found + 1] = batch[i + 1]
      offset = offset + 1
    else
      redis.call('ZREM', KEYS[1], batch[i])
    end
  end
end
return found
`)

/** KEYS: index. ARGV: cartId, lastChangeMs. Removes the entry only if the cart has not changed since (1), else 0. */
export const forgetIdle = LuaScript.make(`
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if score and tonumber(score) == tonumber(ARGV[2]) then
  redis.call('ZREM', KEYS[1], ARGV[1])
  return 1
end
return 0
`)
