import { describe, expect, it } from "@effect/vitest"
import { InMemoryIdempotencyStore } from "@till/testkit"
import { idempotencyStoreContract } from "@till/testkit/contracts"
import { Effect } from "effect"

idempotencyStoreContract("in-memory", InMemoryIdempotencyStore.layer)

describe("InMemoryIdempotencyStore limits", () => {
  it.effect("a full store purges expired records before refusing a new key", () =>
    Effect.gen(function* () {
      const store = yield* InMemoryIdempotencyStore.make({ maxRecords: 1 })
      const request = (key: string, nowMs: number) => ({
        scope: "u",
        key,
        fingerprint: "f",
        resourceId: `r-${key}`,
        nowMs,
        leaseMs: 10,
        ttlMs: 100
      })
      expect((yield* store.claim(request("a", 0)))._tag).toBe("Claimed")
      expect((yield* Effect.flip(store.claim(request("b", 50))))._tag).toBe("StoreUnavailable")
      expect((yield* store.claim(request("b", 100)))._tag).toBe("Claimed")
    })
  )
})
