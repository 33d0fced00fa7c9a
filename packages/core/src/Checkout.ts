/**
 * The checkout saga (DESIGN.md §3). State lives in the order row, so any process can resume
 * any order:
 *
 *   1 validate  idempotency key claimed (a replay answers before anything else); rate limit
 *               (checkout 10/min/user); the cart is the caller's, active, not empty
 *   2 price     server-side prices, tax, shipping (fallback: default cost); the cart version
 *               priced is claimed for the order (compare-and-set): one cart, one order,
 *               whatever the keys, and an edit racing the checkout is priced again
 *   3 TX1       one transaction: insert order(pending) + hold every line (all-or-nothing)
 *               + outbox(order.created, inventory.reserved)              -> 409 if out
 *   4 pay       charge(key = order id) under the payment policy
 *               declined    -> TX2 order=payment_failed + release + outbox   -> 402
 *               unavailable -> order=payment_pending, queued for retry       -> 202
 *               succeeded   -> TX2 order=confirmed + commit + outbox          -> 201
 *
 * Every step is keyed by the order id fixed at the idempotency claim, so a retried request
 * continues where the first stopped instead of doing anything twice.
 */
import { Clock, Context, Effect, Config as EffectConfig, Layer, Option, Schema } from "effect"
import { Address } from "./Address.js"
import { type Cart, CartId } from "./Cart.js"
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
  StoredAnswerUnreadable,
  type StoreUnavailable,
  ValidationError
} from "./Errors.js"
import { Idempotency } from "./Idempotency.js"
import {
  checkTotals,
  makeOrderFlow,
  nowIso,
  orderEvent,
  type Placed,
  reservedData
} from "./internal/orderFlow.js"
import { decodeConfig, settingsLayers } from "./internal/decodeConfig.js"
import { IntBetween } from "./internal/intBetween.js"
import { storeCall } from "./internal/storeCall.js"
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
  | StoredAnswerUnreadable
  | RateLimited
  | StoreUnavailable
  | GatewayUnavailable
  | Unavailable

const hourMs = 60 * 60 * 1000

/** The checkout's settings, with their bounds (a bad value fails at startup, see `layerConfig`). */
export const Config = Schema.Struct({
  /** How long stock is held for an order awaiting payment. */
  holdMs: IntBetween(1_000, 24 * hourMs),
  /** How long a declined order may be paid again (API.md: 30 min). */
  retryWindowMs: IntBetween(0, 7 * 24 * hourMs),
  /** After its hold, how long until an unpaid order's payment outcome is final (see orderFlow). */
  settleGraceMs: IntBetween(0, hourMs),
  /**
   * How long a cart may stay claimed by an order that was never made (its create failed and its
   * request was not retried with the same key) before a checkout of the cart takes it back. The
   * default is the idempotency lease (180 s): past it no request of that order runs unopposed, so
   * a double click still finds the cart taken by the first request. Safe at any value: the taken
   * order's id is refused for good first (OrderStore.refuseUnmade).
   */
  abandonedClaimMs: IntBetween(1_000, 24 * hourMs)
})
export type Config = typeof Config.Type

/** Claims of one cart that may lose to edits before the checkout gives up (409). */
const maxCartConflicts = 4

export const defaults: Config = {
  holdMs: 15 * 60 * 1000,
  retryWindowMs: 30 * 60 * 1000,
  settleGraceMs: 60 * 1000,
  abandonedClaimMs: 180 * 1000
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
    const payments = yield* Payments
    const rawOrders = yield* OrderStore
    const idempotency = yield* Idempotency
    const limiter = yield* RateLimiter
    const retryQueue = yield* PaymentRetryQueue
    const resilience = yield* Resilience
    // Order reads and steps under the `store` policy, both retried: a step is a compare-and-set
    // to an absolute state, so a copy after a landed step writes nothing (internal/storeCall.ts).
    // The insert keeps its own `orderCreation` policy.
    const call = storeCall(resilience, "order")
    const orders: typeof rawOrders = {
      ...rawOrders,
      get: (orderId) => call("retry", rawOrders.get(orderId)),
      step: (next, expectedVersion, stock, events) =>
        call("retry", rawOrders.step(next, expectedVersion, stock, events)),
      refuseUnmade: (orderId) => call("retry", rawOrders.refuseUnmade(orderId))
    }

    const flow = makeOrderFlow({
      orders,
      payments,
      enqueueRetry: (orderId) =>
        RetryDrainer.enqueue(orderId).pipe(
          Effect.provideService(PaymentRetryQueue, retryQueue),
          Effect.provideService(Resilience, resilience)
        ),
      retryWindowMs: config.retryWindowMs,
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

    /**
     * Runs `use` once per (user, key): the answer (201/202 or a final error) is stored and replayed.
     *
     * A stored answer that no longer decodes (stored by an older Till) is answered with the
     * order's current state, read and never driven (`orderOf` finds the order; no rate unit, no
     * charge, no new order): the answer the stored one would have become, since every step of the
     * order is keyed by its id. When there is no order (the first answer was a refusal before one
     * was made: empty cart, out of stock) the key answers `StoredAnswerUnreadable` (409), never a
     * new attempt: a client told "no" must not be charged by a replay.
     */
    const once = <E>(
      userId: string,
      key: string,
      request: unknown,
      resourcePrefix: string,
      orderOf: (resourceId: string) => string,
      use: (resourceId: string, fresh: boolean) => Effect.Effect<Placed, E>
    ) =>
      idempotency.run(
        {
          scope: userId,
          key,
          request,
          resourcePrefix,
          success: PlacedSchema,
          failure: FinalError,
          replayUnreadable: (resourceId) =>
            orders.get(orderOf(resourceId)).pipe(
              Effect.catchTag("StoreUnavailable", () => Effect.succeed(Option.none<Order>())),
              Effect.flatMap(
                (found): Effect.Effect<Placed, FinalError | StoredAnswerUnreadable> =>
                  Option.isSome(found) && found.value.user_id === userId
                    ? flow.answer(found.value)
                    : Effect.fail(new StoredAnswerUnreadable({ key }))
              )
            )
        },
        use
      )

    /**
     * Takes back a cart claimed `abandonedClaimMs` ago or more by an order that was never made:
     * the order's id is refused for good (so a late create of it cannot land), then the cart is
     * given back. False when the claim is younger or its order exists.
     */
    const takeBackAbandoned = (cart: Cart, claimedBy: string) =>
      Effect.gen(function* () {
        const now = yield* Clock.currentTimeMillis
        // Written so an unreadable claim time (NaN) counts as young: such a claim is left alone.
        if (!(now - Date.parse(cart.updated_at) >= config.abandonedClaimMs)) return false
        if (Option.isSome(yield* orders.refuseUnmade(claimedBy))) return false
        yield* carts.reopen(cart.cart_id, claimedBy)
        return true
      })

    /**
     * The cart of a new order, claimed for it: the caller's, active (or claimed by this very
     * order: a retry of a request that stopped after its claim), not empty, and priced at the
     * version claimed. A cart claimed by another order is that order's (409 with its id), unless
     * that order was never made and the claim is old (`takeBackAbandoned`).
     */
    const claimCart = (userId: string, orderId: string, request: CheckoutRequest) =>
      Effect.gen(function* () {
        for (let attempt = 0; attempt < maxCartConflicts; attempt++) {
          const cart = yield* carts.get(userId, request.cart_id)
          const claimedHere = cart.status === "checked_out" && cart.order_id === orderId
          if (cart.status !== "active" && !claimedHere) {
            const claimedBy = cart.status === "checked_out" ? cart.order_id : undefined
            if (claimedBy !== undefined && (yield* takeBackAbandoned(cart, claimedBy))) continue
            return yield* Effect.fail(new CartNotActive({ cartId: cart.cart_id, orderId: cart.order_id }))
          }
          if (cart.items.length === 0) return yield* Effect.fail(new EmptyCart({ cartId: cart.cart_id }))
          const quote = yield* pricing.quote(cart, request.shipping_address)
          if (claimedHere || (yield* carts.claim(cart, orderId)) === "claimed") return { cart, quote }
        }
        return yield* Effect.fail(new CartNotActive({ cartId: request.cart_id }))
      })

    const placeNew = (userId: string, orderId: string, request: CheckoutRequest) =>
      Effect.gen(function* () {
        const { cart, quote } = yield* claimCart(userId, orderId, request)
        const now = yield* Clock.currentTimeMillis
        const at = yield* nowIso
        const holdExpiresAt = now + config.holdMs
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
            updated_at: at,
            version: 1
          })
        )
        const created = yield* resilience
          .withPolicy(
            "orderCreation",
            orders.create(order, [
              orderEvent("order.created", order, at),
              orderEvent("inventory.reserved", order, at, reservedData(order))
            ])
          )
          .pipe(
            // Out of stock: no order, so the cart goes back to its owner to change and try again.
            // Safe although an earlier create of this id may still land (a timed-out attempt, a
            // crashed process's): the store refuses the id for good (OrderStore.create).
            Effect.tapError((error) =>
              error._tag === "OutOfStock" ? Effect.ignore(carts.reopen(cart.cart_id, orderId)) : Effect.void
            )
          )
        // `create` answers the stored order when the id exists: only ever this request's own.
        return yield* Effect.flatMap(ownedBy(created, userId, cart.cart_id), continueOrder)
      })

    /** An order found under this request's id must be this request's: never continue another user's order. */
    const ownedBy = (order: Order, userId: string, cartId: string) =>
      order.user_id === userId && order.cart_id === cartId
        ? Effect.succeed(order)
        : Effect.die(new Error(`order id ${order.order_id} was minted for two requests`))

    const place = Effect.fn("Checkout.place")(function* (input: {
      readonly userId: string
      readonly idempotencyKey: string
      readonly request: CheckoutRequest
    }) {
      return yield* once(
        input.userId,
        input.idempotencyKey,
        Schema.encodeSync(CheckoutRequest)(input.request),
        "ord",
        (orderId) => orderId,
        (orderId, fresh) =>
          // Charged only for new work: a replay of a stored answer (a retried lost 201) never earns a 429.
          Effect.andThen(
            limiter.check("checkout", input.userId),
            // A fresh claim minted the order id just now, so no order has it: no read (a round
            // trip a checkout). A takeover continues the order its first run may have made.
            fresh
              ? placeNew(input.userId, orderId, input.request)
              : Effect.flatMap(orders.get(orderId), (existing) =>
                  Option.isSome(existing)
                    ? Effect.flatMap(
                        ownedBy(existing.value, input.userId, input.request.cart_id),
                        continueOrder
                      )
                    : placeNew(input.userId, orderId, input.request)
                )
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
        // One step: the order back to pending for a new attempt, with that attempt's hold.
        const next = yield* flow.advanceHolding(orderId, (current, at) => {
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
            stock: "hold",
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
      return yield* once(
        input.userId,
        input.idempotencyKey,
        { order_id: input.orderId, ...Schema.encodeSync(PaymentRetryRequest)(input.request) },
        "pay",
        () => input.orderId,
        () =>
          Effect.andThen(
            limiter.check("payment", input.userId),
            payAgain(input.userId, input.orderId, input.request.payment_method_id)
          )
      )
    })

    return Checkout.of({
      place,
      retryPayment,
      resume: Effect.fn("Checkout.resume")((orderId: string) => flow.resume(orderId)),
      getOrder: ownOrder
    })
  })

/** What the checkout needs: the other services and the order, retry-queue ports. */
export type Requirements =
  | Carts
  | Pricing
  | Payments
  | OrderStore
  | Idempotency
  | RateLimiter
  | PaymentRetryQueue
  | Resilience

/**
 * The checkout with the default settings.
 * @category layers
 */
export const layer: Layer.Layer<Checkout, never, Requirements> = Layer.effect(Checkout, make(defaults))

const layers = settingsLayers(Checkout, Config, defaults, make)

/**
 * The checkout with settings given in code, each defaulting to `defaults`; an out-of-bounds value
 * is a defect when the layer is built.
 * @example Checkout.layerWith({ holdMs: 5 * 60_000 })
 * @category layers
 */
export const layerWith = (settings: Partial<Config>): Layer.Layer<Checkout, never, Requirements> =>
  layers.layerWith(settings)

/**
 * The settings from Effect `Config` under `checkout.*`, each defaulting to `base`, then decoded
 * with `Config` (env with `ConfigProvider.constantCase`: `CHECKOUT_HOLD_MS=300000`).
 */
export const config = (base: Config = defaults): EffectConfig.Config<Config> =>
  EffectConfig.all({
    holdMs: EffectConfig.withDefault(EffectConfig.Int("holdMs"), base.holdMs),
    retryWindowMs: EffectConfig.withDefault(EffectConfig.Int("retryWindowMs"), base.retryWindowMs),
    settleGraceMs: EffectConfig.withDefault(EffectConfig.Int("settleGraceMs"), base.settleGraceMs),
    abandonedClaimMs: EffectConfig.withDefault(EffectConfig.Int("abandonedClaimMs"), base.abandonedClaimMs)
  }).pipe(EffectConfig.nested("checkout"), EffectConfig.mapEffect(decodeConfig(Config, "checkout")))

/**
 * The checkout with settings read from `Config` (`config()`): an invalid value fails the layer at
 * startup with a `ConfigError` naming the key.
 * @category layers
 */
export const layerConfig = (
  settings: EffectConfig.Config<Config> = config()
): Layer.Layer<Checkout, EffectConfig.ConfigError, Requirements> => layers.layerConfig(settings)
