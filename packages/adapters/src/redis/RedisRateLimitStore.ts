/**
 * The RateLimitStore port on Redis: the sliding-window log of RateLimitStore.ts, one sorted set
 * per key (`<prefix>rl:<key>`, score = the caller's time of each admitted unit), decided by one
 * Lua script per `acquire`: prune what left the window, count, admit and record, or answer when
 * enough units leave. Redis runs a script alone, so concurrent `acquire`s on one key, from any
 * number of instances, are serialised: N simultaneous requests admit exactly `limit` (tested with
 * 1,000 against 10, beside the seed's GET-then-SET, which over-admits).
 *
 * - **Group commit**: a lone check is one EVALSHA of a script loaded once (internal/luaScript.ts;
 *   EVAL on NOSCRIPT); checks made while two batches are out wait and go together as the next run
 *   (internal/batcher.ts), decided one after the other in arrival order. At concurrency 64 this
 *   took the store from 0.71 to 1.32 of rate-limiter-flexible's checks/s, with 0.43 of its Node
 *   and 0.60 of its Redis CPU per check (bench/results/redis.md). A script over many keys needs one server,
 *   which is what RedisClient connects to (not Redis Cluster).
 * - **Unique members**: each unit is recorded as `<instance>.<call>` (`:<unit>` added when a call
 *   takes several; a random instance id, a per-process counter), so several calls in one
 *   millisecond never collapse into one member.
 * - **Keys expire by themselves**: every admission sets PEXPIRE to two windows (a unit is kept a
 *   window past its own, RateLimitStore.retainedAfter), so an idle user costs nothing.
 * - **Refusals that hold are answered here** (internal/refusals.ts): once Redis refuses a key's
 *   single unit, the same check is refused in this process, with Redis's exact answer, until its
 *   blocking unit leaves the window; a client hammering after a 429 costs no round trip.
 *   `till_rate_limit_local_refusals_total` counts those answers; `refusalCacheMaxKeys` bounds them
 *   (0 turns it off).
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
import { Effect, Config as EffectConfig, Exit, Layer, Metric, Schema } from "effect"
import * as Batcher from "../internal/batcher.js"
import { decodeSettings } from "../internal/decodeSettings.js"
import * as LocalLimiter from "./internal/localLimiter.js"
import * as LuaScript from "./internal/luaScript.js"
import * as Refusals from "./internal/refusals.js"
import { RedisClient } from "./RedisClient.js"

/**
 * One batch of checks, decided one after the other in one script run. KEYS: each check's log.
 * ARGV: seven per check, in KEYS' order: limit, cost, nowMs, member prefix, cutoffMs (now - window:
 * units at or before it are out of the window), staleMs (units at or before it are dropped:
 * `RateLimitStore.retainedAfter`, a window earlier, so a check carrying an earlier time still
 * counts its window) and the key's time to live (`RateLimitStore.retentionMs`). Answers three
 * numbers per check: {1, remaining, 0} when admitted, {0, remaining, score of the blocking unit}
 * when not. One unit (every request of Till's limits) is one ZADD of the call's member; more are
 * `<member>:<unit>`, added in chunks: Lua's `unpack` has a stack limit well under MAX_LIMIT. Two
 * checks of one key in a batch are decided in order, the second seeing the first's units, exactly
 * as two scripts in a row would.
 */
export const script = LuaScript.make(`
local out = {}
for k = 1, #KEYS do
  local key = KEYS[k]
  local a = (k - 1) * 7
  local limit = tonumber(ARGV[a + 1])
  local cost = tonumber(ARGV[a + 2])
  local now = ARGV[a + 3]
  local member = ARGV[a + 4]
  local after = '(' .. ARGV[a + 5]
  redis.call('ZREMRANGEBYSCORE', key, '-inf', ARGV[a + 6])
  local used = redis.call('ZCOUNT', key, after, '+inf')
  local n = #out
  if used + cost <= limit then
    if cost == 1 then
      redis.call('ZADD', key, now, member)
    else
      local unit = 1
      while unit <= cost do
        local args = {}
        local last = math.min(cost, unit + 999)
        for i = unit, last do
          args[#args + 1] = now
          args[#args + 1] = member .. ':' .. i
        end
        redis.call('ZADD', key, unpack(args))
        unit = last + 1
      end
    end
    redis.call('PEXPIRE', key, ARGV[a + 7])
    out[n + 1] = 1
    out[n + 2] = limit - used - cost
    out[n + 3] = 0
  else
    local rank = used + cost - limit - 1
    local blocking = redis.call('ZRANGEBYSCORE', key, after, '+inf', 'WITHSCORES', 'LIMIT', rank, 1)
    out[n + 1] = 0
    out[n + 2] = math.max(0, limit - used)
    out[n + 3] = blocking[2]
  end
end
return out
`)

/** Most checks one script run decides (a bigger burst goes as several runs). */
export const maxBatch = 128

/**
 * Batches out at once: two, so Redis runs one while Node reads the other's reply and gathers the
 * next; a lone check is sent at once (internal/batcher.ts).
 */
const maxInFlight = 2

const Bounded = (maximum: number) => Schema.Int.check(Schema.isBetween({ minimum: 1, maximum }))

/** The fallback limiter's settings. */
export const Settings = Schema.Struct({
  /** Most keys the in-memory fallback holds while Redis is down (least recently used go first). */
  fallbackMaxKeys: Bounded(10_000_000),
  /** Each instance admits `ceil(limit / fallbackLimitDivisor)` while degraded (set it to the instance count). */
  fallbackLimitDivisor: Bounded(10_000),
  /** Most refused keys answered in this process until their refusal ends (0: every check asks Redis). */
  refusalCacheMaxKeys: Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 10_000_000 }))
})
export type Settings = typeof Settings.Type

export const defaults: Settings = {
  fallbackMaxKeys: 100_000,
  fallbackLimitDivisor: 1,
  refusalCacheMaxKeys: 10_000
}

/** Checks answered by the in-memory fallback because Redis could not answer. */
export const fallbacks = Metric.counter("till_rate_limit_fallback_total", {
  description: "Rate-limit checks answered by the per-instance fallback while Redis was unavailable",
  incremental: true
})

/** Checks refused in this process because Redis had refused the same check and its refusal still held. */
export const localRefusals = Metric.counter("till_rate_limit_local_refusals_total", {
  description:
    "Rate-limit checks refused without a round trip: Redis had refused the same check, and its refusal still held",
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
  const refusals = Refusals.make(decoded.refusalCacheMaxKeys)
  const instance = randomBytes(9).toString("base64url")
  let calls = 0

  // Replies are three numbers per check, from `at` (the script's comment). A refusal is kept.
  const decide = (
    request: RateLimitStore.AcquireRequest,
    reply: ReadonlyArray<number | string>,
    at: number
  ): RateLimitStore.Decision => {
    if (reply[at] === 1) return { allowed: true, remaining: Number(reply[at + 1]), retryAfterMs: 0 }
    const refused = {
      allowed: false,
      remaining: Number(reply[at + 1]),
      retryAfterMs: Math.max(1, Number(reply[at + 2]) + request.windowMs - request.nowMs)
    }
    refusals.remember(request, refused)
    return refused
  }

  // The checks of a batch in one EVALSHA (internal/batcher.ts). The members are drawn when the
  // batch is sent, so an effect run twice records two members.
  const sendBatch = (requests: ReadonlyArray<RateLimitStore.AcquireRequest>) =>
    client.call(store, (redis) => {
      const keys: Array<string> = []
      const args: Array<string | number> = []
      for (const { key, limit, windowMs, cost, nowMs } of requests) {
        keys.push(prefix + key)
        args.push(
          limit,
          cost,
          nowMs,
          `${instance}.${++calls}`,
          nowMs - windowMs,
          RateLimitStore.retainedAfter(nowMs, windowMs),
          RateLimitStore.retentionMs(windowMs)
        )
      }
      return script.run(redis, keys, args) as Promise<ReadonlyArray<number | string>>
    })

  const batcher = Batcher.make({
    maxBatch,
    maxInFlight,
    services: yield* Effect.context<never>(),
    run: (requests: ReadonlyArray<RateLimitStore.AcquireRequest>) =>
      Effect.match(sendBatch(requests), {
        onSuccess: (reply) => requests.map((request, i) => Exit.succeed(decide(request, reply, i * 3))),
        onFailure: (error) => requests.map(() => Exit.fail(error))
      })
  })

  // While Redis cannot answer: this instance's own log (the module comment has the semantics).
  const degraded = (request: RateLimitStore.AcquireRequest) =>
    Effect.as(Metric.update(fallbacks, 1), local.acquire(request))

  const acquire = (
    request: RateLimitStore.AcquireRequest
  ): Effect.Effect<RateLimitStore.Decision, Errors.StoreUnavailable> => {
    const invalid = RateLimitStore.invalidReason(request)
    if (invalid !== undefined) return Effect.die(new Error(`RateLimitStore.acquire: ${invalid}`))
    const refused = refusals.answer(request)
    if (refused !== undefined) return Effect.as(Metric.update(localRefusals, 1), refused)
    return Effect.catch(batcher.call(request), () => degraded(request))
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
    ),
    refusalCacheMaxKeys: EffectConfig.withDefault(
      EffectConfig.Int("refusalCacheMaxKeys"),
      base.refusalCacheMaxKeys
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
