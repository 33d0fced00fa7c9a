import { describe, expect, it } from "@effect/vitest"
import { InMemoryRateLimitStore } from "@till/testkit"
import { ConfigProvider, Effect, Layer, Metric, Result } from "effect"
import { TestClock } from "effect/testing"
import { RateLimited, StoreUnavailable } from "../src/Errors.js"
import * as RateLimiter from "../src/RateLimiter.js"
import { RateLimitStore } from "../src/RateLimitStore.js"
import * as Resilience from "../src/Resilience.js"

const limiterLayer = RateLimiter.layer.pipe(Layer.provide([InMemoryRateLimitStore.layer, Resilience.layer]))

const check = (name: RateLimiter.LimitName, userId: string) =>
  Effect.flatMap(RateLimiter.RateLimiter, (limiter) => Effect.result(limiter.check(name, userId)))

const concurrently = (n: number, name: RateLimiter.LimitName, userId: string) =>
  Effect.all(
    Array.from({ length: n }, () => check(name, userId)),
    { concurrency: "unbounded" }
  )

describe("RateLimiter", () => {
  it.effect("checkout: exactly 10 of 1,000 concurrent checks per user pass", () =>
    Effect.gen(function* () {
      const results = yield* concurrently(1_000, "checkout", "usr_1")
      expect(results.filter(Result.isSuccess)).toHaveLength(10)
      const refused = results.filter(Result.isFailure).map((r) => r.failure)
      expect(refused).toHaveLength(990)
      expect(
        refused.every((e) => e instanceof RateLimited && e.limit === "checkout" && e.retryAfterSeconds === 60)
      ).toBe(true)
    }).pipe(Effect.provide(limiterLayer))
  )

  it.effect("payment: exactly 5 of 1,000 concurrent checks per user pass", () =>
    Effect.gen(function* () {
      const results = yield* concurrently(1_000, "payment", "usr_1")
      expect(results.filter(Result.isSuccess)).toHaveLength(5)
    }).pipe(Effect.provide(limiterLayer))
  )

  it.effect("users and limits are counted apart", () =>
    Effect.gen(function* () {
      yield* concurrently(20, "checkout", "usr_1")
      expect(Result.isSuccess(yield* check("checkout", "usr_2"))).toBe(true)
      expect(Result.isSuccess(yield* check("payment", "usr_1"))).toBe(true)
    }).pipe(Effect.provide(limiterLayer))
  )

  it.effect("retryAfterSeconds is the wait until the oldest checkout leaves the minute, rounded up", () =>
    Effect.gen(function* () {
      for (let i = 0; i < 10; i++) {
        expect(Result.isSuccess(yield* check("checkout", "usr_1"))).toBe(true)
        yield* TestClock.adjust(1_000) // checkouts at 0 s, 1 s, ... 9 s
      }
      // t = 10 s: the checkout of 0 s leaves at 60 s.
      expect(yield* check("checkout", "usr_1")).toEqual(
        Result.fail(new RateLimited({ limit: "checkout", retryAfterSeconds: 50 }))
      )
      yield* TestClock.adjust(49_500) // t = 59.5 s: half a second to go, told 1 s
      expect(yield* check("checkout", "usr_1")).toEqual(
        Result.fail(new RateLimited({ limit: "checkout", retryAfterSeconds: 1 }))
      )
      yield* TestClock.adjust(500) // t = 60 s: one slot is free again, one only
      expect(Result.isSuccess(yield* check("checkout", "usr_1"))).toBe(true)
      expect(yield* check("checkout", "usr_1")).toEqual(
        Result.fail(new RateLimited({ limit: "checkout", retryAfterSeconds: 1 }))
      )
    }).pipe(Effect.provide(limiterLayer))
  )

  it.effect("the window refills: a minute after a burst, the full limit passes again", () =>
    Effect.gen(function* () {
      expect((yield* concurrently(50, "payment", "usr_1")).filter(Result.isSuccess)).toHaveLength(5)
      yield* TestClock.adjust(59_999)
      expect((yield* concurrently(50, "payment", "usr_1")).filter(Result.isSuccess)).toHaveLength(0)
      yield* TestClock.adjust(1)
      expect((yield* concurrently(50, "payment", "usr_1")).filter(Result.isSuccess)).toHaveLength(5)
    }).pipe(Effect.provide(limiterLayer))
  )

  it.effect("rejections are counted per limit", () =>
    Effect.gen(function* () {
      const counter = Metric.withAttributes(RateLimiter.rejections, { limit: "payment" })
      const before = (yield* Metric.value(counter)).count
      yield* concurrently(8, "payment", "usr_metric")
      expect((yield* Metric.value(counter)).count - before).toBe(3)
    }).pipe(Effect.provide(limiterLayer))
  )

  it.effect("limits come from Config", () =>
    Effect.gen(function* () {
      const limiter = yield* RateLimiter.RateLimiter
      expect(limiter.limits.checkout).toEqual({ limit: 2, windowMs: 1_000 })
      expect(limiter.limits.payment).toEqual(RateLimiter.defaults.payment)
      expect((yield* concurrently(10, "checkout", "usr_1")).filter(Result.isSuccess)).toHaveLength(2)
    }).pipe(
      Effect.provide(
        RateLimiter.layerConfig().pipe(
          Layer.provide([InMemoryRateLimitStore.layer, Resilience.layer]),
          Layer.provide(
            ConfigProvider.layer(
              ConfigProvider.fromUnknown({ rateLimits: { checkout: { limit: 2, windowMs: 1_000 } } })
            )
          )
        )
      )
    )
  )

  it.effect("a store failure surfaces as StoreUnavailable (fail closed)", () =>
    Effect.gen(function* () {
      const result = yield* check("checkout", "usr_1")
      expect(result).toEqual(
        Result.fail(new StoreUnavailable({ store: "redis", reason: "connection refused" }))
      )
    }).pipe(
      Effect.provide(
        RateLimiter.layer.pipe(
          Layer.provide(Resilience.layer),
          Layer.provide(
            Layer.succeed(RateLimitStore, {
              acquire: () =>
                Effect.fail(new StoreUnavailable({ store: "redis", reason: "connection refused" }))
            })
          )
        )
      )
    )
  )

  it.effect("PLANTED BUG: over the GET-then-SET store the same limiter admits far more than 10", () =>
    Effect.gen(function* () {
      const results = yield* concurrently(1_000, "checkout", "usr_1")
      expect(results.filter(Result.isSuccess).length).toBeGreaterThan(10)
    }).pipe(
      Effect.provide(
        RateLimiter.layer.pipe(Layer.provide([InMemoryRateLimitStore.layerGetThenSet, Resilience.layer]))
      )
    )
  )
})
