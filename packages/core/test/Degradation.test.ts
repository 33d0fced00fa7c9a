import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Effect, Fiber, Layer, Metric, Option, Result, Stream } from "effect"
import { TestClock } from "effect/testing"
import * as CircuitBreaker from "../src/CircuitBreaker.js"
import * as Degradation from "../src/Degradation.js"
import { FeatureShed, GatewayUnavailable } from "../src/Errors.js"

const features = ["orderHistory", "recommendations", "liveShippingQuotes", "newOrders"] as const

const shedNow = Effect.flatMap(Degradation.Degradation, (d) =>
  Effect.forEach(features, (feature) => d.isShed(feature))
)

const level = Effect.flatMap(Degradation.Degradation, (d) => d.level)
const signal = (s: Degradation.Signal) => Effect.flatMap(Degradation.Degradation, (d) => d.signal(s))
const gauge = Effect.map(Metric.value(Degradation.levelGauge), (state) => state.value)

describe("Degradation", () => {
  it.effect("sheds in the seed's order: history, recommendations, live quotes, and last, new orders", () =>
    Effect.gen(function* () {
      const degradation = yield* Degradation.Degradation
      const table: Array<ReadonlyArray<boolean>> = []
      for (const l of [0, 1, 2, 3, 4] as const) {
        yield* degradation.setOperatorLevel(l)
        table.push(yield* shedNow)
      }
      expect(table).toEqual([
        [false, false, false, false],
        [true, false, false, false],
        [true, true, false, false],
        [true, true, true, false],
        [true, true, true, true]
      ])
    }).pipe(Effect.provide(Degradation.layer))
  )

  it.effect("guard fails with FeatureShed and the Retry-After to give clients", () =>
    Effect.gen(function* () {
      const degradation = yield* Degradation.Degradation
      expect(yield* Effect.result(degradation.guard("orderHistory"))).toEqual(Result.succeed(undefined))
      yield* degradation.setOperatorLevel(1)
      expect(yield* Effect.result(degradation.guard("orderHistory"))).toEqual(
        Result.fail(new FeatureShed({ feature: "orderHistory", retryAfterSeconds: 30 }))
      )
      expect(yield* Effect.result(degradation.guard("newOrders"))).toEqual(Result.succeed(undefined))
    }).pipe(Effect.provide(Degradation.layer))
  )

  it.effect("signals raise the level on their own, to the highest any source asks for", () =>
    Effect.gen(function* () {
      yield* signal({ _tag: "BreakerState", breaker: "payment", state: "open" })
      expect(yield* level).toBe(2)
      yield* signal({ _tag: "Latency", source: "checkout", p99Ms: 1_200 })
      expect(yield* level).toBe(2)
      yield* signal({ _tag: "PoolSaturation", pool: "postgres", utilizationPercent: 91 })
      expect(yield* level).toBe(3)
      yield* signal({ _tag: "BreakerState", breaker: "inventory", state: "halfOpen" })
      expect(yield* level).toBe(4)
      expect(yield* shedNow).toEqual([true, true, true, true])
      // Recovery lowers each source's part only.
      yield* signal({ _tag: "BreakerState", breaker: "inventory", state: "closed" })
      yield* signal({ _tag: "PoolSaturation", pool: "postgres", utilizationPercent: 40 })
      expect(yield* level).toBe(2)
      yield* signal({ _tag: "BreakerState", breaker: "payment", state: "closed" })
      expect(yield* level).toBe(1) // the latency is still high
      yield* signal({ _tag: "Latency", source: "checkout", p99Ms: 300 })
      expect(yield* level).toBe(0)
      // A breaker with no level configured asks for nothing.
      yield* signal({ _tag: "BreakerState", breaker: "analytics", state: "open" })
      expect(yield* level).toBe(0)
    }).pipe(Effect.provide(Degradation.layer))
  )

  it.effect("latency and pool saturation thresholds map to levels 1..4", () =>
    Effect.gen(function* () {
      const levels: Array<number> = []
      for (const p99Ms of [999, 1_000, 2_000, 4_000, 8_000, 60_000]) {
        yield* signal({ _tag: "Latency", source: "checkout", p99Ms })
        levels.push(yield* level)
      }
      expect(levels).toEqual([0, 1, 2, 3, 4, 4])
      yield* signal({ _tag: "Latency", source: "checkout", p99Ms: 0 })
      const pool: Array<number> = []
      for (const utilizationPercent of [69, 70, 80, 90, 97, 100]) {
        yield* signal({ _tag: "PoolSaturation", pool: "postgres", utilizationPercent })
        pool.push(yield* level)
      }
      expect(pool).toEqual([0, 1, 2, 3, 4, 4])
    }).pipe(Effect.provide(Degradation.layer))
  )

  it.effect("an operator pins the level, up or down, and hands back control", () =>
    Effect.gen(function* () {
      const degradation = yield* Degradation.Degradation
      yield* signal({ _tag: "BreakerState", breaker: "shipping", state: "open" })
      expect(yield* level).toBe(3)
      yield* degradation.setOperatorLevel(1) // e.g. holding through a flapping alarm
      expect(yield* level).toBe(1)
      expect(yield* degradation.automaticLevel).toBe(3)
      expect(yield* degradation.operatorLevel).toEqual(Option.some(1))
      yield* degradation.setOperatorLevel(4)
      expect(yield* shedNow).toEqual([true, true, true, true])
      yield* degradation.setOperatorLevel(undefined)
      expect(yield* level).toBe(3)
      expect(yield* degradation.operatorLevel).toEqual(Option.none())
      const invalid = yield* Effect.exit(degradation.setOperatorLevel(5 as Degradation.Level))
      expect(invalid._tag).toBe("Failure")
    }).pipe(Effect.provide(Degradation.layer))
  )

  it.effect("the level is published as a gauge", () =>
    Effect.gen(function* () {
      const degradation = yield* Degradation.Degradation
      expect(yield* gauge).toBe(0)
      yield* signal({ _tag: "BreakerState", breaker: "payment", state: "open" })
      expect(yield* gauge).toBe(2)
      yield* degradation.setOperatorLevel(4)
      expect(yield* gauge).toBe(4)
      yield* degradation.setOperatorLevel(undefined)
      yield* signal({ _tag: "BreakerState", breaker: "payment", state: "closed" })
      expect(yield* gauge).toBe(0)
    }).pipe(Effect.provide(Degradation.layer))
  )

  it.effect("follows breaker transitions", () =>
    Effect.gen(function* () {
      const breaker = yield* CircuitBreaker.make({
        ...CircuitBreaker.defaultSettings,
        name: "orderCreation",
        slidingWindowSize: 2,
        minimumNumberOfCalls: 2,
        waitDurationInOpenStateMs: 1_000,
        permittedNumberOfCallsInHalfOpenState: 1
      })
      // Subscribed before the first call, so no transition can be missed.
      const transitions = Stream.fromSubscription(yield* breaker.subscribe)
      const follower = yield* Effect.forkChild(Degradation.followBreakers(transitions))
      const settled = (expected: number) =>
        Effect.gen(function* () {
          for (let i = 0; i < 100 && (yield* level) !== expected; i++) yield* Effect.yieldNow
          return yield* level
        })
      const fail = Effect.exit(breaker.execute(Effect.fail(new GatewayUnavailable({ reason: "503" }))))
      yield* fail
      yield* fail
      expect(yield* settled(4)).toBe(4) // no order can be placed: say so at once
      yield* TestClock.adjust(1_000)
      yield* breaker.execute(Effect.void)
      expect(yield* settled(0)).toBe(0)
      yield* Fiber.interrupt(follower)
    }).pipe(Effect.provide(Degradation.layer))
  )

  it.effect("tracks a bounded number of sources", () =>
    Effect.gen(function* () {
      const degradation = yield* Degradation.make({ ...Degradation.defaults, maxSources: 2 })
      yield* degradation.signal({ _tag: "PoolSaturation", pool: "a", utilizationPercent: 75 })
      yield* degradation.signal({ _tag: "PoolSaturation", pool: "b", utilizationPercent: 85 })
      yield* degradation.signal({ _tag: "PoolSaturation", pool: "c", utilizationPercent: 99 })
      expect(yield* degradation.level).toBe(2) // c was ignored (and logged)
      yield* degradation.signal({ _tag: "PoolSaturation", pool: "a", utilizationPercent: 0 })
      yield* degradation.signal({ _tag: "PoolSaturation", pool: "c", utilizationPercent: 99 })
      expect(yield* degradation.level).toBe(4)
    })
  )

  it.effect("settings come from Config, breaker levels merged into the defaults", () =>
    Effect.gen(function* () {
      yield* signal({ _tag: "Latency", source: "checkout", p99Ms: 600 })
      expect(yield* level).toBe(1)
      yield* signal({ _tag: "BreakerState", breaker: "payment", state: "open" })
      expect(yield* level).toBe(3)
      yield* signal({ _tag: "BreakerState", breaker: "inventory", state: "open" })
      expect(yield* level).toBe(4)
      yield* Effect.flatMap(Degradation.Degradation, (d) => d.setOperatorLevel(1))
      expect(
        yield* Effect.result(Effect.flatMap(Degradation.Degradation, (d) => d.guard("orderHistory")))
      ).toEqual(Result.fail(new FeatureShed({ feature: "orderHistory", retryAfterSeconds: 60 })))
    }).pipe(
      Effect.provide(
        Degradation.layerConfig().pipe(
          Layer.provide(
            ConfigProvider.layer(
              ConfigProvider.fromUnknown({
                degradation: {
                  retryAfterSeconds: 60,
                  latencyP99MsThresholds: [500, 1_000, 2_000, 4_000],
                  breakerOpenLevels: { payment: 3 }
                }
              })
            )
          )
        )
      )
    )
  )
})
