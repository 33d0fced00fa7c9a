/**
 * The checkout saga (DESIGN.md §3). State lives in the order row, so any process can resume
 * any order:
 *
 *   1 validate  idempotency key; rate limit (checkout 10/min/user); key claimed
 *   2 price     server-side prices, tax, shipping (fallback: default cost)
 *   3 TX1       reserve stock for the order id (all-or-nothing, with a hold)  -> 409 if out
 *               insert order(pending) + outbox(order.created, inventory.reserved)
 *   4 pay       charge(key = order id) under the payment policy
 *               declined    -> order=payment_failed, stock released        -> 402
 *               unavailable -> order=payment_pending, queued for retry      -> 202
 *               succeeded   -> order=confirmed, stock committed, outbox     -> 201
 *
 * Why the reservation comes before the order insert: an out-of-stock checkout then leaves
 * no order behind, and a crash between the two leaves only a hold that the sweeper releases
 * when it expires. Both steps are keyed by the order id fixed at the idempotency claim, so a
 * retried request continues where the first stopped instead of doing anything twice.
 */
import { Clock, Context, Effect, Layer, Option, Schema } from "effect"
import { Address } from "./Address.js"
import { CartId } from "./Cart.js"
import { Carts } from "./Carts.js"
import {
  CartNotActive,
  CartNotFound,
  CurrencyMismatch,
  EmptyCart,
  type GatewayUnavailable,
  type IdempotencyConflict,
  OrderNotFound,
  OrderNotRetryable,
  OutOfStock,
  PaymentDeclined,
  type RateLimited,
  type RequestInFlight,
  SkuNotFound,
  type StoreUnavailable,
  ValidationError
} from "./Errors.js"
import { Idempotency } from "./Idempotency.js"
import { Inventory } from "./Inventory.js"
import { sameLines } from "./InventoryStore.js"
import {
  checkTotals,
  makeOrderFlow,
  nowIso,
  orderEvent,
  type Placed,
  reservationLines,
  reservedData
} from "./internal/orderFlow.js"
import { isInFlight, Order } from "./Order.js"
import { OrderStore } from "./OrderStore.js"
import { PaymentMethodId } from "./PaymentMethod.js"
import { Payments, type Unavailable } from "./Payments.js"
import { PaymentRetryQueue } from "./PaymentRetryQueue.js"
import { Pricing } from "./Pricing.js"
import { RateLimiter } from "./RateLimiter.js"
import { Resilience } from "./Resilience.js"
import * as RetryDrainer from "./RetryDrainer.js"

export type { Placed } from "./internal/orderFlow.js"

export class CheckoutRequest extends Schema.Class<CheckoutRequest>("CheckoutRequest")({
  cart_id: CartId,
  shipping_address: Address,
  payment_method_id: PaymentMethodId
}) {}

export class PaymentRetryRequest extends Schema.Class<PaymentRetryRequest>("PaymentRetryRequest")({
  payment_method_id: PaymentMethodId
}) {}

/** The stored, replayable answer of a checkout: 201 confirmed or 202 payment queued. */
export const PlacedSchema: Schema.Codec<
  Placed,
  { readonly status: 201 | 202; readonly order: typeof Order.Encoded }
> = Schema.Struct({ status: Schema.Literals([201, 202]), order: Order })

/** The final errors of a checkout: stored with its key and answered again on replay. */
export const FinalError = Schema.Union([
  CartNotFound,
  CartNotActive,
  EmptyCart,
  SkuNotFound,
  OutOfStock,
  PaymentDeclined,
  CurrencyMismatch,
  ValidationError,
  OrderNotFound,
  OrderNotRetryable
])
export type FinalError = typeof FinalError.Type

export type CheckoutError =
  | FinalError
  | IdempotencyConflict
  | RequestInFlight
  | RateLimited
  | StoreUnavailable
  | GatewayUnavailable
  | Unavailable

export interface Config {
  /** How long stock is held for an order awaiting payment. */
  readonly holdMs: number
  /** How long a declined order may be paid again (API.md: 30 min). */
  readonly retryWindowMs: number
  /** After its hold, how long until an unpaid order's payment outcome is final (see orderFlow). */
  readonly settleGraceMs: number
}

export const defaults: Config = {
  holdMs: 15 * 60 * 1000,
  retryWindowMs: 30 * 60 * 1000,
  settleGraceMs: 60 * 1000
}

export class Checkout extends Context.Service<
  Checkout,
  {
    /** POST /v1/checkout. */
    readonly place: (input: {
      readonly userId: string
      readonly idempotencyKey: string
      readonly request: CheckoutRequest
    }) => Effect.Effect<Placed, CheckoutError>
    /** POST /v1/orders/{id}/payment: pays a declined order again within its retry window. */
    readonly retryPayment: (input: {
      readonly userId: string
      readonly orderId: string
      readonly idempotencyKey: string
      readonly request: PaymentRetryRequest
    }) => Effect.Effect<Placed, CheckoutError>
    /** Drives an order forward (the retry drainer's and the sweeper's step). */
    readonly resume: (
      orderId: string
    ) => Effect.Effect<"done" | "retry", StoreUnavailable | Unavailable | OrderNotFound>
    /** The caller's order (another user's answers `OrderNotFound`). */
    readonly getOrder: (
      userId: string,
      orderId: string
    ) => Effect.Effect<Order, OrderNotFound | StoreUnavailable>
  }
>()("@till/core/Checkout") {}

export const make = (config: Config = defaults) =>
  Effect.gen(function* () {
    const carts = yield* Carts
    const pricing = yield* Pricing
    const inventory = yield* Inventory
    const payments = yield* Payments
    const orders = yield* OrderStore
    const idempotency = yield* Idempotency
    const limiter = yield* RateLimiter
    const retryQueue = yield* PaymentRetryQueue
    const resilience = yield* Resilience

    const flow = makeOrderFlow({
      orders,
      inventory,
      payments,
      enqueueRetry: (orderId) =>
        RetryDrainer.enqueue(orderId).pipe(Effect.provideService(PaymentRetryQueue, retryQueue)),
      retryWindowMs: config.retryWindowMs,
      holdMs: config.holdMs,
      settleGraceMs: config.settleGraceMs
    })

    const ownOrder = (userId: string, orderId: string) =>
      orders
        .get(orderId)
        .pipe(
          Effect.flatMap((found) =>
            Option.isSome(found) && found.value.user_id === userId
              ? Effect.succeed(found.value)
              : Effect.fail(new OrderNotFound({ orderId }))
          )
        )

    /**
     * Answers for an order that exists already: a retried request continues it. A dead order
     * is first checked for a charge that landed late (refunded if so), best effort: the retry
     * queue and the sweeper check again.
     */
    const continueOrder = (order: Order) =>
      isInFlight(order.status)
        ? Effect.flatMap(flow.pay(order), flow.answer)
        : Effect.andThen(
            order.status === "expired" || order.status === "cancelled"
              ? Effect.ignore(flow.resume(order.order_id))
              : Effect.void,
            flow.answer(order)
          )

    /** Runs `use` once per (user, key): the answer (201/202 or a final error) is stored and replayed. */
    const once = <E>(
      userId: string,
      key: string,
      request: unknown,
      resourcePrefix: string,
      use: (resourceId: string) => Effect.Effect<Placed, E>
    ) =>
      idempotency.run(
        { scope: userId, key, request, resourcePrefix, success: PlacedSchema, failure: FinalError },
        use
      )

    const placeNew = (userId: string, orderId: string, request: CheckoutRequest) =>
      Effect.gen(function* () {
        const cart = yield* carts.get(userId, request.cart_id)
        if (cart.status !== "active") return yield* Effect.fail(new CartNotActive({ cartId: cart.cart_id }))
        if (cart.items.length === 0) return yield* Effect.fail(new EmptyCart({ cartId: cart.cart_id }))
        const quote = yield* pricing.quote(cart, request.shipping_address)
        const now = yield* Clock.currentTimeMillis
        const at = yield* nowIso
        const lines = reservationLines(quote)
        let reservation = yield* inventory.reserve(orderId, lines, now + config.holdMs)
        if (!sameLines(reservation.lines, lines)) {
          // A retry of this key after the cart changed finds the first attempt's hold: the order
          // must sell exactly what it holds, so take the hold again with the current lines.
          yield* inventory.release(orderId)
          reservation = yield* inventory.reserve(orderId, lines, now + config.holdMs)
        }
        const holdExpiresAt = reservation.hold_expires_at
        const order = yield* checkTotals(
          new Order({
            order_id: orderId,
            user_id: userId,
            cart_id: cart.cart_id,
            status: "pending",
            items: quote.items,
            subtotal: quote.subtotal,
            tax: quote.tax,
            shipping: quote.shipping,
            total: quote.total,
            shipping_address: request.shipping_address,
            payment: null,
            payment_method_id: request.payment_method_id,
            payment_attempt: 1,
            hold_expires_at: holdExpiresAt,
            retry_until: holdExpiresAt,
            created_at: at,
            updated_at: at
          })
        )
        const created = yield* resilience.withPolicy(
          "orderCreation",
          orders.create(order, [
            orderEvent("order.created", order, at),
            orderEvent("inventory.reserved", order, at, reservedData(order))
          ])
        )
        yield* carts.markCheckedOut(cart.cart_id)
        return yield* continueOrder(created)
      })

    const place = Effect.fn("Checkout.place")(function* (input: {
      readonly userId: string
      readonly idempotencyKey: string
      readonly request: CheckoutRequest
    }) {
      yield* limiter.check("checkout", input.userId)
      return yield* once(
        input.userId,
        input.idempotencyKey,
        Schema.encodeSync(CheckoutRequest)(input.request),
        "ord",
        (orderId) =>
          Effect.flatMap(orders.get(orderId), (existing) =>
            Option.isSome(existing)
              ? continueOrder(existing.value)
              : placeNew(input.userId, orderId, input.request)
          )
      )
    })

    const payAgain = (userId: string, orderId: string, paymentMethodId: string) =>
      Effect.gen(function* () {
        const order = yield* ownOrder(userId, orderId)
        // A retried request of this same attempt finds its attempt under way: continue it.
        if (
          isInFlight(order.status) &&
          order.payment_attempt > 1 &&
          order.payment_method_id === paymentMethodId
        ) {
          return yield* continueOrder(order)
        }
        const now = yield* Clock.currentTimeMillis
        const refuse = (reason: string) =>
          Effect.fail(new OrderNotRetryable({ orderId, status: order.status, reason }))
        if (order.status !== "payment_failed") return yield* refuse(`the order is ${order.status}`)
        if (now > order.retry_until) return yield* refuse("its retry window has passed")
        const holdExpiresAt = now + config.holdMs
        yield* inventory.reserve(orderId, reservationLines(order), holdExpiresAt)
        const next = yield* flow.advance(orderId, (current, at) => {
          if (current.status !== "payment_failed" || current.payment_attempt !== order.payment_attempt)
            return undefined
          const retried = new Order({
            ...current,
            status: "pending",
            payment: null,
            payment_method_id: paymentMethodId,
            payment_attempt: current.payment_attempt + 1,
            hold_expires_at: holdExpiresAt,
            updated_at: at
          })
          return {
            next: retried,
            events: [orderEvent("inventory.reserved", retried, at, reservedData(retried))]
          }
        })
        if (next.payment_attempt === order.payment_attempt) {
          return yield* refuse("another payment attempt changed it first")
        }
        if (next.payment_method_id !== paymentMethodId) {
          // A concurrent retry with another card won; its reservation is the one held.
          return yield* refuse("another payment attempt is under way")
        }
        return yield* continueOrder(next)
      })

    const retryPayment = Effect.fn("Checkout.retryPayment")(function* (input: {
      readonly userId: string
      readonly orderId: string
      readonly idempotencyKey: string
      readonly request: PaymentRetryRequest
    }) {
      yield* limiter.check("payment", input.userId)
      return yield* once(
        input.userId,
        input.idempotencyKey,
        { order_id: input.orderId, ...Schema.encodeSync(PaymentRetryRequest)(input.request) },
        "pay",
        () => payAgain(input.userId, input.orderId, input.request.payment_method_id)
      )
    })

    return Checkout.of({
      place,
      retryPayment,
      resume: Effect.fn("Checkout.resume")((orderId: string) => flow.resume(orderId)),
      getOrder: ownOrder
    })
  })

export const layer = (
  config: Config = defaults
): Layer.Layer<
  Checkout,
  never,
  | Carts
  | Pricing
  | Inventory
  | Payments
  | OrderStore
  | Idempotency
  | RateLimiter
  | PaymentRetryQueue
  | Resilience
> => Layer.effect(Checkout, make(config))
