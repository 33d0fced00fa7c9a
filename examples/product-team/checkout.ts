import { Address, Carts, Checkout, Order, PaymentMethod, Payments, Sku, Till } from "@till/core"
import { FakePaymentGateway, TestTill } from "@till/testkit"
import { Effect, Layer, Redacted, Schema } from "effect"

// Every core service (Till.layer) and the background jobs (Till.layerJobs: retry drainer, recovery,
// outbox relay) over the ports. Here the testkit's in-memory ports; in production the adapters'.
export const TillLive = Till.layerJobs.pipe(
  Layer.provideMerge(Till.layer),
  Layer.provideMerge(TestTill.ports({ seed: 1 }))
)

export const program = Effect.gen(function* () {
  yield* TestTill.stock("mug", "Till mug", 1_500, 10) // 15.00 USD, 10 in stock
  const carts = yield* Carts.Carts
  const cart = yield* carts.create("alice")
  yield* carts.addItem("alice", cart.cart_id, Sku.make("mug"), 2)
  const card = new PaymentMethod.CardInput({
    number: Redacted.make(FakePaymentGateway.successCard),
    exp_month: 12,
    exp_year: 2030,
    cvc: Redacted.make("123")
  })
  const method = yield* (yield* Payments.Payments).tokenize(card)
  const shipping_address = Schema.decodeUnknownSync(Address.Address)({
    name: "Ada Lovelace",
    line1: "12 St James's Square",
    city: "London",
    postal_code: "SW1Y 4JH",
    country: "GB"
  })
  const request = new Checkout.CheckoutRequest({
    cart_id: cart.cart_id,
    shipping_address,
    payment_method_id: method.payment_method_id
  })
  const placed = yield* (yield* Checkout.Checkout).place({
    userId: "alice",
    idempotencyKey: "order-1",
    request
  })
  return { status: placed.status, order: Order.toJson(placed.order) } // API.md's order JSON
}).pipe(Effect.provide(TillLive))

if (import.meta.url === `file://${process.argv[1]}`) {
  Effect.runPromise(program).then(({ status, order }) => console.log(status, order.status, order.total))
}
