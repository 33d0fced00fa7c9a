/**
 * The same shop with checkout, for a team not on Effect: `PromiseClient` runs Till's services
 * behind plain Promises, with plain JSON in and out. The one piece of Effect left is the wiring
 * (`till.ts`: which ports, built once at startup); a failure rejects with Till's tagged error
 * itself, and `answer` turns it into the shop's own answer with a `switch` on its `_tag`.
 *
 *   pnpm --filter @till/example-product-team start:promise
 */
import { type Checkout, Errors, PromiseClient } from "@till/core"
import * as Shop from "./server.js"
import * as ShopTill from "./till.js"

/** Every error a checkout route can reject with: the checkout's, and a card the gateway refuses. */
type TillError = Checkout.CheckoutError | Errors.PaymentMethodInvalid

const isTillError = (error: unknown): error is TillError =>
  typeof error === "object" &&
  error !== null &&
  "_tag" in error &&
  typeof error._tag === "string" &&
  error._tag in Errors.httpStatus

/** Runs a checkout route: Till's errors become the shop's answers; anything else is a bug (500). */
const answer = async (route: () => Promise<Shop.Reply>): Promise<Shop.Reply> => {
  try {
    return await route()
  } catch (error) {
    if (!isTillError(error)) throw error
    switch (error._tag) {
      case "ValidationError":
        return Shop.error(400, "invalid_request", error.message, { errors: error.errors })
      case "CartNotFound":
      case "OrderNotFound":
        return Shop.error(404, "not_found", error.message)
      case "OutOfStock":
        return Shop.error(409, "out_of_stock", error.message, { items: error.unavailable })
      case "PaymentDeclined":
        return Shop.error(402, "payment_declined", error.message, {
          order_id: error.orderId,
          decline_code: error.declineCode
        })
      case "RequestInFlight": // the first submission with this key is still running
        return Shop.error(409, "checkout_in_progress", error.message, {}, { "retry-after": "1" })
      case "RateLimited":
        return Shop.error(
          429,
          "too_many_requests",
          error.message,
          {},
          {
            "retry-after": String(error.retryAfterSeconds)
          }
        )
      default: {
        // Till's status for the rest (Errors.httpStatus): 409, 422, 503 (try again) ...
        const status = Errors.httpStatus[error._tag]
        const headers = status === 503 ? { "retry-after": "1" } : undefined
        return Shop.error(status, ShopTill.errorCode(error._tag), error.message, {}, headers)
      }
    }
  }
}

/** A JSON body's fields, for the client to check (it rejects bad input with `ValidationError`). */
const fields = (body: unknown): Record<string, unknown> =>
  typeof body === "object" && body !== null ? (body as Record<string, unknown>) : {}

/** Builds Till once, then serves the shop's routes and the checkout's. */
export const start = async (options: Shop.StartOptions = {}): Promise<Shop.Running> => {
  const till = PromiseClient.make(ShopTill.layerFromEnv(options.env ?? {}))
  const checkoutRoutes: ReadonlyArray<Shop.Route> = [
    {
      method: "POST",
      path: "/carts",
      handler: Shop.signedIn((customer) =>
        answer(async () => Shop.json(201, ShopTill.cartJson(await till.carts.create(customer))))
      )
    },
    {
      method: "GET",
      path: "/carts/:cartId",
      handler: Shop.signedIn((customer, req) =>
        answer(async () =>
          Shop.json(200, ShopTill.cartJson(await till.carts.view(customer, req.param("cartId"))))
        )
      )
    },
    {
      method: "POST",
      path: "/carts/:cartId/items",
      handler: Shop.signedIn((customer, req) =>
        answer(async () => {
          const { sku, quantity } = fields(req.body)
          const cart = await till.carts.addItem(
            customer,
            req.param("cartId"),
            sku as string,
            quantity as number
          )
          return Shop.json(200, ShopTill.cartJson(cart))
        })
      )
    },
    {
      method: "POST",
      path: "/payment-methods",
      handler: Shop.signedIn((_, req) =>
        answer(async () => {
          const method = await till.payments.tokenize(fields(req.body)["card"] as PromiseClient.CardJson)
          return Shop.json(201, {
            payment_method_id: method.payment_method_id,
            brand: method.brand,
            last4: method.last4
          })
        })
      )
    },
    {
      method: "POST",
      path: "/checkout",
      handler: Shop.signedIn((customer, req) =>
        answer(async () => {
          const key = req.header("idempotency-key") ?? ""
          const placed = await till.checkout.place(customer, key, req.body as PromiseClient.CheckoutJson)
          return Shop.json(placed.status, placed.order) // 201 confirmed, 202 payment queued
        })
      )
    },
    {
      method: "GET",
      path: "/orders/:orderId",
      handler: Shop.signedIn((customer, req) =>
        answer(async () => Shop.json(200, await till.checkout.getOrder(customer, req.param("orderId"))))
      )
    }
  ]
  try {
    // The catalog sync is the one Effect the facade does not cover: run it on the client's runtime.
    await till.runtime.runPromise(ShopTill.syncCatalog()) // builds Till: a service that does not answer fails here
    const server = await Shop.listen(Shop.createServer([...Shop.routes, ...checkoutRoutes]), options)
    return {
      url: server.url,
      close: async () => {
        await server.close()
        await till.dispose() // stops the jobs, closes the pools
      }
    }
  } catch (cause) {
    await till.dispose()
    throw cause
  }
}

Shop.main(import.meta.url, start)
