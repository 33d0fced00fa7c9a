/**
 * Per-user rate limits (DESIGN.md §4): checkout 10/min and payment 5/min, over the atomic
 * `RateLimitStore` (a sliding-window log: never more than the limit in any window; the module
 * comment there says why). A rejection is `RateLimited { limit, retryAfterSeconds }`, which the
 * runtime answers with 429 and `Retry-After`; the seconds are rounded up and at least 1, so a
 * client that waits as told is admitted.
 *
 * A store failure surfaces as `StoreUnavailable` (fail closed): admitting without a count would
 * let exactly the traffic the limit exists for through while the store is down.
 */
import { Clock, Config, Context, Effect, Layer, Metric, Schema } from "effect"
import { decodeConfig } from "./internal/decodeConfig.js"
import { IntBetween } from "./internal/intBetween.js"
import { storeCall } from "./internal/storeCall.js"
import { RateLimited, type StoreUnavailable } from "./Errors.js"
import { MAX_LIMIT, MAX_WINDOW_MS, RateLimitStore } from "./RateLimitStore.js"
import { Resilience } from "./Resilience.js"

export const LimitName = Schema.Literals(["checkout", "payment"])
export type LimitName = typeof LimitName.Type

export const Limit = Schema.Struct({
  limit: IntBetween(1, MAX_LIMIT),
  windowMs: IntBetween(1, MAX_WINDOW_MS)
})
export type Limit = typeof Limit.Type

export const Limits = Schema.Struct({ checkout: Limit, payment: Limit })
export type Limits = typeof Limits.Type

/** The seed's limits, per user. */
export const defaults: Limits = {
  checkout: { limit: 10, windowMs: 60_000 },
  payment: { limit: 5, windowMs: 60_000 }
}

/** Rejections per limit name, for the "rate-limit rejections" panel (DESIGN.md §7). */
export const rejections = Metric.counter("till_rate_limit_rejections_total", {
  description: "Requests refused by a rate limit",
  incremental: true
})

export class RateLimiter extends Context.Service<
  RateLimiter,
  {
    readonly limits: Limits
    /**
     * Takes `cost` units (default 1) of the named limit for `subject`, or fails with `RateLimited`.
     * @example yield* limiter.check("checkout", userId)
     */
    readonly check: (
      name: LimitName,
      subject: string,
      cost?: number
    ) => Effect.Effect<void, RateLimited | StoreUnavailable>
  }
>()("@till/core/RateLimiter") {}

/** The store key of a subject's counter for one limit. */
export const key = (name: LimitName, subject: string): string => `rl:${name}:${subject}`

/** Whole seconds to wait, rounded up and at least 1. */
export const retryAfterSeconds = (retryAfterMs: number): number =>
  Math.max(1, Math.ceil(retryAfterMs / 1_000))

export const make = Effect.fn("RateLimiter.make")(function* (limits: Limits = defaults) {
  const decoded = yield* Effect.orDie(Schema.decodeEffect(Limits)(limits))
  const store = yield* RateLimitStore
  // Under the `store` policy, sent once: an acquire counts, so a retried one would take two units
  // for one request (internal/storeCall.ts). A timeout fails closed, as any store failure does.
  const call = storeCall(yield* Resilience, "rateLimit")
  const rejected = {
    checkout: Metric.withAttributes(rejections, { limit: "checkout" }),
    payment: Metric.withAttributes(rejections, { limit: "payment" })
  }

  const check = Effect.fn("RateLimiter.check")(function* (name: LimitName, subject: string, cost = 1) {
    const { limit, windowMs } = decoded[name]
    const nowMs = yield* Clock.currentTimeMillis
    const decision = yield* call(
      "once",
      store.acquire({ key: key(name, subject), limit, windowMs, cost, nowMs })
    )
    if (decision.allowed) return
    yield* Metric.update(rejected[name], 1)
    return yield* new RateLimited({
      limit: name,
      retryAfterSeconds: retryAfterSeconds(decision.retryAfterMs)
    })
  })

  return RateLimiter.of({ limits: decoded, check })
})

/**
 * Limits from `Config` under `rateLimits.<name>.{limit,windowMs}`, each defaulting to `base`
 * (env: `RATE_LIMITS_CHECKOUT_LIMIT=20` with `ConfigProvider.constantCase`).
 */
export const config = (base: Limits = defaults): Config.Config<Limits> => {
  const limit = (name: LimitName) =>
    Config.all({
      limit: Config.withDefault(Config.Int("limit"), base[name].limit),
      windowMs: Config.withDefault(Config.Int("windowMs"), base[name].windowMs)
    }).pipe(Config.nested(name))
  return Config.all({ checkout: limit("checkout"), payment: limit("payment") }).pipe(
    Config.nested("rateLimits"),
    Config.mapEffect(decodeConfig(Limits, "rateLimits"))
  )
}

/** What the limiter needs: its atomic store and the store policy. */
export type Requirements = RateLimitStore | Resilience

/**
 * The seed's limits.
 * @category layers
 */
export const layer: Layer.Layer<RateLimiter, never, Requirements> = Layer.effect(RateLimiter, make())

/**
 * Limits given in code, each named limit defaulting to `defaults`; an out-of-bounds value is a
 * defect when the layer is built.
 * @example RateLimiter.layerWith({ checkout: { limit: 20, windowMs: 60_000 } })
 * @category layers
 */
export const layerWith = (limits: Partial<Limits>): Layer.Layer<RateLimiter, never, Requirements> =>
  Layer.effect(RateLimiter, make({ ...defaults, ...limits }))

/**
 * Limits from `Config` (`config()`), failing at startup on an invalid value.
 * @category layers
 */
export const layerConfig = (
  limits: Config.Config<Limits> = config()
): Layer.Layer<RateLimiter, Config.ConfigError, Requirements> =>
  Layer.effect(
    RateLimiter,
    Effect.flatMap(limits, (decoded) => make(decoded))
  )
