/**
 * Crash recovery, safe to run on every instance at once (each step is a compare-and-set on the
 * order's version): every order still `pending` or `payment_pending` after `staleAfterMs` is
 * driven forward. The gateway is asked what happened to its payment attempt before anything is
 * charged (the charge may have succeeded with its response lost), and an order whose hold has
 * expired with no charge is expired, releasing its stock in the same step.
 *
 * Holds need no sweep of their own: a hold is made, committed and released only with its
 * order's steps, so a held reservation always belongs to an in-flight order, which this drives.
 *
 * A run reads at most `limit` orders, from where the previous run stopped (`Report.cursor`),
 * so orders that stay stuck (a gateway that keeps failing) do not hide the ones behind them.
 */
import { Clock, Effect, Ref, Schedule } from "effect"
import { Checkout } from "./Checkout.js"
import { storeCall } from "./internal/storeCall.js"
import { OrderStore } from "./OrderStore.js"
import { Resilience } from "./Resilience.js"

export interface Options {
  /** Orders younger than this are left to the request that is driving them. */
  readonly staleAfterMs: number
  /** Most orders handled per run (a run is a batch, not a scan of everything). */
  readonly limit: number
}

export const defaults: Options = { staleAfterMs: 60_000, limit: 500 }

export interface Report {
  readonly ordersResumed: number
  readonly ordersLeftForLater: number
  /** Where the next run starts; null when this run reached the end. */
  readonly cursor: string | null
}

export const recoverOrders = Effect.fn("Recovery.recoverOrders")(function* (
  options: Partial<Options> = {},
  cursor: string | null = null
) {
  const { staleAfterMs, limit } = { ...defaults, ...options }
  const checkout = yield* Checkout
  const orders = yield* OrderStore
  const now = yield* Clock.currentTimeMillis

  // A read under the `store` policy, retried (internal/storeCall.ts).
  const page = yield* storeCall(yield* Resilience, "order")(
    "retry",
    orders.listByStatus(
      ["pending", "payment_pending"],
      new Date(now - staleAfterMs).toISOString(),
      limit,
      cursor
    )
  )
  const outcomes = yield* Effect.forEach(
    page.orders,
    (order) => checkout.resume(order.order_id).pipe(Effect.orElseSucceed(() => "retry" as const)),
    { concurrency: 4 }
  )
  return {
    ordersResumed: outcomes.filter((o) => o === "done").length,
    ordersLeftForLater: outcomes.filter((o) => o === "retry").length,
    cursor: page.nextCursor
  } satisfies Report
})

/** Runs `recoverOrders` on a schedule (default every 30 s) until interrupted, each run after the last; failures are logged and the loop goes on. */
export const runEvery = (
  interval: Schedule.Schedule<unknown> = Schedule.spaced("30 seconds"),
  options: Partial<Options> = {}
) =>
  Effect.flatMap(Ref.make<string | null>(null), (cursor) =>
    Ref.get(cursor).pipe(
      Effect.flatMap((from) => recoverOrders(options, from)),
      Effect.flatMap((report) => Ref.set(cursor, report.cursor)),
      Effect.catchCause((cause) =>
        Effect.andThen(Ref.set(cursor, null), Effect.logWarning("recovery run failed", cause))
      ),
      Effect.repeat(interval),
      Effect.asVoid
    )
  )
