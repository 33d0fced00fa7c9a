/**
 * The invariants of DESIGN.md §3, checked from what really happened, never from what Till says:
 * the stores' own records (stock levels, every reservation, every order) and the money the fake
 * gateway moved, read outside any process after a scenario, against the stock the scenario put
 * on the shelf itself.
 *
 * - **no oversell**: per SKU, units sold (committed) + held <= units received; on hand is exactly
 *   received - sold; reserved is exactly what is held, never negative;
 * - **at most one charge per order**: no payment key moved money twice, no order keeps two live
 *   charges, every confirmed order keeps exactly one for its total, and nothing else keeps one;
 * - **every order terminal**: confirmed, payment_failed, cancelled or expired (none holds stock).
 */
import { Runtime, Schema } from "effect"

export interface Money {
  readonly amount: number
  readonly currency: string
}

/** A snapshot of the stores and the gateway at the end of a scenario. */
export interface Ledger {
  /** Units each SKU was stocked with by the scenario (its own literals). */
  readonly received: ReadonlyMap<string, number>
  readonly levels: ReadonlyArray<{
    readonly sku: string
    readonly on_hand: number
    readonly reserved: number
  }>
  readonly reservations: ReadonlyArray<{
    readonly order_id: string
    readonly status: "held" | "committed" | "released"
    readonly lines: ReadonlyArray<{ readonly sku: string; readonly quantity: number }>
  }>
  readonly orders: ReadonlyArray<{
    readonly order_id: string
    readonly status: string
    readonly total: Money
  }>
  /** Every money movement of the gateway, refunded ones included. */
  readonly charges: ReadonlyArray<{
    readonly idempotency_key: string
    readonly status: "succeeded" | "refunded"
    readonly amount: Money
  }>
}

export type Name = "no oversell" | "at most one charge per order" | "every order terminal"

export const names: ReadonlyArray<Name> = [
  "no oversell",
  "at most one charge per order",
  "every order terminal"
]

export interface Check {
  readonly name: string
  readonly ok: boolean
  /** What was found: the numbers when it holds, the first offenders when it does not. */
  readonly detail: string
}

const plural = (n: number, noun: string) => `${n} ${noun}${n === 1 ? "" : "s"}`

const terminal = new Set(["confirmed", "payment_failed", "cancelled", "expired"])

/** The order of a payment key: `order_id` for the first attempt, `order_id:n` for the n-th. */
const orderOfKey = (key: string) => key.replace(/:[1-9][0-9]*$/, "")

const sumLines = (ledger: Ledger, status: "held" | "committed") => {
  const units = new Map<string, number>()
  for (const r of ledger.reservations)
    if (r.status === status) for (const l of r.lines) units.set(l.sku, (units.get(l.sku) ?? 0) + l.quantity)
  return units
}

const noOversell = (ledger: Ledger): Check => {
  const sold = sumLines(ledger, "committed")
  const held = sumLines(ledger, "held")
  const broken: Array<string> = []
  for (const level of ledger.levels) {
    const received = ledger.received.get(level.sku) ?? 0
    const s = sold.get(level.sku) ?? 0
    const h = held.get(level.sku) ?? 0
    if (s + h > received || level.on_hand !== received - s || level.reserved !== h || level.reserved < 0)
      broken.push(`${level.sku}: received ${received}, sold ${s}, held ${h}, on hand ${level.on_hand}`)
  }
  const totalSold = [...sold.values()].reduce((a, b) => a + b, 0)
  return {
    name: "no oversell",
    ok: broken.length === 0,
    detail: broken.length === 0 ? `${totalSold} sold, within stock` : broken.slice(0, 3).join("; ")
  }
}

const oneChargePerOrder = (ledger: Ledger): Check => {
  const broken: Array<string> = []
  const byKey = new Map<string, number>()
  const live = new Map<string, Array<Money>>()
  for (const c of ledger.charges) {
    byKey.set(c.idempotency_key, (byKey.get(c.idempotency_key) ?? 0) + 1)
    if (c.status === "succeeded") {
      const order = orderOfKey(c.idempotency_key)
      live.set(order, [...(live.get(order) ?? []), c.amount])
    }
  }
  for (const [key, n] of byKey) if (n > 1) broken.push(`key ${key} moved money ${n} times`)
  const orders = new Map(ledger.orders.map((o) => [o.order_id, o]))
  for (const [orderId, amounts] of live) {
    const order = orders.get(orderId)
    if (amounts.length > 1) broken.push(`order ${orderId} keeps ${amounts.length} charges`)
    else if (order === undefined || order.status !== "confirmed")
      broken.push(`order ${orderId} (${order?.status ?? "missing"}) keeps a charge`)
    else if (amounts[0]!.amount !== order.total.amount || amounts[0]!.currency !== order.total.currency)
      broken.push(`order ${orderId} charged ${amounts[0]!.amount}, total ${order.total.amount}`)
  }
  const confirmed = ledger.orders.filter((o) => o.status === "confirmed")
  for (const o of confirmed)
    if (!live.has(o.order_id)) broken.push(`confirmed order ${o.order_id} has no charge`)
  return {
    name: "at most one charge per order",
    ok: broken.length === 0,
    detail:
      broken.length === 0
        ? `${plural(live.size, "charge")} for ${plural(confirmed.length, "confirmed order")}`
        : broken.slice(0, 3).join("; ")
  }
}

const everyOrderTerminal = (ledger: Ledger): Check => {
  const open = ledger.orders.filter((o) => !terminal.has(o.status))
  return {
    name: "every order terminal",
    ok: open.length === 0,
    detail:
      open.length === 0
        ? `${plural(ledger.orders.length, "order")}, all terminal`
        : open
            .slice(0, 3)
            .map((o) => `${o.order_id} ${o.status}`)
            .join("; ")
  }
}

/** Every invariant of `ledger`, in `names` order. */
export const check = (ledger: Ledger): ReadonlyArray<Check> => [
  noOversell(ledger),
  oneChargePerOrder(ledger),
  everyOrderTerminal(ledger)
]

/** What `till demo` fails with when a check did not hold (exit code 1; the summary said which). */
export class InvariantBroken extends Schema.TaggedError<InvariantBroken>()("InvariantBroken", {
  failed: Schema.Array(Schema.String)
}) {
  // The summary already printed what broke: no second report from the runtime.
  override readonly [Runtime.errorReported] = false
  override get message() {
    return `broken: ${this.failed.join("; ")}`
  }
}
