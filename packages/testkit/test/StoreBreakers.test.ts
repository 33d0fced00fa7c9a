/**
 * Each of Till's stores has its own breaker under the `store` policy: carts (Redis in production)
 * failing open the carts' breaker only, so orders, idempotency keys and the retry queue
 * (Postgres) keep answering, and stay answering after the carts come back. Found by
 * `till simulate --faults redis-down`: with one breaker shared by every store, a cache outage
 * opened it for the orders too, and an order read answered 503 for 30 s after Redis was back.
 */
import { describe, expect, it } from "@effect/vitest"
import { CartStore, Carts, Checkout, Errors, Resilience } from "@till/core"
import { InMemoryCartStore, TestTill } from "@till/testkit"
import { Effect, Layer } from "effect"
import { cartWith, place } from "./fixtures.js"

/** The in-memory cart store, failing every call while `down.now` (as the Redis one does, disconnected). */
const down = { now: false }
const flakyCarts = Layer.effect(
  CartStore.CartStore,
  Effect.map(InMemoryCartStore.make(), (carts) =>
    CartStore.CartStore.of(
      Object.fromEntries(
        Object.entries(carts).map(([name, method]) => [
          name,
          (...args: ReadonlyArray<unknown>) =>
            down.now
              ? Effect.fail(new Errors.StoreUnavailable({ store: "cart", reason: "connection refused" }))
              : (method as (...a: ReadonlyArray<unknown>) => unknown)(...args)
        ])
      ) as unknown as CartStore.CartStore["Service"]
    )
  )
)

describe("a breaker per store", () => {
  it.effect(
    "carts failing open the carts' breaker only: an order still reads, checkouts of others' stores go on",
    () =>
      Effect.gen(function* () {
        yield* TestTill.stock("mug", "Till mug", 1_500, 10)
        const { cartId, paymentMethodId } = yield* cartWith("u", [["mug", 1]])
        const placed = yield* place("u", "k1", cartId, paymentMethodId)
        down.now = true
        const carts = yield* Carts.Carts
        for (let i = 0; i < 40; i++) yield* Effect.exit(carts.create("someone"))
        // The order store never failed: the order reads as ever.
        const checkout = yield* Checkout.Checkout
        expect((yield* checkout.getOrder("u", placed.order.order_id)).status).toBe("confirmed")
        const resilience = yield* Resilience.Resilience
        expect(yield* resilience.storeBreaker("cart").state).toBe("open")
        expect(yield* resilience.storeBreaker("order").state).toBe("closed")
        down.now = false
      }).pipe(Effect.provide(TestTill.layer({ seed: 51, cartStore: flakyCarts })))
  )
})
