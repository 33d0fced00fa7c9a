/**
 * The RateLimitStore port on Redis: the sliding-window log of RateLimitStore.ts, one sorted set
 * per key (`<prefix>rl:<key>`, score = the caller's time of each admitted unit), decided by one
 * Lua script per `acquire`: prune what left the window, count, admit and record, or answer when
 * enough units leave. Redis runs a script alone, so concurrent `acquire`s on one key, from any
 * number of instances, are serialised: N simultaneous requests admit exactly `limit` (tested with
 * 1,000 against 10, beside the seed's GET-then-SET, which over-admits).
 *
 * - **One round trip**: EVALSHA of a script loaded once (internal/luaScript.ts); EVAL on NOSCRIPT.
 * - **Unique members**: each unit is recorded as `<instance>.<call>` (`:<unit>` added when a call
 *   takes several; a random instance id, a per-process counter), so several calls in one
 *   millisecond never collapse into one member.
 * - **Keys expire by themselves**: every admission sets PEXPIRE to the window, so a key lives one
 *   window after its last admitted unit and an idle user costs nothing.
 *
 * **While Redis is down** (refused, timed out, or the client's breaker open: RedisClient.ts), a
 * check is answered by a bounded in-memory limiter of this instance (internal/localLimiter.ts):
 * checkouts neither fail nor pass unbounded. Degraded, a key gets at most
 * `ceil(limit / fallbackLimitDivisor)` per window on each instance; the local log starts empty
 * and is never merged back, so Redis's count resumes where it was when Redis returns.
 * `till_rate_limit_fallback_total` counts the checks answered locally.
 */
import { type Errors, RateLimitStore } from "@till/core"
import { randomBytes } from "node:crypto"
import { Effect, Config as EffectConfig, Layer, Metric, Schema } from "effect"
import { decodeSettings } from "../internal/decodeSettings.js"
import * as LocalLimiter from "./internal/localLimiter.js"
import * as LuaScript from "./internal/luaScript.js"
import { RedisClient } from "./RedisClient.js"

/**
 * KEYS: the key's log. ARGV: limit, windowMs, cost, nowMs, member prefix, cutoffMs (now - window,
 * inclusive). Answers {1, remaining, 0} when admitted, {0, remaining, score of the blocking unit}
 * when not. One unit (every request of Till's limits) is one ZADD of the call's member; more are
 * `<member>:<unit>`, added in chunks: Lua's `unpack` has a stack limit well under MAX_LIMIT.
 */
export const script = LuaScript.make(`
local limit = tonumber(ARGV[1])
local cost = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[6])
local used = redis.call('ZCARD', KEYS[1])
if used + cost <= limit then
  if cost == 1 then
    redis.call('ZADD', KEYS[1], ARGV[4], ARGV[5])
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    return {1, limit - used - 1, 0}
  end
  local unit = 1
  while unit <= cost do
    local args = {}
    local last = math.min(cost, unit + 999)
    for i = unit, last do
      args[#args + 1] = ARGV[4]
      args[#args + 1] = ARGV[5] .. ':' .. i
    end
    redis.call('ZADD', KEYS[1], unpack(args))
    unit = last + 1
  end
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return {1, limit - used - cost, 0}
end
local rank = used + cost - limit - 1
local blocking = redis.call('ZRANGE', KEYS[1], rank, rank, 'WITHSCORES')
return {0, math.max(0, limit - used), blocking[2]}
`)

const Bounded = (maximum: number) => Schema.Int.check(Schema.isBetween({ minimum: 1, maximum }))

/** The fallback limiter's settings. */
export const Settings = Schema.Struct({
  /** Most keys the in-memory fallback holds while Redis is down (least recently used go first). */
  fallbackMaxKeys: Bounded(10_000_000),
  /** Each instance admits `ceil(limit / fallbackLimitDivisor)` while degraded (set it to the instance count). */
  fallbackLimitDivisor: Bounded(10_000)
})
export type Settings = typeof Settings.Type

export const defaults: Settings = { fallbackMaxKeys: 100_000, fallbackLimitDivisor: 1 }

/** Checks answered by the in-memory fallback because Redis could not answer. */
export const fallbacks = Metric.counter("till_rate_limit_fallback_total", {
  description: "Rate-limit checks answered by the per-instance fallback while Redis was unavailable",
  incremental: true
})

const store = "rateLimit"

/** The store over the `RedisClient` in context, with `settings` for its fallback. */
export const make: (
  settings?: Settings
) => Effect.Effect<RateLimitStore.RateLimitStore["Service"], never, RedisClient> = Effect.fn(
  "RedisRateLimitStore.make"
)(function* (settings: Settings = defaults) {
  const decoded = yield* Effect.orDie(Schema.decodeEffect(Settings)(settings))
  const client = yield* RedisClient
  const prefix = `${client.keyPrefix}rl:`
  const local = LocalLimiter.make(decoded.fallbackMaxKeys, decoded.fallbackLimitDivisor)
  const instance = randomBytes(9).toString("base64url")
  let calls = 0

  const decide = (request: RateLimitStore.AcquireRequest, reply: unknown): RateLimitStore.Decision => {
    const [allowed, remaining, blocking] = reply as [number, number, number | string]
    return allowed === 1
      ? { allowed: true, remaining, retryAfterMs: 0 }
      : {
          allowed: false,
          remaining,
          retryAfterMs: Math.max(1, Number(blocking) + request.windowMs - request.nowMs)
        }
  }

  // While Redis cannot answer: this instance's own log (the module comment has the semantics).
  const degraded = (request: RateLimitStore.AcquireRequest) =>
    Effect.as(Metric.update(fallbacks, 1), local.acquire(request))

  const acquire = (
    request: RateLimitStore.AcquireRequest
  ): Effect.Effect<RateLimitStore.Decision, Errors.StoreUnavailable> => {
    const invalid = RateLimitStore.invalidReason(request)
    if (invalid !== undefined) return Effect.die(new Error(`RateLimitStore.acquire: ${invalid}`))
    const { key, limit, windowMs, cost, nowMs } = request
    return Effect.catch(
      Effect.map(
        client.call(store, (redis) =>
          // The member is drawn when the call is sent, so an effect run twice records two members.
          script.run(
            redis,
            [prefix + key],
            [limit, windowMs, cost, nowMs, `${instance}.${++calls}`, nowMs - windowMs]
          )
        ),
        (reply) => decide(request, reply)
      ),
      () => degraded(request)
    )
  }

  return RateLimitStore.RateLimitStore.of({ acquire })
})

/**
 * The store on the `RedisClient` it is given, with the default fallback (100,000 keys, the full
 * limit per instance).
 * @category layers
 */
export const layer: Layer.Layer<RateLimitStore.RateLimitStore, never, RedisClient> = Layer.effect(
  RateLimitStore.RateLimitStore,
  make()
)

/**
 * The store with fallback settings given in code; an invalid value is a defect when built.
 * @example RedisRateLimitStore.layerWith({ fallbackLimitDivisor: 4 }) // 4 instances
 * @category layers
 */
export const layerWith = (
  settings: Partial<Settings>
): Layer.Layer<RateLimitStore.RateLimitStore, never, RedisClient> =>
  Layer.effect(RateLimitStore.RateLimitStore, make({ ...defaults, ...settings }))

/** The settings from `Config` under `redis.rateLimit.*` (`REDIS_RATE_LIMIT_FALLBACK_LIMIT_DIVISOR=4`). */
export const config = (base: Settings = defaults): EffectConfig.Config<Settings> =>
  EffectConfig.all({
    fallbackMaxKeys: EffectConfig.withDefault(EffectConfig.Int("fallbackMaxKeys"), base.fallbackMaxKeys),
    fallbackLimitDivisor: EffectConfig.withDefault(
      EffectConfig.Int("fallbackLimitDivisor"),
      base.fallbackLimitDivisor
    )
  }).pipe(
    EffectConfig.nested("rateLimit"),
    EffectConfig.nested("redis"),
    EffectConfig.mapEffect(decodeSettings(Settings, ["redis", "rateLimit"]))
  )

/**
 * The store with settings read from `Config` (`config()`), failing at startup on an invalid value.
 * @category layers
 */
export const layerConfig = (
  settings: EffectConfig.Config<Settings> = config()
): Layer.Layer<RateLimitStore.RateLimitStore, EffectConfig.ConfigError, RedisClient> =>
  Layer.effect(
    RateLimitStore.RateLimitStore,
    Effect.flatMap(settings, (decoded) => make(decoded))
  )
