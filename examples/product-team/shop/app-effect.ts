/**
 * The shop with checkout, written with Effect: Till's layer (`till.ts`) is built once at startup
 * into a `ManagedRuntime`; each checkout route is an Effect of the core services run with
 * `runtime.runPromise`, and Till's typed errors become the shop's own answers in one place
 * (`answer`). The shop's old routes (`server.ts`) are untouched.
 *
 *   pnpm --filter @till/example-product-team start:effect
 */
import { Carts, Checkout, Errors, Order, PaymentMethod, Payments, Sku } from "@till/core"
import { Effect, ManagedRuntime, Schema } from "effect"
import * as Shop from "./server.js"
import * as ShopTill from "./till.js"

/** Every error a checkout route can fail with: the checkout's, and a card the gateway refuses. */
type TillError = Checkout.CheckoutError | Errors.PaymentMethodInvalid

const reply = (
  status: number,
  code: string,
  message: string,
  details: Record<string, unknown> = {},
  headers?: Record<string, string>
) => Effect.succeed(Shop.error(status, code, message, details, headers))

/** Till's errors as the shop's answers; a defect stays one (the server logs it, answers 500). */
const answer = <R>(route: Effect.Effect<Shop.Reply, TillError, R>): Effect.Effect<Shop.Reply, never, R> =>
  Effect.catchTags(
    route,
    {
      ValidationError: (e) => reply(400, "invalid_request", e.message, { errors: e.errors }),
      CartNotFound: (e) => reply(404, "not_found", e.message),
      OrderNotFound: (e) => reply(404, "not_found", e.message),
      OutOfStock: (e) => reply(409, "out_of_stock", e.message, { items: e.unavailable }),
      PaymentDeclined: (e) =>
        reply(402, "payment_declined", e.message, { order_id: e.orderId, decline_code: e.declineCode }),
      // The first submission with this key is still running: the client sends it again shortly.
      RequestInFlight: (e) => reply(409, "checkout_in_progress", e.message, {}, { "retry-after": "1" }),
      RateLimited: (e) =>
        reply(429, "too_many_requests", e.message, {}, { "retry-after": String(e.retryAfterSeconds) })
    },
    // The rest with Till's status (Errors.httpStatus): 409 cart already checked out, 422 card
    // invalid, 503 (a store or the gateway unavailable: nothing was done twice, try again) ...
    (e) => {
      const status = Errors.httpStatus[e._tag]
      const headers = status === 503 ? { "retry-after": "1" } : undefined
      return reply(status, ShopTill.errorCode(e._tag), e.message, {}, headers)
    }
  )

const decode = <A, I>(schema: Schema.Codec<A, I>, body: unknown) =>
  Effect.mapError(Schema.decodeUnknownEffect(schema)(body, { errors: "all" }), Errors.fromParseError)

const AddItem = Schema.Struct({ sku: Sku.Sku, quantity: Sku.Quantity })
const SaveCard = Schema.Struct({ card: PaymentMethod.CardInput })

const createCart = Effect.fn("Shop.createCart")(function* (customer: string) {
  const cart = yield* (yield* Carts.Carts).create(customer)
  return Shop.json(201, ShopTill.cartJson(cart))
})

const viewCart = Effect.fn("Shop.viewCart")(function* (customer: string, cartId: string) {
  const cart = yield* (yield* Carts.Carts).view(customer, cartId)
  return Shop.json(200, ShopTill.cartJson(cart))
})

const addItem = Effect.fn("Shop.addItem")(function* (customer: string, cartId: string, body: unknown) {
  const { sku, quantity } = yield* decode(AddItem, body)
  const cart = yield* (yield* Carts.Carts).addItem(customer, cartId, sku, quantity)
  return Shop.json(200, ShopTill.cartJson(cart))
})

// The card goes to the gateway's tokenizer; the shop keeps only the token, brand and last four.
const saveCard = Effect.fn("Shop.saveCard")(function* (body: unknown) {
  const { card } = yield* decode(SaveCard, body)
  const method = yield* (yield* Payments.Payments).tokenize(card)
  return Shop.json(201, {
    payment_method_id: method.payment_method_id,
    brand: method.brand,
    last4: method.last4
  })
})

const checkout = Effect.fn("Shop.checkout")(function* (
  customer: string,
  idempotencyKey: string,
  body: unknown
) {
  const request = yield* decode(Checkout.CheckoutRequest, body)
  const placed = yield* (yield* Checkout.Checkout).place({ userId: customer, idempotencyKey, request })
  return Shop.json(placed.status, Order.toJson(placed.order)) // 201 confirmed, 202 payment queued
})

const getOrder = Effect.fn("Shop.getOrder")(function* (customer: string, orderId: string) {
  const order = yield* (yield* Checkout.Checkout).getOrder(customer, orderId)
  return Shop.json(200, Order.toJson(order))
})

/** What the checkout routes use of Till. */
type Services = Carts.Carts | Checkout.Checkout | Payments.Payments

/** Builds Till once, then serves the shop's routes and the checkout's. */
export const start = async (options: Shop.StartOptions = {}): Promise<Shop.Running> => {
  const runtime = ManagedRuntime.make(ShopTill.layerFromEnv(options.env ?? {}))
  const run = (route: Effect.Effect<Shop.Reply, TillError, Services>) => runtime.runPromise(answer(route))
  const checkoutRoutes: ReadonlyArray<Shop.Route> = [
    { method: "POST", path: "/carts", handler: Shop.signedIn((customer) => run(createCart(customer))) },
    {
      method: "GET",
      path: "/carts/:cartId",
      handler: Shop.signedIn((customer, req) => run(viewCart(customer, req.param("cartId"))))
    },
    {
      method: "POST",
      path: "/carts/:cartId/items",
      handler: Shop.signedIn((customer, req) => run(addItem(customer, req.param("cartId"), req.body)))
    },
    { method: "POST", path: "/payment-methods", handler: Shop.signedIn((_, req) => run(saveCard(req.body))) },
    {
      method: "POST",
      path: "/checkout",
      handler: Shop.signedIn((customer, req) =>
        run(checkout(customer, req.header("idempotency-key") ?? "", req.body))
      )
    },
    {
      method: "GET",
      path: "/orders/:orderId",
      handler: Shop.signedIn((customer, req) => run(getOrder(customer, req.param("orderId"))))
    }
  ]
  try {
    await runtime.runPromise(ShopTill.syncCatalog()) // builds Till: a service that does not answer fails here
    const server = await Shop.listen(Shop.createServer([...Shop.routes, ...checkoutRoutes]), options)
    return {
      url: server.url,
      close: async () => {
        await server.close()
        await runtime.dispose() // stops the jobs, closes the pools
      }
    }
  } catch (cause) {
    await runtime.dispose()
    throw cause
  }
}

Shop.main(import.meta.url, start)
