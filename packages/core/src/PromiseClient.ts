/**
 * Till for code that is not written with Effect: the same services behind plain Promises, with
 * plain-data inputs (typed: no `unknown`) and API.md's JSON answers (`Order.toJson`).
 *
 * ```ts
 * import { PromiseClient } from "@till/core"
 * import { FakePaymentGateway, TestTill } from "@till/testkit"
 *
 * const till = PromiseClient.make(TestTill.layer()) // or Till.layer over your production ports
 * await till.runtime.runPromise(TestTill.stock("mug", "Till mug", 1_500, 10))
 * const cart = await till.carts.create("alice")
 * await till.carts.addItem("alice", cart.cart_id, "mug", 2)
 * const card = await till.payments.tokenize({ number: FakePaymentGateway.successCard, exp_month: 12, exp_year: 2030, cvc: "123" })
 * const { status, order } = await till.checkout.place("alice", "key-1", {
 *   cart_id: cart.cart_id,
 *   shipping_address: { name: "Ada Lovelace", line1: "12 St James's Square", city: "London", postal_code: "SW1Y 4JH", country: "GB" },
 *   payment_method_id: card.payment_method_id
 * })
 * console.log(status, order.status, order.total) // 201 "confirmed" { amount: ..., currency: "USD" }
 * await till.dispose()
 * ```
 *
 * A failure rejects with the tagged error itself (`error._tag === "OutOfStock"`, with its
 * fields), never a wrapper, so callers switch on `_tag` as they would in Effect; input is
 * decoded first and bad input rejects with `ValidationError` listing each field.
 */
import { Cause, Effect, Exit, type Layer, ManagedRuntime, Schema } from "effect"
import type * as Cart from "./Cart.js"
import { Carts } from "./Carts.js"
import { Checkout, CheckoutRequest, PaymentRetryRequest, type Placed } from "./Checkout.js"
import { fromParseError } from "./Errors.js"
import { type OrderJson, toJson } from "./Order.js"
import { CardInput, type PaymentMethod } from "./PaymentMethod.js"
import { Payments } from "./Payments.js"
import { Sku } from "./Sku.js"

/** A card as the client sends it: `{ number, exp_month, exp_year, cvc }` (the number stays in `Redacted` inside Till). */
export type CardJson = typeof CardInput.Encoded
/** POST /v1/checkout's body. */
export type CheckoutJson = typeof CheckoutRequest.Encoded
/** POST /v1/orders/{id}/payment's body. */
export type PaymentRetryJson = typeof PaymentRetryRequest.Encoded
/** A checkout's answer: 201 confirmed or 202 payment queued, with API.md's order. */
export interface PlacedJson {
  readonly status: 201 | 202
  readonly order: OrderJson
}

export interface PromiseClient<ROut = Carts | Checkout | Payments, E = never> {
  /** The runtime behind the client, for the odd Effect the facade does not cover (setup, admin). */
  readonly runtime: ManagedRuntime.ManagedRuntime<ROut, E>
  readonly carts: {
    readonly create: (userId: string, currency?: string) => Promise<Cart.Cart>
    readonly view: (userId: string, cartId: string) => Promise<Cart.Cart>
    readonly addItem: (userId: string, cartId: string, sku: string, quantity: number) => Promise<Cart.Cart>
    readonly setQuantity: (
      userId: string,
      cartId: string,
      sku: string,
      quantity: number
    ) => Promise<Cart.Cart>
    readonly removeItem: (userId: string, cartId: string, sku: string) => Promise<Cart.Cart>
  }
  readonly payments: {
    /** `{ number, exp_month, exp_year, cvc }`; the number never leaves `Redacted` inside Till. */
    readonly tokenize: (card: CardJson) => Promise<PaymentMethod>
  }
  readonly checkout: {
    readonly place: (userId: string, idempotencyKey: string, request: CheckoutJson) => Promise<PlacedJson>
    readonly retryPayment: (
      userId: string,
      orderId: string,
      idempotencyKey: string,
      request: PaymentRetryJson
    ) => Promise<PlacedJson>
    readonly getOrder: (userId: string, orderId: string) => Promise<OrderJson>
  }
  /** Releases the layer's resources (pools, fibers). */
  readonly dispose: () => Promise<void>
}

const placedJson = (placed: Placed): PlacedJson => ({ status: placed.status, order: toJson(placed.order) })

const decode = <A, I>(schema: Schema.Codec<A, I>, input: unknown) =>
  Effect.mapError(Schema.decodeUnknownEffect(schema)(input, { errors: "all" }), fromParseError)

export const make = <ROut, E>(
  layer: Layer.Layer<ROut | Carts | Checkout | Payments, E>
): PromiseClient<ROut | Carts | Checkout | Payments, E> => {
  const runtime = ManagedRuntime.make(layer)
  const run = <A, Err>(effect: Effect.Effect<A, Err, Carts | Checkout | Payments>): Promise<A> =>
    runtime.runPromiseExit(effect).then((exit) => {
      if (Exit.isSuccess(exit)) return exit.value
      const failure = Cause.findErrorOption(exit.cause)
      throw failure._tag === "Some" ? failure.value : Cause.squash(exit.cause)
    })
  const sku = (value: string) => decode(Sku, value)
  return {
    runtime,
    carts: {
      create: (userId, currency) => run(Carts.use((c) => c.create(userId, currency))),
      view: (userId, cartId) => run(Carts.use((c) => c.view(userId, cartId))),
      addItem: (userId, cartId, s, quantity) =>
        run(Effect.flatMap(sku(s), (id) => Carts.use((c) => c.addItem(userId, cartId, id, quantity)))),
      setQuantity: (userId, cartId, s, quantity) =>
        run(Effect.flatMap(sku(s), (id) => Carts.use((c) => c.setQuantity(userId, cartId, id, quantity)))),
      removeItem: (userId, cartId, s) =>
        run(Effect.flatMap(sku(s), (id) => Carts.use((c) => c.removeItem(userId, cartId, id))))
    },
    payments: {
      tokenize: (card) =>
        run(Effect.flatMap(decode(CardInput, card), (c) => Payments.use((p) => p.tokenize(c))))
    },
    checkout: {
      place: (userId, idempotencyKey, request) =>
        run(
          Effect.flatMap(decode(CheckoutRequest, request), (r) =>
            Checkout.use((c) => c.place({ userId, idempotencyKey, request: r }))
          ).pipe(Effect.map(placedJson))
        ),
      retryPayment: (userId, orderId, idempotencyKey, request) =>
        run(
          Effect.flatMap(decode(PaymentRetryRequest, request), (r) =>
            Checkout.use((c) => c.retryPayment({ userId, orderId, idempotencyKey, request: r }))
          ).pipe(Effect.map(placedJson))
        ),
      getOrder: (userId, orderId) =>
        run(Checkout.use((c) => c.getOrder(userId, orderId)).pipe(Effect.map(toJson)))
    },
    dispose: () => runtime.dispose()
  }
}
