import { describe, expect, it } from "@effect/vitest"
import { FakePaymentGateway, TestTill } from "@till/testkit"
import { Effect, Schema, Tracer } from "effect"
import { Address } from "../src/Address.js"
import { Carts } from "../src/Carts.js"
import { Checkout, CheckoutRequest } from "../src/Checkout.js"
import { Payments } from "../src/Payments.js"
import * as Sku from "../src/Sku.js"

/** A tracer that records the name of every span opened under it. */
const recording = () => {
  const names: Array<string> = []
  const tracer = Tracer.make({
    span: (options) => {
      names.push(options.name)
      return new Tracer.NativeSpan(options)
    }
  })
  return { names, tracer }
}

const address = Schema.decodeUnknownSync(Address)({
  name: "Ada Lovelace",
  line1: "12 St James's Square",
  city: "London",
  postal_code: "SW1Y 4JH",
  country: "GB"
})

/** One shopper's journey: a cart, an item, a card, a checkout. */
const journey = Effect.gen(function* () {
  yield* TestTill.stock("mug", "Till mug", 1_500, 10)
  const carts = yield* Carts
  const cart = yield* carts.create("alice")
  yield* carts.addItem("alice", cart.cart_id, Sku.make("mug"), 2)
  const method = yield* (yield* Payments).tokenize(FakePaymentGateway.card(FakePaymentGateway.successCard))
  return yield* (yield* Checkout).place({
    userId: "alice",
    idempotencyKey: "key-1",
    request: new CheckoutRequest({
      cart_id: cart.cart_id,
      shipping_address: address,
      payment_method_id: method.payment_method_id
    })
  })
})

describe("spans", () => {
  it.effect("a checkout opens one span per service call, named Module.function", () =>
    Effect.gen(function* () {
      const { names, tracer } = recording()
      const placed = yield* journey.pipe(Effect.withTracer(tracer))
      expect(placed.status).toBe(201)
      expect(names).toEqual(
        expect.arrayContaining([
          "Carts.create",
          "Carts.addItem",
          "Payments.tokenize",
          "Checkout.place",
          "Idempotency.run",
          "Pricing.quote",
          "Carts.claim",
          "Payments.charge"
        ])
      )
    }).pipe(Effect.provide(TestTill.layer({ seed: 1 })))
  )

  it.effect("none reaches the tracer when it is disabled", () =>
    Effect.gen(function* () {
      const { names, tracer } = recording()
      const placed = yield* journey.pipe(Effect.withTracer(tracer), Effect.withTracerEnabled(false))
      expect(placed.status).toBe(201)
      expect(names).toEqual([])
    }).pipe(Effect.provide(TestTill.layer({ seed: 1 })))
  )
})
