/**
 * A cart claimed by an order that was never made: the checkout's claim landed, its order
 * creation failed, and the client gave up instead of retrying with the same key (a reload mints a
 * new one). Before, every later checkout of the cart answered 409 naming an order that did not
 * exist, for good. Now a checkout takes such a claim back once it is `abandonedClaimMs` old,
 * after refusing the never-made order's id for good, so its creation cannot land later.
 */
import { describe, expect, it } from "@effect/vitest"
import { Carts, Checkout, OrderStore } from "@till/core"
import { FakePaymentGateway, TestTill } from "@till/testkit"
import { Effect, Option } from "effect"
import { TestClock } from "effect/testing"
import { cartWith, place } from "./fixtures.js"

const neverMade = "ord_never_made"

/** Carol's cart, claimed for an order whose creation never happened. */
const strandedCart = Effect.gen(function* () {
  yield* TestTill.stock("mug", "Till mug", 1_500, 5)
  const { cartId, paymentMethodId } = yield* cartWith("carol", [["mug", 1]])
  const carts = yield* Carts.Carts
  expect(yield* carts.claim(yield* carts.get("carol", cartId), neverMade)).toBe("claimed")
  return { cartId, paymentMethodId }
})

describe("a cart claimed by an order never made", () => {
  it.effect("is taken back by a checkout once the claim is abandonedClaimMs old: one order, one charge", () =>
    Effect.gen(function* () {
      const { cartId, paymentMethodId } = yield* strandedCart
      // Young: the first request may still be creating its order. 409, naming it.
      const early = yield* Effect.flip(place("carol", "key-2", cartId, paymentMethodId))
      expect(early).toMatchObject({ _tag: "CartNotActive", orderId: neverMade })
      yield* TestClock.adjust(Checkout.defaults.abandonedClaimMs)
      const placed = yield* place("carol", "key-3", cartId, paymentMethodId)
      expect(placed.status).toBe(201)
      expect(placed.order.cart_id).toBe(cartId)
      const cart = yield* (yield* Carts.Carts).get("carol", cartId)
      expect(cart).toMatchObject({ status: "checked_out", order_id: placed.order.order_id })
      // The never-made id is refused for good: its creation, landing now, would make no order.
      expect(Option.isNone(yield* (yield* OrderStore.OrderStore).refuseUnmade(neverMade))).toBe(true)
      const gateway = yield* FakePaymentGateway.Inspector
      expect(yield* gateway.chargesFor(placed.order.order_id)).toHaveLength(1)
    }).pipe(Effect.provide(TestTill.layer({ seed: 7 })))
  )

  it.effect("a claim whose order exists is never taken back, however old", () =>
    Effect.gen(function* () {
      yield* TestTill.stock("mug", "Till mug", 1_500, 5)
      const { cartId, paymentMethodId } = yield* cartWith("dave", [["mug", 1]])
      const placed = yield* place("dave", "key-1", cartId, paymentMethodId)
      yield* TestClock.adjust(24 * 3_600_000)
      const again = yield* Effect.flip(place("dave", "key-2", cartId, paymentMethodId))
      expect(again).toMatchObject({ _tag: "CartNotActive", orderId: placed.order.order_id })
      const order = yield* (yield* Checkout.Checkout).getOrder("dave", placed.order.order_id)
      expect(order.status).toBe("confirmed")
    }).pipe(Effect.provide(TestTill.layer({ seed: 8 })))
  )
})
