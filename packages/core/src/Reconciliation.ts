/**
 * Reconciliation: the gateway's record of the money that moved, checked against the orders.
 *
 * Why: the saga, the retry drainer and the sweeper stop asking about an order once it is final,
 * and expiry trusts the gateway's silence after the settle grace (orderFlow). A gateway that
 * answered a charge call with a failure and captured it much later still (review bug 10) leaves
 * money that no order keeps and nothing looks at again. So every succeeded capture since a time
 * (`PaymentGateway.captures`) is matched to its order by its key (`Order.parsePaymentKey`):
 *
 * - kept: the order is confirmed with that charge, or the charge is refunded already;
 * - the key is the order's current payment attempt: `Checkout.resume` drives the order, which
 *   confirms an in-flight order with it, or refunds a dead (expired, cancelled) order's charge
 *   and writes it on the order (payment `refunded`, event `payment.refunded`);
 * - no order has the key, or it is an attempt other than the order's current one (the saga
 *   never charges one: a new attempt follows only a decline), or a second charge for a
 *   confirmed order's key: refunded here under the charge's refund key, and logged as an error.
 *
 * Safe to run on every instance at once and over the same captures again: `resume` steps are
 * compare-and-set and refunds are keyed by charge (`refund:<charge_id>`, the saga's key too).
 * The gateway account must be Till's alone: a capture under a key that is no order's is refunded.
 */
import { Clock, Effect, Option, Ref, Schedule } from "effect"
import { Checkout } from "./Checkout.js"
import { keyMisuse, refundKey } from "./internal/orderFlow.js"
import { type Order, parsePaymentKey } from "./Order.js"
import { OrderStore } from "./OrderStore.js"
import { type Charge, maxCapturesPerPage } from "./PaymentGateway.js"
import { Payments } from "./Payments.js"

export interface Options {
  /** Captures read per page (1..100, the gateway's page limit). */
  readonly limit: number
  /** Captures settled at once. */
  readonly concurrency: number
  /**
   * `runEvery`: how far back each scan starts. A gateway may stamp a capture with the time it
   * was asked (Stripe's `created`) and show it only later, so a scan must reach back past the
   * longest a charge can take to appear: the hold (15 min) + settle grace (60 s) + the payment
   * policy's worst case (34 s) by default. An hour covers that with room.
   */
  readonly lookbackMs: number
  /** `runEvery`: most pages read per run (a run is a batch, not a scan of everything). */
  readonly pagesPerRun: number
  /**
   * `runEvery`: a capture younger than this is left to the checkout still running it (the next
   * scan looks again). Resuming it meanwhile is safe (compare-and-set steps) but doubles the work
   * where it costs most: at saturation behind a slow gateway a run would resume every order still
   * in flight, each asking the gateway again. The saga's worst case is the payment policy's 34 s
   * plus the 60 s settle grace: 2 minutes covers it with room.
   */
  readonly minAgeMs: number
  /** `reconcileOnce`: captures made at or after this time are counted `capturesTooRecent` and left. */
  readonly capturedBeforeMs: number
}

export const defaults: Options = {
  limit: maxCapturesPerPage,
  concurrency: 4,
  lookbackMs: 60 * 60 * 1000,
  pagesPerRun: 10,
  minAgeMs: 2 * 60 * 1000,
  capturedBeforeMs: Number.POSITIVE_INFINITY
}

export interface Report {
  /** Captures read (refunded ones included). */
  readonly capturesRead: number
  /** Captures kept by the order confirmed with them, or refunded already: nothing to do. */
  readonly capturesSettled: number
  /** Orders driven by `Checkout.resume` that now keep their capture or have refunded it. */
  readonly ordersResumed: number
  /** Captures no order's current payment attempt owns, refunded here. */
  readonly strayCapturesRefunded: number
  /** Captures not settled this time (a store or gateway failure, an order `resume` left as it was); the next scan looks again. */
  readonly capturesLeftForLater: number
  /** Captures made at or after `capturedBeforeMs`, left to the checkout still running them. */
  readonly capturesTooRecent: number
  /** Where the next page starts; null when this page reached the end. */
  readonly cursor: string | null
}

type Outcome = "settled" | "resumed" | "refunded" | "later" | "recent"

/** Whether the order (as stored now) accounts for `charge`: keeps it, or has refunded it. */
const accountsFor = (order: Pick<Order, "status" | "payment">, charge: Charge): boolean =>
  order.payment?.charge_id === charge.charge_id &&
  ((order.status === "confirmed" && order.payment.status === "succeeded") ||
    order.payment.status === "refunded")

const settleCapture = Effect.fnUntraced(function* (charge: Charge) {
  if (charge.status === "refunded") return "settled" as const
  const orders = yield* OrderStore
  const checkout = yield* Checkout
  const payments = yield* Payments
  const { orderId, attempt } = parsePaymentKey(charge.idempotency_key)
  const found = yield* orders.get(orderId)
  if (Option.isSome(found) && accountsFor(found.value, charge)) return "settled" as const

  const stray = Option.isNone(found)
    ? "no order has its key"
    : attempt !== found.value.payment_attempt
      ? `it is payment attempt ${attempt} of an order at attempt ${found.value.payment_attempt}`
      : found.value.status === "confirmed"
        ? `its order is confirmed with another charge (${found.value.payment?.charge_id})`
        : undefined
  if (stray !== undefined) {
    yield* payments.refund(charge.charge_id, refundKey(charge)).pipe(
      Effect.catchTags({
        IdempotencyKeyReused: keyMisuse(`capture ${charge.charge_id}`),
        ChargeNotFound: keyMisuse(`capture ${charge.charge_id}`)
      })
    )
    yield* Effect.logError(`reconciliation refunded capture ${charge.charge_id}: ${stray}`).pipe(
      Effect.annotateLogs({ charge_id: charge.charge_id, idempotency_key: charge.idempotency_key })
    )
    return "refunded" as const
  }

  yield* checkout.resume(orderId)
  const after = yield* orders.get(orderId)
  if (Option.isSome(after) && accountsFor(after.value, charge)) return "resumed" as const
  yield* Effect.logWarning(
    `reconciliation: capture ${charge.charge_id} is not settled by its order yet`
  ).pipe(
    Effect.annotateLogs({
      charge_id: charge.charge_id,
      order_id: orderId,
      status: Option.isSome(after) ? after.value.status : "missing"
    })
  )
  return "later" as const
})

/**
 * Settles one page of the captures made at or after `sinceMs`, from `cursor` (the previous
 * page's `Report.cursor`; null for the first).
 *
 * @example const report = yield* Reconciliation.reconcileOnce(Date.now() - 3_600_000)
 */
export const reconcileOnce = Effect.fn("Reconciliation.reconcileOnce")(function* (
  sinceMs: number,
  options: Partial<Options> = {},
  cursor: string | null = null
) {
  const { limit, concurrency, capturedBeforeMs } = { ...defaults, ...options }
  const payments = yield* Payments
  const page = yield* payments.captures(sinceMs, cursor, limit)
  const outcomes: ReadonlyArray<Outcome> = yield* Effect.forEach(
    page.captures,
    (charge) =>
      charge.captured_at_ms >= capturedBeforeMs
        ? Effect.succeed("recent" as const)
        : settleCapture(charge).pipe(Effect.orElseSucceed(() => "later" as const)),
    { concurrency }
  )
  const count = (outcome: Outcome) => outcomes.filter((o) => o === outcome).length
  return {
    capturesRead: page.captures.length,
    capturesSettled: count("settled"),
    ordersResumed: count("resumed"),
    strayCapturesRefunded: count("refunded"),
    capturesLeftForLater: count("later"),
    capturesTooRecent: count("recent"),
    cursor: page.nextCursor
  } satisfies Report
})

interface Scan {
  readonly sinceMs: number
  readonly cursor: string | null
}

/**
 * Runs scans on a schedule (default every minute) until interrupted: each scan starts
 * `lookbackMs` back and pages forward, at most `pagesPerRun` pages per run, keeping its place
 * between runs (its own cursor, as `Recovery.runEvery` does); a scan that reached the end starts
 * again. Captures younger than `minAgeMs` are left to their checkouts (a later scan, which starts
 * `lookbackMs` back again, sees them). Failures are logged, the scan starts afresh and the loop
 * goes on.
 */
export const runEvery = (
  interval: Schedule.Schedule<unknown> = Schedule.spaced("1 minute"),
  options: Partial<Options> = {}
) => {
  const { lookbackMs, pagesPerRun, minAgeMs } = { ...defaults, ...options }
  return Effect.flatMap(Ref.make<Scan | null>(null), (scan) => {
    const page = Effect.gen(function* () {
      const nowMs = yield* Clock.currentTimeMillis
      const current = (yield* Ref.get(scan)) ?? { sinceMs: nowMs - lookbackMs, cursor: null }
      const report = yield* reconcileOnce(
        current.sinceMs,
        { ...options, capturedBeforeMs: nowMs - minAgeMs },
        current.cursor
      )
      yield* Ref.set(scan, report.cursor === null ? null : { ...current, cursor: report.cursor })
      if (report.ordersResumed + report.strayCapturesRefunded + report.capturesLeftForLater > 0) {
        yield* Effect.logInfo("reconciliation", report)
      }
      return report.cursor === null
    })
    const run = Effect.gen(function* () {
      for (let n = 0; n < pagesPerRun; n++) if (yield* page) return
    })
    return run.pipe(
      Effect.catchCause((cause) =>
        Effect.andThen(Ref.set(scan, null), Effect.logWarning("reconciliation run failed", cause))
      ),
      Effect.repeat(interval),
      Effect.asVoid
    )
  })
}
