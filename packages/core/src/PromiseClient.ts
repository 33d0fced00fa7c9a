/**
 * Till for code that is not written with Effect: the same services behind plain Promises.
 *
 * ```ts
 * const till = PromiseClient.make(TestTill.layer()) // or the production layer
 * const cart = await till.carts.create("alice")
 * await till.carts.addItem("alice", cart.cart_id, "mug", 2)
 * const { status, order } = await till.checkout.place("alice", "key-1", { cart_id, shipping_address, payment_method_id })
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
import type { Order } from "./Order.js"
import { CardInput, type PaymentMethod } from "./PaymentMethod.js"
import { Payments } from "./Payments.js"
import { Sku } from "./Sku.js"

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
    readonly tokenize: (card: unknown) => Promise<PaymentMethod>
  }
  readonly checkout: {
    readonly place: (userId: string, idempotencyKey: string, request: unknown) => Promise<Placed>
    readonly retryPayment: (
      userId: string,
      orderId: string,
      idempotencyKey: string,
      request: unknown
    ) => Promise<Placed>
    readonly getOrder: (userId: string, orderId: string) => Promise<Order>
  }
  /** Releases the layer's resources (pools, fibers). */
  readonly dispose: () => Promise<void>
}

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
          )
        ),
      retryPayment: (userId, orderId, idempotencyKey, request) =>
        run(
          Effect.flatMap(decode(PaymentRetryRequest, request), (r) =>
            Checkout.use((c) => c.retryPayment({ userId, orderId, idempotencyKey, request: r }))
          )
        ),
      getOrder: (userId, orderId) => run(Checkout.use((c) => c.getOrder(userId, orderId)))
    },
    dispose: () => runtime.dispose()
  }
}
