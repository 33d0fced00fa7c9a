import { describe, expect, it } from "@effect/vitest"
import { Cart, Money } from "@till/core"
import { InMemoryCartStore } from "@till/testkit"
import { cartStoreContract } from "@till/testkit/contracts"
import { Effect, Option } from "effect"
import { TestClock } from "effect/testing"

cartStoreContract("in-memory", InMemoryCartStore.layer, { supportsTestClock: true })

describe("InMemoryCartStore limits", () => {
  it.effect("a full store purges expired carts before refusing a new one", () =>
    Effect.gen(function* () {
      const store = yield* InMemoryCartStore.make({ maxCarts: 2 })
      const cart = (id: string) => Cart.empty(id, "user_1", Money.currency("USD"), "2030-01-01T00:00:00.000Z")
      yield* store.insert(cart("a"), 1_000)
      yield* store.insert(cart("b"), 5_000)
      expect((yield* Effect.flip(store.insert(cart("c"), 1_000)))._tag).toBe("StoreUnavailable")
      // An update of a live cart is never refused.
      expect(Option.isSome(yield* store.update(cart("b"), 1, 5_000))).toBe(true)
      yield* TestClock.adjust("1 second")
      expect(yield* store.insert(cart("c"), 1_000)).toBe(true)
      expect(Option.isSome(yield* store.get("c"))).toBe(true)
    })
  )
})
