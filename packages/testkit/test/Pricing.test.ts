import { describe, expect, it } from "@effect/vitest"
import { Carts, Pricing, Sku } from "@till/core"
import { Effect, Fiber } from "effect"
import { TestClock } from "effect/testing"
import { InMemoryShippingQuoter, TestTill } from "@till/testkit"
import { address } from "./fixtures.js"

describe("Pricing", () => {
  it.effect("subtotal from catalog prices, tax, live shipping; total is their sum", () =>
    Effect.gen(function* () {
      yield* TestTill.stock("mug", "Till mug", 1_500, 10)
      const carts = yield* Carts.Carts
      const cart = yield* carts.create("u")
      const filled = yield* carts.addItem("u", cart.cart_id, Sku.make("mug"), 3)
      const quote = yield* Effect.flatMap(Pricing.Pricing, (p) => p.quote(filled, address))
      expect(quote.subtotal.amount).toBe(4_500)
      expect(quote.shipping.amount).toBe(599)
      expect(quote.total.amount).toBe(quote.subtotal.amount + quote.tax.amount + quote.shipping.amount)
    }).pipe(Effect.provide(TestTill.layer({ seed: 60 })))
  )

  it.effect(
    "falls back to the default shipping cost when live quotes are down (after the policy's retries)",
    () =>
      Effect.gen(function* () {
        yield* TestTill.stock("mug", "Till mug", 1_500, 10)
        const carts = yield* Carts.Carts
        const cart = yield* carts.create("u")
        const filled = yield* carts.addItem("u", cart.cart_id, Sku.make("mug"), 1)
        const quoter = yield* InMemoryShippingQuoter.Control
        yield* quoter.setUnavailable(true)
        const fiber = yield* Effect.forkChild(
          Effect.flatMap(Pricing.Pricing, (p) => p.quote(filled, address))
        )
        yield* TestClock.adjust("5 seconds")
        const quote = yield* Fiber.join(fiber)
        expect(quote.shipping.amount).toBe(Pricing.defaults.defaultShippingMinor)
        expect(yield* quoter.quoteCount).toBe(3) // 1 try + 2 retries (500 ms, 1 s)
      }).pipe(Effect.provide(TestTill.layer({ seed: 61 })))
  )
})
