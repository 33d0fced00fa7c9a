/** The README's first example, as written there (keep the two in step). */
import { it } from "@effect/vitest"
import { Address, Carts, Checkout, PaymentMethod, Payments, Sku } from "@till/core"
import { FakePaymentGateway, TestTill } from "@till/testkit"
import { Effect, Fiber, Redacted, Schema } from "effect"
import { TestClock } from "effect/testing"
import { expect } from "vitest"

const program = Effect.gen(function* () {
  yield* TestTill.stock("mug", "Till mug", 1_500, 10)
  const cart = yield* (yield* Carts.Carts).create("alice")
  yield* (yield* Carts.Carts).addItem("alice", cart.cart_id, Sku.make("mug"), 1)
  const card = new PaymentMethod.CardInput({
    number: Redacted.make("4242424242424242"),
    exp_month: 1,
    exp_year: 2030,
    cvc: Redacted.make("123")
  })
  const method = yield* (yield* Payments.Payments).tokenize(card)
  yield* (yield* FakePaymentGateway.Control).unavailableBetween(0, 30_000) // a 503 storm for 30 s
  const shipping_address = Schema.decodeUnknownSync(Address.Address)({
    name: "A",
    line1: "1 Main St",
    city: "X",
    postal_code: "1",
    country: "US"
  })
  const request = new Checkout.CheckoutRequest({
    cart_id: cart.cart_id,
    shipping_address,
    payment_method_id: method.payment_method_id
  })
  const placing = yield* Effect.forkChild(
    (yield* Checkout.Checkout).place({ userId: "alice", idempotencyKey: "k1", request })
  )
  yield* TestClock.adjust("10 seconds") // the payment policy's retries run on the test clock
  return yield* Fiber.join(placing)
}).pipe(Effect.provide(TestTill.layer({ seed: 7 })), Effect.provide(TestClock.layer()))

it.effect("the README's example answers 202 payment_pending during a gateway outage", () =>
  Effect.gen(function* () {
    const { status, order } = yield* Effect.promise(() => Effect.runPromise(program))
    expect([status, order.status]).toEqual([202, "payment_pending"])
  })
)
