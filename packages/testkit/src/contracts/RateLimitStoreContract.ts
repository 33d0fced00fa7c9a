/**
 * The RateLimitStore contract: what every RateLimitStore (in memory, Redis) must do. Register it
 * from an implementation's test file: `rateLimitStoreContract("redis", RedisRateLimitStore.layer)`.
 * The store is built once and shared by every case, as a real Redis would be; every case uses
 * fresh keys. Time is the request's `nowMs`, so no case needs a clock of its own.
 */
import { expect, layer } from "@effect/vitest"
import { RateLimitStore } from "@till/core"
import { Cause, Effect, Exit, type Layer } from "effect"
import { uniqueId } from "../internal/contract.js"

const minuteMs = 60_000
const t0 = 1_700_000_000_000

export const rateLimitStoreContract = (
  name: string,
  storeLayer: Layer.Layer<RateLimitStore.RateLimitStore, unknown>
): void => {
  layer(storeLayer)(`RateLimitStore contract: ${name}`, (it) => {
    const acquire = (key: string, nowMs: number, limit = 3, cost = 1, windowMs = minuteMs) =>
      Effect.flatMap(RateLimitStore.RateLimitStore, (store) =>
        store.acquire({ key, limit, windowMs, cost, nowMs })
      )

    it.effect("admits up to the limit, counting down what remains, then refuses", () =>
      Effect.gen(function* () {
        const key = yield* uniqueId("rl")
        expect(yield* acquire(key, t0)).toEqual({ allowed: true, remaining: 2, retryAfterMs: 0 })
        expect(yield* acquire(key, t0 + 1)).toEqual({ allowed: true, remaining: 1, retryAfterMs: 0 })
        expect(yield* acquire(key, t0 + 2)).toEqual({ allowed: true, remaining: 0, retryAfterMs: 0 })
        expect(yield* acquire(key, t0 + 3)).toEqual({
          allowed: false,
          remaining: 0,
          retryAfterMs: minuteMs - 3
        })
      })
    )

    it.effect("1,000 concurrent requests admit exactly the limit", () =>
      Effect.gen(function* () {
        const key = yield* uniqueId("rl")
        const decisions = yield* Effect.all(
          Array.from({ length: 1_000 }, () => acquire(key, t0, 10)),
          { concurrency: "unbounded" }
        )
        expect(decisions.filter((d) => d.allowed)).toHaveLength(10)
        expect(new Set(decisions.filter((d) => d.allowed).map((d) => d.remaining))).toEqual(
          new Set([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
        )
        expect(decisions.filter((d) => !d.allowed).every((d) => d.retryAfterMs === minuteMs)).toBe(true)
      })
    )

    it.effect("retryAfterMs is when the oldest unit leaves the window, and then it is admitted", () =>
      Effect.gen(function* () {
        const key = yield* uniqueId("rl")
        yield* acquire(key, t0)
        yield* acquire(key, t0 + 10_000)
        yield* acquire(key, t0 + 20_000)
        expect(yield* acquire(key, t0 + 30_000)).toEqual({
          allowed: false,
          remaining: 0,
          retryAfterMs: 30_000
        })
        expect(yield* acquire(key, t0 + minuteMs - 1)).toMatchObject({ allowed: false, retryAfterMs: 1 })
        expect(yield* acquire(key, t0 + minuteMs)).toEqual({ allowed: true, remaining: 0, retryAfterMs: 0 })
        // Next free slot: when the unit of t0 + 10 s leaves.
        expect(yield* acquire(key, t0 + minuteMs + 1)).toMatchObject({ allowed: false, retryAfterMs: 9_999 })
      })
    )

    it.effect("the window slides: no burst of twice the limit across a minute boundary", () =>
      Effect.gen(function* () {
        const key = yield* uniqueId("rl")
        expect((yield* acquire(key, t0 + 50_000, 2)).allowed).toBe(true)
        expect((yield* acquire(key, t0 + 59_000, 2)).allowed).toBe(true)
        // A fixed one-minute window would start afresh at t0 + 60 s.
        expect(yield* acquire(key, t0 + 61_000, 2)).toEqual({
          allowed: false,
          remaining: 0,
          retryAfterMs: 49_000
        })
        expect((yield* acquire(key, t0 + 110_000, 2)).allowed).toBe(true)
        expect((yield* acquire(key, t0 + 110_000, 2)).allowed).toBe(false)
      })
    )

    it.effect(
      "a request carrying an earlier time than one already decided still counts every unit of its window",
      () =>
        Effect.gen(function* () {
          // A slow call, or a caller whose clock is behind, reaches the store after a later one.
          const key = yield* uniqueId("rl")
          for (let i = 0; i < 3; i++) expect((yield* acquire(key, t0 + i)).allowed).toBe(true)
          // Its window, (t0 + 1 s, t0 + 61 s], holds one of the three.
          expect((yield* acquire(key, t0 + minuteMs + 1_000)).allowed).toBe(true)
          // This one's window, (t0 - 1, t0 + 59.999 s], already holds the three: a fourth would be
          // 4 units in one minute. It is free once the second of them leaves, 2 ms later.
          expect(yield* acquire(key, t0 + minuteMs - 1)).toEqual({
            allowed: false,
            remaining: 0,
            retryAfterMs: 2
          })
          expect((yield* acquire(key, t0 + minuteMs + 1)).allowed).toBe(true)
        })
    )

    it.effect("refused requests are not counted; a whole window later the full limit is back", () =>
      Effect.gen(function* () {
        const key = yield* uniqueId("rl")
        for (let i = 0; i < 3; i++) yield* acquire(key, t0)
        for (let i = 0; i < 50; i++) expect((yield* acquire(key, t0 + 1_000 + i)).allowed).toBe(false)
        const refill = yield* Effect.all(Array.from({ length: 4 }, () => acquire(key, t0 + minuteMs)))
        expect(refill.map((d) => d.allowed)).toEqual([true, true, true, false])
      })
    )

    it.effect("a cost takes that many units, and waits for as many to leave", () =>
      Effect.gen(function* () {
        const key = yield* uniqueId("rl")
        expect(yield* acquire(key, t0, 5, 3)).toEqual({ allowed: true, remaining: 2, retryAfterMs: 0 })
        expect(yield* acquire(key, t0 + 1_000, 5, 1)).toEqual({
          allowed: true,
          remaining: 1,
          retryAfterMs: 0
        })
        // 4 used, 3 wanted: 2 must leave, and the second oldest is one of t0's.
        expect(yield* acquire(key, t0 + 2_000, 5, 3)).toEqual({
          allowed: false,
          remaining: 1,
          retryAfterMs: 58_000
        })
        expect(yield* acquire(key, t0 + 2_000, 5, 1)).toEqual({
          allowed: true,
          remaining: 0,
          retryAfterMs: 0
        })
      })
    )

    it.effect("keys are independent", () =>
      Effect.gen(function* () {
        const a = yield* uniqueId("rl")
        const b = yield* uniqueId("rl")
        for (let i = 0; i < 3; i++) yield* acquire(a, t0)
        expect((yield* acquire(a, t0)).allowed).toBe(false)
        expect(yield* acquire(b, t0)).toEqual({ allowed: true, remaining: 2, retryAfterMs: 0 })
      })
    )

    it.effect("a request breaking the preconditions is a defect", () =>
      Effect.gen(function* () {
        const key = yield* uniqueId("rl")
        for (const [limit, cost] of [
          [3, 0],
          [3, 4],
          [0, 1],
          [2.5, 1]
        ] as const) {
          const exit = yield* Effect.exit(acquire(key, t0, limit, cost))
          expect(Exit.isFailure(exit) && Cause.hasDies(exit.cause)).toBe(true)
        }
      })
    )
  })
}
