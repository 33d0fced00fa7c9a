/**
 * The payment half of the checkout saga, shared by a checkout, a payment retry, the retry
 * drainer and the recovery sweeper. Every step is one `OrderStore.step`: a compare-and-set on
 * the order's version that writes, in one transaction, the new state, the stock movement of
 * the order's current payment attempt (commit on confirm, release on decline or expiry) and
 * the step's events. A step is decided for one payment attempt: an answer about attempt n
 * (a decline, a charge) never moves attempt n+1, however late it lands.
 *
 * Money that moved for an order that is not confirmed with it (a charge that lands after the
 * order expired) is refunded, by a key of its own, and the refund is written as a step of the
 * order (payment `refunded`, event `payment.refunded`) only once the gateway has made it.
 */
import { Clock, Effect, Option, Result } from "effect"
import { OrderNotFound, OrderNotRetryable, PaymentDeclined } from "../Errors.js"
import { Event, type EventType } from "../Event.js"
import type { StockMove } from "../InventoryStore.js"
import * as Money from "../Money.js"
import { canTransition, isInFlight, Order, type OrderStatus, paymentKey } from "../Order.js"
import type { OrderStore } from "../OrderStore.js"
import type { Charge, ChargeNotFound, IdempotencyKeyReused } from "../PaymentGateway.js"
import type { Payments } from "../Payments.js"
import type { Sku } from "../Sku.js"

export interface Deps {
  readonly orders: OrderStore["Service"]
  readonly payments: Payments["Service"]
  /** Puts an order whose payment could not be made (or must be looked at again) on the retry queue. */
  readonly enqueueRetry: (orderId: string) => Effect.Effect<void, unknown>
  readonly retryWindowMs: number
  /**
   * How long after its hold ends an order's payment outcome is final. No charge starts after
   * the hold ends (`pay` refuses), and one that started before ends within the payment
   * policy's worst case (10 s timeout × 3 attempts + 4 s of backoff), so after this grace the
   * gateway's answer for the key no longer changes and the order may be expired. A capture
   * the gateway reports later still is refunded (`resume` of a dead order, reconciliation).
   */
  readonly settleGraceMs: number
}

/** The answer of a checkout or a payment retry: 201 confirmed, 202 payment queued. */
export interface Placed {
  readonly status: 201 | 202
  readonly order: Order
}

export type Step =
  | {
      readonly next: Order
      readonly stock: StockMove | null
      readonly events: ReadonlyArray<Event>
    }
  | undefined

const maxConflicts = 8

export const nowIso = Effect.map(Clock.currentTimeMillis, (ms) => new Date(ms).toISOString())

/** An event of an order; its id is unique per order, type and payment attempt, so a replayed step cannot emit it twice. */
export const orderEvent = (
  type: EventType,
  order: Order,
  occurredAt: string,
  data: Record<string, unknown> = {}
) =>
  new Event({
    event_id: `${order.order_id}/${type}/${order.payment_attempt}`,
    type,
    occurred_at: occurredAt,
    aggregate_id: order.order_id,
    data: {
      order_id: order.order_id,
      user_id: order.user_id,
      status: order.status,
      total: { amount: order.total.amount, currency: order.total.currency },
      ...data
    }
  })

/** The stock lines of an order (or a quote): what its reservation must hold. */
const reservationLines = (priced: {
  readonly items: ReadonlyArray<{ readonly sku: Sku; readonly quantity: number }>
}) => priced.items.map((i) => ({ sku: i.sku, quantity: i.quantity }))

export const reservedData = (order: Order) => ({ lines: reservationLines(order) })

/** Expired or cancelled: holds nothing, and must not keep any money. */
const isDead = (order: Order): boolean => order.status === "expired" || order.status === "cancelled"

/** The gateway key of a refund of `charge`: one refund per charge, however often it is asked. */
export const refundKey = (charge: Pick<Charge, "charge_id">): string => `refund:${charge.charge_id}`

/**
 * The saga's keys rule these out (one payment key per attempt with the order's fixed total, one
 * refund key per charge, charge ids from the gateway): meeting one is a bug, never an answer.
 */
export const keyMisuse = (what: string) => (error: IdempotencyKeyReused | ChargeNotFound) =>
  Effect.die(new Error(`${what}: ${error.message}`))

export const makeOrderFlow = (deps: Deps) => {
  const { orders, payments } = deps

  const load = (orderId: string) =>
    orders.get(orderId).pipe(
      Effect.flatMap(
        Option.match({
          onNone: () => Effect.fail(new OrderNotFound({ orderId })),
          onSome: Effect.succeed
        })
      )
    )

  /**
   * Applies `decide` to the current order as a compare-and-set on its version, retrying on
   * conflicts. Only a step that holds stock can be short of it (`advanceHolding`); for the
   * others the store's OutOfStock would be a broken contract.
   */
  const advance = (orderId: string, decide: (current: Order, at: string) => Step, known?: Order) =>
    advanceHolding(orderId, decide, known).pipe(
      Effect.catchTag("OutOfStock", (short) =>
        Effect.die(new Error(`order ${orderId}: a step without a hold answered ${short.message}`))
      )
    )

  const advanceHolding = (orderId: string, decide: (current: Order, at: string) => Step, known?: Order) =>
    Effect.gen(function* () {
      // Round -1 decides on `known`, an order as the store answered it a moment ago (just created,
      // or just read), sparing a read (one round trip a checkout). A stale `known` finds its
      // version moved and writes nothing; one that calls for no step is never answered unread.
      // Either way the rounds that follow read, as without it.
      for (let attempt = known === undefined ? 0 : -1; attempt < maxConflicts; attempt++) {
        const current = attempt < 0 && known !== undefined ? known : yield* load(orderId)
        const step = decide(current, yield* nowIso)
        if (step === undefined) {
          if (attempt < 0) continue
          return current
        }
        if (step.next.status !== current.status && !canTransition(current.status, step.next.status)) {
          return yield* Effect.die(
            new Error(`order ${orderId}: ${current.status} -> ${step.next.status} is not allowed`)
          )
        }
        const written = yield* orders.step(step.next, current.version, step.stock, step.events)
        if (Option.isSome(written)) return written.value
      }
      return yield* Effect.die(new Error(`order ${orderId} kept changing under ${maxConflicts} attempts`))
    })

  /** A step of payment attempt `attempt` of an in-flight order to `status`; none once the order moved on. */
  const moveTo =
    (
      status: OrderStatus,
      attempt: number,
      stock: StockMove | null,
      patch: (current: Order) => Partial<Order>,
      events: ReadonlyArray<EventType>
    ) =>
    (current: Order, at: string): Step => {
      if (!isInFlight(current.status) || current.payment_attempt !== attempt) return undefined
      if (!canTransition(current.status, status)) return undefined
      const next = new Order({ ...current, ...patch(current), status, updated_at: at })
      return { next, stock, events: events.map((type) => orderEvent(type, next, at)) }
    }

  /** Writes that a charge of a dead order was refunded (once: a second look finds it written). */
  const recordRefund = (orderId: string, charge: Charge) =>
    advance(orderId, (current, at) => {
      if (!isDead(current) || current.payment?.status === "refunded") return undefined
      const next = new Order({
        ...current,
        payment: {
          status: "refunded",
          brand: charge.brand,
          last4: charge.last4,
          charge_id: charge.charge_id
        },
        updated_at: at
      })
      return { next, stock: null, events: [orderEvent("payment.refunded", next, at)] }
    })

  /**
   * Gives back a charge that no confirmed order kept, and writes the refund on the order. The
   * order goes on the retry queue first, so if the refund fails its `resume` finds the charge
   * by key and refunds it then.
   */
  const refundCharge = (order: Order, charge: Charge) =>
    Effect.gen(function* () {
      if (charge.status === "refunded") {
        yield* recordRefund(order.order_id, charge)
        return
      }
      yield* Effect.ignore(deps.enqueueRetry(order.order_id))
      yield* payments.refund(charge.charge_id, refundKey(charge)).pipe(
        Effect.catchTags({
          IdempotencyKeyReused: keyMisuse(`order ${order.order_id}`),
          ChargeNotFound: keyMisuse(`order ${order.order_id}`)
        })
      )
      yield* recordRefund(order.order_id, charge)
    })

  const confirm = (order: Order, charge: Charge) =>
    Effect.gen(function* () {
      const result = yield* advance(
        order.order_id,
        moveTo(
          "confirmed",
          order.payment_attempt,
          "commit",
          () => ({
            payment: {
              status: "succeeded",
              brand: charge.brand,
              last4: charge.last4,
              charge_id: charge.charge_id
            }
          }),
          ["order.confirmed", "payment.succeeded"]
        ),
        order
      )
      if (result.status === "confirmed" && result.payment?.charge_id === charge.charge_id) return result
      // The money moved but no order keeps it (the order died meanwhile): give it back.
      yield* Effect.ignore(refundCharge(result, charge))
      return yield* load(order.order_id)
    })

  const decline = (order: Order, declineCode: string) =>
    Effect.gen(function* () {
      const now = yield* Clock.currentTimeMillis
      return yield* advance(
        order.order_id,
        moveTo(
          "payment_failed",
          order.payment_attempt,
          "release",
          () => ({
            payment: { status: "failed", brand: null, last4: null, decline_code: declineCode },
            retry_until: now + deps.retryWindowMs
          }),
          ["order.payment_failed", "payment.failed", "inventory.released"]
        ),
        order
      )
    })

  const queue = (order: Order) =>
    Effect.gen(function* () {
      const result = yield* advance(
        order.order_id,
        (current, at) =>
          current.status === "pending"
            ? moveTo(
                "payment_pending",
                order.payment_attempt,
                null, // the hold stays: a queued payment keeps its stock

                () => ({ payment: { status: "pending", brand: null, last4: null } }),
                ["payment.queued"]
              )(current, at)
            : undefined,
        order
      )
      // Queued, or died (expired, cancelled) while this attempt's outcome is unknown: either way
      // a later look is owed, to charge it or to refund a charge that lands after all.
      if (result.status === "payment_pending" || isDead(result))
        yield* Effect.ignore(deps.enqueueRetry(order.order_id))
      return result
    })

  const expire = (order: Order) =>
    advance(
      order.order_id,
      moveTo("expired", order.payment_attempt, "release", () => ({}), [
        "order.expired",
        "inventory.released"
      ]),
      order
    )

  /** The answer a client gets for an order in this state. */
  const answer = (order: Order): Effect.Effect<Placed, PaymentDeclined | OrderNotRetryable> => {
    if (order.status === "payment_failed") {
      return Effect.fail(
        new PaymentDeclined({
          orderId: order.order_id,
          declineCode: order.payment?.decline_code ?? "declined"
        })
      )
    }
    if (isDead(order)) {
      return Effect.fail(
        new OrderNotRetryable({
          orderId: order.order_id,
          status: order.status,
          reason:
            order.status === "expired"
              ? "its stock hold expired before the payment went through"
              : "it was cancelled; any charge is refunded"
        })
      )
    }
    return Effect.succeed<Placed>({ status: order.status === "confirmed" ? 201 : 202, order })
  }

  /** Step 4 of the saga: charge the current attempt and settle the order on the outcome. */
  const pay = (order: Order) =>
    Effect.gen(function* () {
      // A charge that started after the hold could land after the order expired: don't start one.
      if ((yield* Clock.currentTimeMillis) >= order.hold_expires_at) return order
      const charged = yield* Effect.result(
        payments
          .charge({
            idempotencyKey: paymentKey(order),
            amount: order.total,
            paymentMethodId: order.payment_method_id
          })
          .pipe(Effect.catchTag("IdempotencyKeyReused", keyMisuse(`order ${order.order_id}`)))
      )
      if (Result.isSuccess(charged)) return yield* confirm(order, charged.success)
      if (charged.failure._tag === "GatewayDeclined")
        return yield* decline(order, charged.failure.declineCode)
      return yield* queue(order)
    })

  /**
   * Drives an order forward after the fact (retry drainer, recovery sweeper): asks the
   * gateway what happened to the current attempt before charging again, because a charge
   * may have succeeded with its response lost. "retry" means: try again later.
   */
  const resume = (orderId: string) =>
    Effect.gen(function* () {
      const found = yield* orders.get(orderId)
      if (Option.isNone(found)) return "done" as const
      const order = found.value
      if (!isInFlight(order.status)) {
        if (!isDead(order) || order.payment?.status === "refunded") return "done" as const
        // A charge of this attempt may have landed after the order died: refund it.
        const late = yield* Effect.result(payments.retrieve(paymentKey(order)))
        if (Result.isFailure(late)) return "retry" as const
        const known = Option.getOrUndefined(late.success)
        if (known?._tag === "Succeeded") {
          const refunded = yield* Effect.result(refundCharge(order, known.charge))
          if (Result.isFailure(refunded)) return "retry" as const
        }
        return "done" as const
      }
      const lookup = yield* Effect.result(payments.retrieve(paymentKey(order)))
      if (Result.isFailure(lookup)) return "retry" as const
      if (Option.isSome(lookup.success)) {
        const known = lookup.success.value
        if (known._tag === "Succeeded") yield* confirm(order, known.charge)
        else yield* decline(order, known.declineCode)
        return "done" as const
      }
      const now = yield* Clock.currentTimeMillis
      if (now >= order.hold_expires_at + deps.settleGraceMs) {
        yield* expire(order)
        return "done" as const
      }
      // Past the hold but inside the grace: a charge may still be landing; look again later.
      if (now >= order.hold_expires_at) return "retry" as const
      const settled = yield* pay(order)
      return isInFlight(settled.status) ? ("retry" as const) : ("done" as const)
    })

  return { load, advance, advanceHolding, confirm, decline, queue, expire, answer, pay, resume }
}

export type OrderFlow = ReturnType<typeof makeOrderFlow>

/** Totals must agree with the lines: an order whose total is off is a bug, never charged. */
export const checkTotals = (order: Order): Effect.Effect<Order> => {
  const expected = Money.sum(order.total.currency, [order.subtotal, order.tax, order.shipping])
  return Result.isSuccess(expected) && Money.equals(expected.success, order.total)
    ? Effect.succeed(order)
    : Effect.die(new Error(`order ${order.order_id}: total does not equal subtotal + tax + shipping`))
}
