/**
 * The payment half of the checkout saga, shared by a checkout, a payment retry, the retry
 * drainer and the recovery sweeper. Every step is a compare-and-set on the order's status
 * (`advance`), so two processes driving one order cannot both move it; the side effects
 * that follow a step (commit or release stock, refund) are idempotent and are repeated by
 * the sweeper if a crash cut them off.
 */
import { Clock, Effect, Option, Result } from "effect"
import { OrderNotFound, OrderNotRetryable, PaymentDeclined } from "../Errors.js"
import { Event, type EventType } from "../Event.js"
import type { Inventory } from "../Inventory.js"
import * as Money from "../Money.js"
import { canTransition, isInFlight, Order, type OrderStatus, paymentKey } from "../Order.js"
import type { OrderStore } from "../OrderStore.js"
import type { Charge } from "../PaymentGateway.js"
import type { Payments } from "../Payments.js"
import type { Sku } from "../Sku.js"

export interface Deps {
  readonly orders: OrderStore["Service"]
  readonly inventory: Inventory["Service"]
  readonly payments: Payments["Service"]
  /** Puts an order whose payment could not be made on the retry queue. */
  readonly enqueueRetry: (orderId: string) => Effect.Effect<void, unknown>
  readonly retryWindowMs: number
  /** How long stock is held when a lost hold has to be taken again. */
  readonly holdMs: number
  /**
   * How long after its hold ends an order's payment outcome is final. No charge starts after
   * the hold ends (`pay` refuses), and one that started before ends within the payment
   * policy's worst case (10 s timeout × 3 attempts + 4 s of backoff), so after this grace the
   * gateway's answer for the key no longer changes and the order may be expired.
   */
  readonly settleGraceMs: number
}

/** The answer of a checkout or a payment retry: 201 confirmed, 202 payment queued. */
export interface Placed {
  readonly status: 201 | 202
  readonly order: Order
}

type Step = { readonly next: Order; readonly events: ReadonlyArray<Event> } | undefined

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
export const reservationLines = (priced: {
  readonly items: ReadonlyArray<{ readonly sku: Sku; readonly quantity: number }>
}) => priced.items.map((i) => ({ sku: i.sku, quantity: i.quantity }))

export const reservedData = (order: Order) => ({ lines: reservationLines(order) })

/** Expired or cancelled: holds nothing, and must not keep any money. */
const isDead = (order: Order): boolean => order.status === "expired" || order.status === "cancelled"

export const makeOrderFlow = (deps: Deps) => {
  const { orders, inventory, payments } = deps

  const load = (orderId: string) =>
    orders.get(orderId).pipe(
      Effect.flatMap(
        Option.match({
          onNone: () => Effect.fail(new OrderNotFound({ orderId })),
          onSome: Effect.succeed
        })
      )
    )

  /** Applies `decide` to the current order as a compare-and-set, retrying on conflicts. */
  const advance = (orderId: string, decide: (current: Order, at: string) => Step) =>
    Effect.gen(function* () {
      for (let attempt = 0; attempt < maxConflicts; attempt++) {
        const current = yield* load(orderId)
        const step = decide(current, yield* nowIso)
        if (step === undefined) return current
        if (!canTransition(current.status, step.next.status)) {
          return yield* Effect.die(
            new Error(`order ${orderId}: ${current.status} -> ${step.next.status} is not allowed`)
          )
        }
        const updated = yield* orders.update(step.next, current.status, step.events)
        if (Option.isSome(updated)) return updated.value
      }
      return yield* Effect.die(new Error(`order ${orderId} kept changing under ${maxConflicts} attempts`))
    })

  const moveTo =
    (status: OrderStatus, patch: (current: Order) => Partial<Order>, events: ReadonlyArray<EventType>) =>
    (current: Order, at: string): Step => {
      if (!isInFlight(current.status) || !canTransition(current.status, status)) return undefined
      const next = new Order({ ...current, ...patch(current), status, updated_at: at })
      return { next, events: events.map((type) => orderEvent(type, next, at)) }
    }

  /** The stock side of an order's state, made true again (idempotent). */
  const reconcileStock = (order: Order) =>
    order.status === "confirmed"
      ? inventory.commit(order.order_id)
      : isInFlight(order.status)
        ? Effect.void
        : inventory.release(order.order_id)

  /**
   * Makes sure the order still holds its stock before it is confirmed. A hold can be lost
   * (released by the sweeper once it expired); it is taken again if the units are still
   * there, and if they are not the order is cancelled and the charge refunded: a paid order
   * is never confirmed without stock.
   */
  const ensureHeld = (order: Order) =>
    Effect.gen(function* () {
      const held = yield* inventory.get(order.order_id)
      if (Option.isSome(held) && held.value.status !== "released") return true
      const now = yield* Clock.currentTimeMillis
      const again = yield* Effect.result(
        inventory.reserve(order.order_id, reservationLines(order), now + deps.holdMs)
      )
      if (Result.isSuccess(again)) return true
      if (again.failure._tag === "OutOfStock") return false
      return yield* Effect.fail(again.failure)
    })

  /**
   * Gives back money that moved for an order that died. The order goes on the retry queue
   * first, so if this refund fails its `resume` finds the charge by key and refunds it then.
   */
  const refundLate = (order: Order, charge: Charge) =>
    charge.status === "succeeded"
      ? Effect.andThen(
          Effect.ignore(deps.enqueueRetry(order.order_id)),
          Effect.ignore(payments.refund(charge.charge_id))
        )
      : Effect.void

  const confirm = (order: Order, charge: Charge) =>
    Effect.gen(function* () {
      if (!(yield* ensureHeld(order))) {
        const cancelled = yield* advance(
          order.order_id,
          moveTo("cancelled", () => ({}), ["order.cancelled", "payment.refunded"])
        )
        if (cancelled.status !== "confirmed") yield* refundLate(cancelled, charge)
        yield* reconcileStock(cancelled)
        return cancelled
      }
      const result = yield* advance(
        order.order_id,
        moveTo(
          "confirmed",
          () => ({
            payment: {
              status: "succeeded",
              brand: charge.brand,
              last4: charge.last4,
              charge_id: charge.charge_id
            }
          }),
          ["order.confirmed", "payment.succeeded"]
        )
      )
      yield* reconcileStock(result)
      if (result.status !== "confirmed") {
        // The money moved but the order died meanwhile (expired or cancelled): give it back.
        yield* refundLate(result, charge)
      }
      return result
    })

  const decline = (order: Order, declineCode: string) =>
    Effect.gen(function* () {
      const now = yield* Clock.currentTimeMillis
      const result = yield* advance(
        order.order_id,
        moveTo(
          "payment_failed",
          () => ({
            payment: { status: "failed", brand: null, last4: null, decline_code: declineCode },
            retry_until: now + deps.retryWindowMs
          }),
          ["order.payment_failed", "payment.failed", "inventory.released"]
        )
      )
      yield* reconcileStock(result)
      return result
    })

  const queue = (order: Order) =>
    Effect.gen(function* () {
      const result = yield* advance(order.order_id, (current, at) =>
        current.status === "pending"
          ? moveTo("payment_pending", () => ({ payment: { status: "pending", brand: null, last4: null } }), [
              "payment.queued"
            ])(current, at)
          : undefined
      )
      // Queued, or died (expired, cancelled) while this attempt's outcome is unknown: either way
      // a later look is owed, to charge it or to refund a charge that lands after all.
      if (result.status === "payment_pending" || isDead(result))
        yield* Effect.ignore(deps.enqueueRetry(order.order_id))
      return result
    })

  const expire = (order: Order) =>
    Effect.gen(function* () {
      const result = yield* advance(
        order.order_id,
        moveTo("expired", () => ({}), ["order.expired", "inventory.released"])
      )
      yield* reconcileStock(result)
      return result
    })

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
        payments.charge({
          idempotencyKey: paymentKey(order),
          amount: order.total,
          paymentMethodId: order.payment_method_id
        })
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
        yield* reconcileStock(order)
        if (!isDead(order)) return "done" as const
        // A charge of this attempt may have landed after the order died: refund it.
        const late = yield* Effect.result(payments.retrieve(paymentKey(order)))
        if (Result.isFailure(late)) return "retry" as const
        const known = Option.getOrUndefined(late.success)
        if (known?._tag === "Succeeded" && known.charge.status === "succeeded") {
          const refunded = yield* Effect.result(payments.refund(known.charge.charge_id))
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

  return { load, advance, confirm, decline, queue, expire, answer, pay, resume, reconcileStock }
}

export type OrderFlow = ReturnType<typeof makeOrderFlow>

/** Totals must agree with the lines: an order whose total is off is a bug, never charged. */
export const checkTotals = (order: Order): Effect.Effect<Order> => {
  const expected = Money.sum(order.total.currency, [order.subtotal, order.tax, order.shipping])
  return Result.isSuccess(expected) && Money.equals(expected.success, order.total)
    ? Effect.succeed(order)
    : Effect.die(new Error(`order ${order.order_id}: total does not equal subtotal + tax + shipping`))
}
