import { describe, expect, it } from "@effect/vitest"
import { InMemoryRateLimitStore } from "@till/testkit"
import { rateLimitStoreContract } from "@till/testkit/contracts"
import { Arbitrary, Effect, Schema } from "effect"

rateLimitStoreContract("in-memory", InMemoryRateLimitStore.layer)

const request = (key: string, nowMs: number) => ({ key, limit: 10, windowMs: 60_000, cost: 1, nowMs })

const integer = (minimum: number, maximum: number) =>
  Arbitrary.schema(Schema.Int.check(Schema.isBetween({ minimum, maximum })))

describe("InMemoryRateLimitStore", () => {
  it.effect(
    "a full store purges idle keys (none of their units kept any longer) before refusing a new one",
    () =>
      Effect.gen(function* () {
        const store = yield* InMemoryRateLimitStore.make({ maxKeys: 1 })
        expect((yield* store.acquire(request("a", 0))).allowed).toBe(true)
        // A unit is kept a window past its own (RateLimitStore.retainedAfter).
        expect((yield* Effect.flip(store.acquire(request("b", 119_999))))._tag).toBe("StoreUnavailable")
        expect((yield* store.acquire(request("b", 120_000))).allowed).toBe(true)
      })
  )

  it.effect("PLANTED BUG: the GET-then-SET store over-admits under concurrency", () =>
    Effect.gen(function* () {
      const store = yield* InMemoryRateLimitStore.makeGetThenSet()
      const decisions = yield* Effect.all(
        Array.from({ length: 1_000 }, () => store.acquire(request("user", 0))),
        { concurrency: "unbounded" }
      )
      // Every request read the count before any wrote it back: all 1,000 get in, not 10.
      expect(decisions.filter((d) => d.allowed).length).toBeGreaterThan(10)
      expect(decisions.filter((d) => d.allowed)).toHaveLength(1_000)
      // One at a time it does limit: the bug is the race, not the arithmetic.
      const sequential = yield* InMemoryRateLimitStore.makeGetThenSet()
      const oneByOne = yield* Effect.all(
        Array.from({ length: 20 }, () => sequential.acquire(request("user", 0)))
      )
      expect(oneByOne.filter((d) => d.allowed)).toHaveLength(10)
    })
  )

  it.effect.prop(
    "agrees with a recount of the admitted units of the last window (property)",
    {
      limit: integer(1, 8),
      steps: Arbitrary.array(Arbitrary.all([integer(0, 30_000), integer(1, 8)]), { maxLength: 100 })
    },
    ({ limit, steps }) =>
      Effect.gen(function* () {
        const windowMs = 60_000
        const store = yield* InMemoryRateLimitStore.make()
        const admitted: Array<number> = [] // one time per unit
        let nowMs = 0
        for (const [advanceMs, rawCost] of steps) {
          nowMs += advanceMs
          const cost = Math.min(rawCost, limit)
          const inWindow = admitted.filter((t) => t > nowMs - windowMs).sort((a, b) => a - b)
          const allowed = inWindow.length + cost <= limit
          const expected = allowed
            ? { allowed, remaining: limit - inWindow.length - cost, retryAfterMs: 0 }
            : {
                allowed,
                remaining: limit - inWindow.length,
                retryAfterMs: inWindow[inWindow.length + cost - limit - 1]! + windowMs - nowMs
              }
          if (allowed) for (let i = 0; i < cost; i++) admitted.push(nowMs)
          expect(yield* store.acquire({ key: "k", limit, windowMs, cost, nowMs })).toEqual(expected)
        }
      }),
    { arbitrary: { size: 100 } } // arrays grow up to the run's size, 10 by default
  )

  it.effect.prop(
    "requests arriving out of time order never put more than the limit in any window (property)",
    {
      limit: integer(1, 8),
      // Each request's time: up to half a window before or after the latest time seen so far.
      steps: Arbitrary.array(Arbitrary.all([integer(-30_000, 30_000), integer(1, 8)]), { maxLength: 100 })
    },
    ({ limit, steps }) =>
      Effect.gen(function* () {
        const windowMs = 60_000
        const store = yield* InMemoryRateLimitStore.make()
        const admitted: Array<number> = [] // one time per unit
        let latestMs = 100_000
        for (const [offsetMs, rawCost] of steps) {
          const nowMs = latestMs + offsetMs
          latestMs = Math.max(latestMs, nowMs)
          const cost = Math.min(rawCost, limit)
          if ((yield* store.acquire({ key: "k", limit, windowMs, cost, nowMs })).allowed)
            for (let i = 0; i < cost; i++) admitted.push(nowMs)
        }
        // Independent of the store: the busiest window (t - windowMs, t] ending at any unit.
        const sorted = [...admitted].sort((a, b) => a - b)
        for (const end of sorted) {
          expect(sorted.filter((t) => t > end - windowMs && t <= end).length).toBeLessThanOrEqual(limit)
        }
      }),
    { arbitrary: { size: 100 } }
  )
})
