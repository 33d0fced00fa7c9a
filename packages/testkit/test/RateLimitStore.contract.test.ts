import { describe, expect, it } from "@effect/vitest"
import { InMemoryRateLimitStore } from "@till/testkit"
import { rateLimitStoreContract } from "@till/testkit/contracts"
import { Effect } from "effect"

rateLimitStoreContract("in-memory", InMemoryRateLimitStore.layer)

const request = (key: string, nowMs: number) => ({ key, limit: 10, windowMs: 60_000, cost: 1, nowMs })

describe("InMemoryRateLimitStore", () => {
  it.effect("a full store purges idle keys before refusing a new one", () =>
    Effect.gen(function* () {
      const store = yield* InMemoryRateLimitStore.make({ maxKeys: 1 })
      expect((yield* store.acquire(request("a", 0))).allowed).toBe(true)
      expect((yield* Effect.flip(store.acquire(request("b", 59_999))))._tag).toBe("StoreUnavailable")
      expect((yield* store.acquire(request("b", 60_000))).allowed).toBe(true)
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
})
