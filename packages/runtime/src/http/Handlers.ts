/**
 * The routes of API.md on the core services: each handler calls one service and answers its
 * result as API.md's JSON; every failure of a core service becomes its problem (Problem.ts). An
 * error that is no core error (a defect) is a bug: it is logged and answered by the server as a
 * bare 500 problem (Server.ts), never with its message or stack.
 */
import {
  type Cart,
  Carts,
  Catalog,
  Checkout,
  Degradation,
  Errors,
  InventoryStore,
  Order,
  OrderStore,
  PaymentRetryQueue,
  Payments,
  Policy,
  Resilience
} from "@till/core"
import { Effect, Layer, Metric, Option } from "effect"
import { HttpServerResponse } from "effect/http"
import { HttpApiBuilder } from "effect/http-api"
import { TillApi } from "./Api.js"
import type { CartJson } from "./Api.js"
import { Caller } from "./Auth.js"
import * as Health from "./Health.js"
import * as Metrics from "./Metrics.js"
import * as Problem from "./Problem.js"

/** Core errors as problems; anything else stays a defect. */
const answer = <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, Problem.Problem, R> =>
  Effect.catch(self, (error) => {
    const problem = Problem.fromError(error)
    return problem === undefined ? Effect.die(error) : Effect.fail(problem)
  })

/** A route of the authenticated caller: `f` of their user id, answered as `answer` does. */
const asCaller = <A, E, R>(f: (userId: string) => Effect.Effect<A, E, R>) =>
  Effect.flatMap(Caller, (caller) => answer(f(caller.userId)))

const money = (m: { readonly amount: number; readonly currency: string }) => ({
  amount: m.amount,
  currency: m.currency
})

export const cartJson = (cart: Cart.Cart): CartJson => ({
  cart_id: cart.cart_id,
  user_id: cart.user_id,
  status: cart.status,
  items: cart.items.map((i) => ({
    sku: i.sku,
    name: i.name,
    quantity: i.quantity,
    unit_price: money(i.unit_price),
    line_total: money(i.line_total)
  })),
  subtotal: money(cart.subtotal),
  updated_at: cart.updated_at
})

/** A checkout or payment retry, counted and timed, answered 201 or 202 with its order. */
const placed = <E, R>(place: Effect.Effect<Checkout.Placed, E, R>) =>
  Effect.map(Metrics.observeCheckout(place), (p) =>
    HttpServerResponse.jsonUnsafe(Order.toJson(p.order), { status: p.status })
  )

const CartsLive = HttpApiBuilder.group(TillApi, "carts", (handlers) =>
  Effect.gen(function* () {
    const carts = yield* Carts.Carts
    return handlers
      .handle("create", ({ payload }) =>
        asCaller((userId) =>
          Effect.map(
            Effect.tap(carts.create(userId, payload.currency), () => Metric.update(Metrics.cartsCreated, 1)),
            cartJson
          )
        )
      )
      .handle("get", ({ params }) =>
        asCaller((userId) => Effect.map(carts.view(userId, params.cart_id), cartJson))
      )
      .handle("addItem", ({ params, payload }) =>
        asCaller((userId) =>
          Effect.map(carts.addItem(userId, params.cart_id, payload.sku, payload.quantity), cartJson)
        )
      )
      .handle("setQuantity", ({ params, payload }) =>
        asCaller((userId) =>
          Effect.map(carts.setQuantity(userId, params.cart_id, params.sku, payload.quantity), cartJson)
        )
      )
      .handle("removeItem", ({ params }) =>
        asCaller((userId) => Effect.map(carts.removeItem(userId, params.cart_id, params.sku), cartJson))
      )
  })
)

const PaymentMethodsLive = HttpApiBuilder.group(TillApi, "paymentMethods", (handlers) =>
  Effect.gen(function* () {
    const payments = yield* Payments.Payments
    return handlers.handle("create", ({ payload }) =>
      answer(
        Effect.map(payments.tokenize(payload.card), (m) => ({
          payment_method_id: m.payment_method_id,
          brand: m.brand,
          last4: m.last4
        }))
      )
    )
  })
)

const CheckoutLive = HttpApiBuilder.group(TillApi, "checkout", (handlers) =>
  Effect.gen(function* () {
    const checkout = yield* Checkout.Checkout
    const orders = yield* OrderStore.OrderStore
    const degradation = yield* Degradation.Degradation
    return handlers
      .handle("checkout", ({ headers, payload }) =>
        asCaller((userId) =>
          placed(checkout.place({ userId, idempotencyKey: headers["idempotency-key"], request: payload }))
        )
      )
      .handle("retryPayment", ({ params, headers, payload }) =>
        asCaller((userId) =>
          placed(
            checkout.retryPayment({
              userId,
              orderId: params.order_id,
              idempotencyKey: headers["idempotency-key"],
              request: payload
            })
          )
        )
      )
      .handle("getOrder", ({ params }) =>
        asCaller((userId) => Effect.map(checkout.getOrder(userId, params.order_id), Order.toJson))
      )
      .handle("listOrders", ({ query }) =>
        asCaller((userId) =>
          Effect.andThen(
            degradation.guard("orderHistory"),
            Effect.map(orders.listByUser(userId, query.limit ?? 20, query.cursor ?? null), (page) => ({
              orders: page.orders.map(Order.toJson),
              next_cursor: page.nextCursor
            }))
          )
        )
      )
  })
)

const AdminLive = HttpApiBuilder.group(TillApi, "admin", (handlers) =>
  Effect.gen(function* () {
    const catalog = yield* Catalog.Catalog
    const inventory = yield* InventoryStore.InventoryStore
    const resilience = yield* Resilience.Resilience
    const queue = yield* PaymentRetryQueue.PaymentRetryQueue
    return handlers
      .handle("putProduct", ({ params, payload }) =>
        answer(
          Effect.andThen(
            catalog.upsert(
              new Catalog.Product({ sku: params.sku, name: payload.name, price: payload.price })
            ),
            inventory.setOnHand(params.sku, payload.on_hand)
          )
        )
      )
      .handle("inventory", ({ params }) =>
        answer(
          Effect.flatMap(inventory.level(params.sku), (level) =>
            Option.match(level, {
              onNone: () => Effect.fail(new Errors.SkuNotFound({ sku: params.sku })),
              onSome: Effect.succeed
            })
          )
        )
      )
      .handle("breakers", () =>
        Effect.all([
          ...Policy.names.map((name) =>
            Effect.map(resilience.breaker(name).state, (state) => ({ name, state }))
          ),
          ...Resilience.storeNames.map((store) =>
            Effect.map(resilience.storeBreaker(store).state, (state) => ({ name: `store.${store}`, state }))
          )
        ])
      )
      .handle("paymentQueue", () => answer(Effect.map(queue.size, (depth) => ({ depth }))))
  })
)

const OperationsLive = HttpApiBuilder.group(TillApi, "operations", (handlers) =>
  Effect.gen(function* () {
    const health = yield* Health.Health
    return handlers
      .handle("live", () => Effect.succeed({ status: "ok" as const, checks: {} }))
      .handle("ready", () =>
        Effect.flatMap(health.ready, (report) =>
          report.status === "ok" ? Effect.succeed(report) : Effect.fail(report)
        )
      )
      .handle("metrics", () => health.metrics)
  })
)

/** Every group of the API, on the core services, the caller's health checks and metrics. */
export const layer = Layer.mergeAll(CartsLive, PaymentMethodsLive, CheckoutLive, AdminLive, OperationsLive)
