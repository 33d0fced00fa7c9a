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
      yield* store.put(cart("a"), 1_000)
      yield* store.put(cart("b"), 5_000)
      expect((yield* Effect.flip(store.put(cart("c"), 1_000)))._tag).toBe("StoreUnavailable")
      yield* store.put(cart("b"), 5_000) // a rewrite of a live cart is never refused
      yield* TestClock.adjust("1 second")
      yield* store.put(cart("c"), 1_000)
      expect(Option.isSome(yield* store.get("c"))).toBe(true)
    })
  )
})
