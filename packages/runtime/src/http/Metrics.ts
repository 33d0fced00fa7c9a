/**
 * The seed's metrics the HTTP service records, beside those core and the adapters publish
 * (breaker state, rate-limit rejections, payment retry-queue depth, outbox lag, pool usage,
 * degradation level). All are Effect `Metric`s, served as Prometheus text at `/metrics`.
 *
 * Rates are counters, as Prometheus expects; the seed's ratios are queries:
 * - checkout completion rate: `sum(rate(till_checkouts_total{outcome="confirmed"}[5m])) / sum(rate(till_checkouts_total[5m]))`
 * - payment success rate: `sum(rate(till_payments_total{outcome="succeeded"}[5m])) / sum(rate(till_payments_total[5m]))`
 * - order-creation latency: `histogram_quantile(0.99, rate(till_order_creation_seconds_bucket[5m]))`
 * - cart abandonment rate: `rate(till_carts_abandoned_total[1h]) / rate(till_carts_created_total[1h])`
 */
import { Abandonment, type Checkout, Errors } from "@till/core"
import { Cause, Clock, Effect, Metric, Option } from "effect"

export const checkouts = Metric.counter("till_checkouts_total", {
  description:
    "Checkouts answered, by outcome: confirmed (201), queued (202), declined (402), refused (any other 4xx), failed (5xx)"
})

export const payments = Metric.counter("till_payments_total", {
  description: "Payments tried by checkouts, by outcome: succeeded, declined, unavailable (queued for retry)"
})

export const orderCreation = Metric.histogram("till_order_creation_seconds", {
  description: "Time to answer a checkout (order created, stock held, payment tried), in seconds",
  boundaries: Metric.exponentialBoundaries({ start: 0.005, factor: 2, count: 12 })
})

export const cartsCreated = Metric.counter("till_carts_created_total", { description: "Carts created" })

/** Counted by the abandoned-cart job (core's Abandonment.ts: a cart idle for an hour gets its reminder). */
export const cartsAbandoned = Abandonment.abandoned

const outcomes = {
  confirmed: Metric.withAttributes(checkouts, { outcome: "confirmed" }),
  queued: Metric.withAttributes(checkouts, { outcome: "queued" }),
  declined: Metric.withAttributes(checkouts, { outcome: "declined" }),
  refused: Metric.withAttributes(checkouts, { outcome: "refused" }),
  failed: Metric.withAttributes(checkouts, { outcome: "failed" })
}

const paid = {
  succeeded: Metric.withAttributes(payments, { outcome: "succeeded" }),
  declined: Metric.withAttributes(payments, { outcome: "declined" }),
  unavailable: Metric.withAttributes(payments, { outcome: "unavailable" })
}

/** `place` (a checkout or a payment retry), counted by outcome and timed. */
export const observeCheckout = <E, R>(
  place: Effect.Effect<Checkout.Placed, E, R>
): Effect.Effect<Checkout.Placed, E, R> =>
  Effect.gen(function* () {
    const started = yield* Clock.currentTimeMillis
    const exit = yield* Effect.exit(place)
    const seconds = ((yield* Clock.currentTimeMillis) - started) / 1000
    if (exit._tag === "Success") {
      yield* Metric.update(orderCreation, seconds)
      if (exit.value.status === 201) {
        yield* Metric.update(outcomes.confirmed, 1)
        yield* Metric.update(paid.succeeded, 1)
      } else {
        yield* Metric.update(outcomes.queued, 1)
        yield* Metric.update(paid.unavailable, 1)
      }
      return exit.value
    }
    // The answer's status decides, as the metric's description says: core's table for its errors,
    // and a defect is a 500.
    const failure = Option.getOrUndefined(Cause.findErrorOption(exit.cause)) as
      | { readonly _tag?: unknown }
      | undefined
    const tag = String(failure?._tag)
    const status = tag in Errors.httpStatus ? Errors.httpStatus[tag as keyof typeof Errors.httpStatus] : 500
    if (tag === "PaymentDeclined") {
      yield* Metric.update(orderCreation, seconds)
      yield* Metric.update(outcomes.declined, 1)
      yield* Metric.update(paid.declined, 1)
    } else yield* Metric.update(status >= 500 ? outcomes.failed : outcomes.refused, 1)
    return yield* exit
  })
