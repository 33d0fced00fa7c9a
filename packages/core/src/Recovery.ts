/**
 * Crash recovery, safe to run on every instance at once (each step is a compare-and-set):
 * 1. every order still `pending` or `payment_pending` after `staleAfterMs` is driven forward:
 *    the gateway is asked what happened to its payment attempt before anything is charged
 *    (the charge may have succeeded with its response lost), and an order whose hold has
 *    expired with no charge is expired;
 * 2. every reservation whose hold expired is settled against its order: committed for a
 *    confirmed order, released for a dead order or for none (a crash between reserve and
 *    order insert).
 */
import { Clock, Effect, Option, Schedule } from "effect"
import { Checkout } from "./Checkout.js"
import { Inventory } from "./Inventory.js"
import { InventoryStore } from "./InventoryStore.js"
import { OrderStore } from "./OrderStore.js"

export interface Options {
  /** Orders younger than this are left to the request that is driving them. */
  readonly staleAfterMs: number
  /** Most orders and most holds handled per run (a run is a batch, not a scan of everything). */
  readonly limit: number
  /**
   * How long after its expiry a hold with no order is left alone: a checkout may still be
   * inserting that order (its idempotency lease, 60 s, plus the order-creation policy's
   * worst case), and releasing under it would sell stock it is about to confirm.
   */
  readonly orphanGraceMs: number
}

export const defaults: Options = { staleAfterMs: 60_000, limit: 500, orphanGraceMs: 5 * 60_000 }

export interface Report {
  readonly ordersResumed: number
  readonly ordersLeftForLater: number
  readonly holdsSettled: number
}

export const recoverOrders = Effect.fn("Recovery.recoverOrders")(function* (options: Partial<Options> = {}) {
  const { staleAfterMs, limit, orphanGraceMs } = { ...defaults, ...options }
  const checkout = yield* Checkout
  const orders = yield* OrderStore
  const inventory = yield* Inventory
  const store = yield* InventoryStore
  const now = yield* Clock.currentTimeMillis

  const stale = yield* orders.listByStatus(
    ["pending", "payment_pending"],
    new Date(now - staleAfterMs).toISOString(),
    limit
  )
  const outcomes = yield* Effect.forEach(
    stale,
    (order) => checkout.resume(order.order_id).pipe(Effect.orElseSucceed(() => "retry" as const)),
    { concurrency: 4 }
  )

  // Holds that outlived their order's payment window (or an order that never got written).
  // An order's hold is settled by `resume`, which brings the stock in line with the order
  // (commit when confirmed, release when dead); orders step 1 just resumed are not asked twice.
  const resumed = new Set(stale.map((order) => order.order_id))
  const expired = yield* store.expiredHolds(now, limit)
  let holdsSettled = 0
  for (const hold of expired) {
    if (resumed.has(hold.order_id)) continue
    const order = yield* orders.get(hold.order_id)
    if (Option.isSome(order)) {
      yield* checkout.resume(hold.order_id).pipe(Effect.ignore)
    } else if (hold.hold_expires_at + orphanGraceMs <= now) {
      yield* inventory.release(hold.order_id).pipe(Effect.ignore)
    } else {
      continue // an order-less hold inside its grace: its checkout may still be writing the order
    }
    holdsSettled++
  }
  return {
    ordersResumed: outcomes.filter((o) => o === "done").length,
    ordersLeftForLater: outcomes.filter((o) => o === "retry").length,
    holdsSettled
  } satisfies Report
})

/** Runs `recoverOrders` on a schedule (default every 30 s) until interrupted; failures are logged and the loop goes on. */
export const runEvery = (
  interval: Schedule.Schedule<unknown> = Schedule.spaced("30 seconds"),
  options: Partial<Options> = {}
) =>
  recoverOrders(options).pipe(
    Effect.catchCause((cause) => Effect.logWarning("recovery run failed", cause)),
    Effect.repeat(interval),
    Effect.asVoid
  )
