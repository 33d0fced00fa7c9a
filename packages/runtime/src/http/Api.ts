/**
 * The HTTP API of API.md as one `HttpApi` definition: the routes, their request and answer
 * schemas and their problems. The server (Server.ts), `GET /openapi.json` and the docs page are
 * all made from it, so they cannot drift apart.
 *
 * Request bodies are decoded strictly: an unknown field is a 422 (`onExcessProperty: "error"`),
 * and every offending path is listed (`errors: "all"`). Strings and numbers are bounded by the
 * core schemas (Address, Sku, Quantity, ...).
 */
import { Cart, Catalog, Checkout, Money, Order, PaymentMethod, Sku } from "@till/core"
import { Schema } from "effect"
import { HttpApi, HttpApiEndpoint, HttpApiGroup, HttpApiSchema } from "effect/http-api"
import { Authentication, RequireAdmin } from "./Auth.js"
import { wire } from "./Problem.js"
import { SchemaErrors } from "./SchemaErrors.js"

// ---------------------------------------------------------------------------------------------
// Answers (API.md's JSON: plain encoded values)

const MoneyJson = Schema.Struct({ amount: Schema.Int, currency: Schema.String })

export const CartJson = Schema.Struct({
  cart_id: Schema.String,
  user_id: Schema.String,
  status: Cart.CartStatus,
  items: Schema.Array(
    Schema.Struct({
      sku: Schema.String,
      name: Schema.String,
      quantity: Schema.Int,
      unit_price: MoneyJson,
      line_total: MoneyJson
    })
  ),
  subtotal: MoneyJson,
  updated_at: Schema.String
})
export type CartJson = typeof CartJson.Type

export const OrderJson = Schema.toEncoded(Order.OrderJson)

export const PaymentMethodJson = Schema.Struct({
  payment_method_id: Schema.String,
  brand: Schema.String,
  last4: Schema.String
})

export const OrderPageJson = Schema.Struct({
  orders: Schema.Array(OrderJson),
  next_cursor: Schema.NullOr(Schema.String)
})

export const StockLevelJson = Schema.Struct({
  sku: Schema.String,
  on_hand: Schema.Int,
  reserved: Schema.Int,
  available: Schema.Int
})

export const BreakerJson = Schema.Struct({ name: Schema.String, state: Schema.String })
export const PaymentQueueJson = Schema.Struct({ depth: Schema.Int })
export const HealthJson = Schema.Struct({
  status: Schema.Literals(["ok", "unavailable"]),
  checks: Schema.Record(Schema.String, Schema.Literals(["ok", "unavailable"]))
})

// ---------------------------------------------------------------------------------------------
// Requests

const IdempotencyKey = {
  "idempotency-key": Schema.String.check(
    Schema.isMinLength(1, { message: "Idempotency-Key must be 1-255 characters" }),
    Schema.isMaxLength(255, { message: "Idempotency-Key must be 1-255 characters" })
  )
}

const CartIdParam = { cart_id: Cart.CartId }
const OrderIdParam = { order_id: Schema.String.check(Schema.isMinLength(1), Schema.isMaxLength(255)) }
const SkuParam = { sku: Sku.Sku }

export const NewCart = Schema.Struct({ currency: Schema.optional(Money.Currency) })
export const NewItem = Schema.Struct({ sku: Sku.Sku, quantity: Sku.Quantity })
export const QuantityChange = Schema.Struct({
  quantity: Schema.Int.check(
    Schema.isGreaterThanOrEqualTo(0, { message: "quantity must be 0 (remove) or more" }),
    Schema.isLessThanOrEqualTo(Sku.maxQuantity, { message: `quantity must be at most ${Sku.maxQuantity}` })
  )
})
export const NewPaymentMethod = Schema.Struct({ card: PaymentMethod.CardInput })
export const ProductChange = Schema.Struct({
  name: Catalog.Product.fields.name,
  price: Money.Money,
  on_hand: Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 1_000_000_000 }))
})
export const OrdersQuery = {
  limit: Schema.optional(
    Schema.NumberFromString.check(Schema.isInt(), Schema.isBetween({ minimum: 1, maximum: 100 }))
  ),
  cursor: Schema.optional(Schema.String.check(Schema.isMaxLength(512)))
}

// ---------------------------------------------------------------------------------------------
// Routes

/**
 * Every route declares every problem: a core error of a status a route did not declare would not
 * encode and become a 500, and a 5xx is a bug. The OpenAPI document lists them all per route.
 */
const problems = [
  wire.BadRequest,
  wire.PaymentRequired,
  wire.NotFound,
  wire.Conflict,
  wire.PayloadTooLarge,
  wire.Unprocessable,
  wire.TooManyRequests,
  wire.Unavailable
] as const

export class CartsGroup extends HttpApiGroup.make("carts")
  .add(
    HttpApiEndpoint.post("create", "/v1/carts", {
      payload: NewCart,
      success: HttpApiSchema.status(201)(CartJson),
      error: problems
    })
  )
  .add(
    HttpApiEndpoint.get("get", "/v1/carts/:cart_id", {
      params: CartIdParam,
      success: CartJson,
      error: problems
    })
  )
  .add(
    HttpApiEndpoint.post("addItem", "/v1/carts/:cart_id/items", {
      params: CartIdParam,
      payload: NewItem,
      success: CartJson,
      error: problems
    })
  )
  .add(
    HttpApiEndpoint.patch("setQuantity", "/v1/carts/:cart_id/items/:sku", {
      params: { ...CartIdParam, ...SkuParam },
      payload: QuantityChange,
      success: CartJson,
      error: problems
    })
  )
  .add(
    HttpApiEndpoint.delete("removeItem", "/v1/carts/:cart_id/items/:sku", {
      params: { ...CartIdParam, ...SkuParam },
      success: CartJson,
      error: problems
    })
  )
  .middleware(Authentication) {}

export class PaymentMethodsGroup extends HttpApiGroup.make("paymentMethods")
  .add(
    HttpApiEndpoint.post("create", "/v1/payment-methods", {
      payload: NewPaymentMethod,
      success: HttpApiSchema.status(201)(PaymentMethodJson),
      error: problems
    })
  )
  .middleware(Authentication) {}

/** A checkout's answers: 201 paid and confirmed, 202 payment queued (API.md "Checkout"). */
const placed = [HttpApiSchema.status(201)(OrderJson), HttpApiSchema.status(202)(OrderJson)] as const

export class CheckoutGroup extends HttpApiGroup.make("checkout")
  .add(
    HttpApiEndpoint.post("checkout", "/v1/checkout", {
      headers: IdempotencyKey,
      payload: Checkout.CheckoutRequest,
      success: placed,
      error: problems
    })
  )
  .add(
    HttpApiEndpoint.post("retryPayment", "/v1/orders/:order_id/payment", {
      params: OrderIdParam,
      headers: IdempotencyKey,
      payload: Checkout.PaymentRetryRequest,
      success: placed,
      error: problems
    })
  )
  .add(
    HttpApiEndpoint.get("getOrder", "/v1/orders/:order_id", {
      params: OrderIdParam,
      success: OrderJson,
      error: problems
    })
  )
  .add(
    HttpApiEndpoint.get("listOrders", "/v1/orders", {
      query: OrdersQuery,
      success: OrderPageJson,
      error: problems
    })
  )
  .middleware(Authentication) {}

export class AdminGroup extends HttpApiGroup.make("admin")
  .add(
    HttpApiEndpoint.put("putProduct", "/v1/admin/products/:sku", {
      params: SkuParam,
      payload: ProductChange,
      success: StockLevelJson,
      error: problems
    })
  )
  .add(
    HttpApiEndpoint.get("inventory", "/v1/admin/inventory/:sku", {
      params: SkuParam,
      success: StockLevelJson,
      error: problems
    })
  )
  .add(
    HttpApiEndpoint.get("breakers", "/v1/admin/circuit-breakers", {
      success: Schema.Array(BreakerJson),
      error: problems
    })
  )
  .add(
    HttpApiEndpoint.get("paymentQueue", "/v1/admin/payment-queue", {
      success: PaymentQueueJson,
      error: problems
    })
  )
  .middleware(RequireAdmin)
  .middleware(Authentication) {}

export class OperationsGroup extends HttpApiGroup.make("operations")
  .add(HttpApiEndpoint.get("live", "/health/live", { success: HealthJson }))
  .add(
    HttpApiEndpoint.get("ready", "/health/ready", {
      success: HealthJson,
      error: HttpApiSchema.status(503)(HealthJson)
    })
  )
  .add(
    HttpApiEndpoint.get("metrics", "/metrics", {
      success: Schema.String.pipe(HttpApiSchema.asText({ contentType: "text/plain; version=0.0.4" }))
    })
  ) {}

/** The whole API. */
export class TillApi extends HttpApi.make("till")
  .add(CartsGroup)
  .add(PaymentMethodsGroup)
  .add(CheckoutGroup)
  .add(AdminGroup)
  .add(OperationsGroup)
  .middleware(SchemaErrors)
  .annotate(HttpApi.PayloadParseOptions, { onExcessProperty: "error", errors: "all" })
  .annotate(HttpApi.QueryParseOptions, { onExcessProperty: "error", errors: "all" }) {}
