import { describe, expect, it } from "@effect/vitest"
import { InMemoryDeadLetterStore } from "@till/testkit"
import { deadLetterStoreContract } from "@till/testkit/contracts"
import { Effect } from "effect"

deadLetterStoreContract("in-memory", InMemoryDeadLetterStore.layer)

describe("InMemoryDeadLetterStore limits", () => {
  it.effect("a full store refuses a new order's letter but replaces a stored one", () =>
    Effect.gen(function* () {
      const store = yield* InMemoryDeadLetterStore.make({ maxLetters: 1 })
      yield* store.put({ orderId: "a", attempts: 1, lastError: "e", failedAt: 0 })
      expect(
        (yield* Effect.flip(store.put({ orderId: "b", attempts: 1, lastError: "e", failedAt: 0 })))._tag
      ).toBe("StoreUnavailable")
      yield* store.put({ orderId: "a", attempts: 2, lastError: "later", failedAt: 1 })
      expect(yield* store.list(10)).toEqual([{ orderId: "a", attempts: 2, lastError: "later", failedAt: 1 }])
    })
  )
})
