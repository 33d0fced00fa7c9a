/**
 * The invariants of DESIGN.md §3, checked by the simulator: continuously (each tick, and at
 * the moment an answer or a rate-limit admission is seen) and once at the end, after faults
 * stopped and the jobs settled every order.
 *
 * What the checks read is what really happened, never what a service reports about itself:
 * the raw in-memory stores (not the process's faulty view), the fake gateway's `Inspector`
 * (money that moved), the event recorder, and the `Ledger` the store wrappers fill with every
 * operation that really ran (stock received, reservations made, rate-limit admissions, values
 * written). Shoppers record every answer they get.
 */
import {
  type CartStore,
  type Errors,
  type InventoryStore,
  type Order,
  type OrderStore,
  type PaymentGateway,
  PaymentMethod
} from "@till/core"
import { Effect, Option } from "effect"
import type * as FakePaymentGateway from "../FakePaymentGateway.js"
import type * as InMemoryEventPublisher from "../InMemoryEventPublisher.js"
import type { Trace } from "./simTrace.js"

export const invariants = [
  /** reserved + sold > received, reserved > on hand, or negative stock. */
  "oversell",
  /** The store's on hand / reserved disagree with the stock received and the reservations made. */
  "stock-accounting",
  /** Two charges under one idempotency key, or two live charges for one order. */
  "double-charge",
  /** Captured money differs from the confirmed orders' totals, or a charge belongs to no live order. */
  "money",
  /** A refund of a charge whose order did not die (a confirmed, declined or live order's money). */
  "refund",
  /** An order not terminal, or a hold not settled, once faults stopped and jobs ran. */
  "stuck-order",
  /**
   * An order whose stock disagrees with its status at any tick (in flight: its attempt held;
   * confirmed: committed; otherwise nothing held), or a confirmed order whose committed
   * reservation is not its items.
   */
  "order-stock-mismatch",
  /** An order priced otherwise than the run's catalog: unit prices, line totals, subtotal, total. */
  "pricing",
  /** An order id answered to a shopper that no store holds, or one cart with two orders. */
  "lost-or-double-order",
  /** A key answered twice differently, answered for two bodies, or naming two orders. */
  "idempotency",
  /** More admissions per user in a window than the limit. */
  "rate-limit",
  /**
   * A confirmed order without exactly one `order.confirmed` event, an undrained outbox, an
   * order's events published out of their order, or money refunded without its order saying so
   * and a `payment.refunded` event.
   */
  "events",
  /** A card number in a stored value, an event, an answer or a log line. */
  "card-number",
  /** A defect (die) in a request or a job: an invariant a service checks itself broke. */
  "defect",
  /** The world deadlocked or ran past its budget. */
  "liveness"
] as const
export type Invariant = (typeof invariants)[number]

export interface Violation {
  readonly invariant: Invariant
  readonly detail: string
  /** Virtual ms since the start of the run. */
  readonly atMs: number
  /** Trace position when it was found: the trace up to here is the story. */
  readonly traceAt: number
}

export interface RateLimit {
  readonly limit: number
  readonly windowMs: number
}

/** What the store wrappers saw really happen. */
export class Ledger {
  readonly received = new Map<string, number>()
  readonly reservedOrders = new Set<string>()
  /** Restock movement ids seen applied. */
  readonly movements = new Set<string>()
  readonly admissions = new Map<string, Array<number>>()
  /** Values written to stores, scanned for card numbers at the end. */
  readonly written: Array<unknown> = []
  readonly carts = new Map<string, unknown>()

  receive(sku: string, units: number) {
    this.received.set(sku, (this.received.get(sku) ?? 0) + units)
  }
}

const terminal: ReadonlySet<Order.OrderStatus> = new Set([
  "confirmed",
  "payment_failed",
  "cancelled",
  "expired"
])

const finalErrorTags: ReadonlySet<string> = new Set([
  "CartNotFound",
  "CartNotActive",
  "EmptyCart",
  "SkuNotFound",
  "OutOfStock",
  "PaymentDeclined",
  "CurrencyMismatch",
  "ValidationError",
  "OrderNotFound",
  "OrderNotRetryable"
])

/** The stored, replayable part of an answer, or undefined for a transient one (503, 429, 409 in flight). */
export const finalAnswer = (
  result:
    | { readonly _tag: "ok"; readonly status: number; readonly order: Order.Order }
    | { readonly _tag: "error"; readonly error: unknown }
): { readonly text: string; readonly orderId: string | undefined } | undefined => {
  if (result._tag === "ok") {
    const o = result.order
    return {
      text: `${result.status} ${o.order_id} ${o.status} attempt=${o.payment_attempt}`,
      orderId: o.order_id
    }
  }
  const error = result.error as { readonly _tag?: string; readonly orderId?: string }
  if (typeof error?._tag !== "string" || !finalErrorTags.has(error._tag)) return undefined
  // A cart checked out by another order names that order: it is not this key's order.
  return { text: JSON.stringify(error), orderId: error._tag === "CartNotActive" ? undefined : error.orderId }
}

interface KeyRecord {
  readonly body: string
  readonly answer: string
  readonly orderId: string | undefined
}

/**
 * What the checks read of the stores, whichever implementation is under test: the in-memory
 * stores' `Inspector`s fit as they are; another implementation (Postgres) reads its tables
 * directly (plain SQL), never through the port's methods under test. A probe has no error
 * channel: a store the checks cannot read is a broken harness (a defect), not a finding.
 */
export interface StoreProbes {
  readonly stock: {
    /** Every SKU's level. */
    readonly levels: Effect.Effect<ReadonlyArray<InventoryStore.StockLevel>>
    /** Every reservation (held, committed and released). */
    readonly allReservations: Effect.Effect<ReadonlyArray<InventoryStore.Reservation>>
  }
  readonly orders: {
    /** Every order. */
    readonly orders: Effect.Effect<ReadonlyArray<Order.Order>>
    /** Outbox events (at least every unpublished one), with whether each was published. */
    readonly outbox: Effect.Effect<ReadonlyArray<{ readonly event: unknown; readonly published: boolean }>>
    /** How many events wait to be published. */
    readonly pending: Effect.Effect<number>
  }
  readonly idempotency: {
    /** Every live key record (scope, key, state and the stored, encoded answer). */
    readonly records: Effect.Effect<
      ReadonlyArray<{
        readonly scope: string
        readonly key: string
        readonly state: string
        readonly outcome: unknown
      }>
    >
  }
  readonly retryQueue: {
    /** Whether `claimDue(nowMs, …)` would take an entry now (without claiming it). */
    readonly due: (nowMs: number) => Effect.Effect<boolean>
  }
  /** Every dead letter, as stored (scanned for card numbers). */
  readonly deadLetters: Effect.Effect<ReadonlyArray<unknown>>
}

export interface Probes extends StoreProbes {
  /** The store itself, for the evidence of a report only (its audit log, an order, its reservations). */
  readonly inventory: InventoryStore.InventoryStore["Service"]
  readonly orderStore: OrderStore.OrderStore["Service"]
  readonly gateway: FakePaymentGateway.Inspector["Service"]
  readonly events: InMemoryEventPublisher.Inspector["Service"]
  readonly carts: CartStore.CartStore["Service"]
  readonly skus: ReadonlyArray<InventoryStore.StockLevel["sku"]>
}

/** One idempotency key of one user and operation, as the checker's maps hold it. */
const keyId = (user: string, op: "place" | "pay", key: string) => `${user}\u0000${op}\u0000${key}`

export class Checker {
  readonly violations: Array<Violation> = []
  private readonly keys = new Map<string, KeyRecord>()
  private readonly placeKeyOfOrder = new Map<string, string>()
  private readonly seen = new Set<string>()
  /** Per user and operation, [first sent, answered] of each key's first final answer, recent ones. */
  private readonly finalSpans = new Map<string, Array<readonly [number, number]>>()
  /** When each key (user, operation, key) was first sent. */
  private readonly firstSentAt = new Map<string, number>()
  /** Every order id a shopper was answered with (201, 202, or an error naming its order). */
  private readonly answeredOrders = new Set<string>()
  private chargesSeen = 0

  constructor(
    private readonly trace: Trace,
    private readonly nowMs: () => number,
    private readonly startMs: number,
    private readonly limits: Readonly<Record<string, RateLimit>>,
    private readonly cardNumbers: ReadonlyArray<string>,
    /** Unit price per SKU, in minor units, as the run stocked the catalog. */
    private readonly prices: ReadonlyMap<string, number>
  ) {}

  get failed(): boolean {
    return this.violations.length > 0
  }

  report(invariant: Invariant, detail: string) {
    // One report per distinct finding: a broken invariant stays broken for many ticks.
    const id = `${invariant}|${detail}`
    if (this.seen.has(id)) return
    this.seen.add(id)
    this.trace.add(`VIOLATION ${invariant}: ${detail}`)
    this.violations.push({ invariant, detail, atMs: this.nowMs() - this.startMs, traceAt: this.trace.length })
  }

  /**
   * A rate-limit admission the store made (`rl:<name>:<user>` at the caller's `nowMs`): no window
   * `(t - windowMs, t]` may hold more than the limit. Admissions may arrive out of order (a slow
   * store call carries its caller's earlier time), so the log is kept sorted.
   */
  admitted(ledger: Ledger, key: string, atMs: number) {
    const name = key.split(":")[1] ?? ""
    const limit = this.limits[name]
    if (limit === undefined) return
    let times = ledger.admissions.get(key)
    if (times === undefined) {
      times = []
      ledger.admissions.set(key, times)
    }
    let at = times.length
    while (at > 0 && times[at - 1]! > atMs) at--
    times.splice(at, 0, atMs)
    const newest = times[times.length - 1]!
    let old = 0
    while (old < times.length && times[old]! <= newest - 2 * limit.windowMs) old++
    if (old > 0) times.splice(0, old)
    let busiest = 0
    for (let hi = 0, lo = 0; hi < times.length; hi++) {
      while (times[lo]! <= times[hi]! - limit.windowMs) lo++
      busiest = Math.max(busiest, hi - lo + 1)
    }
    if (busiest > limit.limit) {
      this.report(
        "rate-limit",
        `${key}: ${busiest} admitted within ${limit.windowMs / 1000}s (limit ${limit.limit})`
      )
    }
  }

  /** A request for (user, op, key) leaves the client at `atMs`. */
  sent(user: string, op: "place" | "pay", key: string, atMs: number) {
    const id = keyId(user, op, key)
    if (!this.firstSentAt.has(id)) this.firstSentAt.set(id, atMs)
  }

  /**
   * The rate limits seen from the clients' side, trusting no store: a final answer means the key's
   * work ran, so the limiter admitted it somewhere between the key's first sending (an attempt
   * that got no final answer may be the one admitted: a lost connection, a client that stopped
   * waiting) and this answer.
   * More first final answers of distinct keys than the limit, all sent and answered inside one
   * window, is an admission the limiter must have refused (a limiter skipped or miscounted).
   */
  private finalAnswerIn(user: string, op: "place" | "pay", sentAtMs: number) {
    const limit = this.limits[op === "place" ? "checkout" : "payment"]
    if (limit === undefined) return
    const id = `${user}\u0000${op}`
    const answeredAtMs = this.nowMs()
    const spans = (this.finalSpans.get(id) ?? []).filter((s) => s[1] > answeredAtMs - 2 * limit.windowMs)
    spans.push([sentAtMs, answeredAtMs])
    this.finalSpans.set(id, spans)
    for (const [from] of spans) {
      const inside = spans.filter(
        ([sent, answered]) => sent >= from && answered < from + limit.windowMs
      ).length
      if (inside > limit.limit) {
        this.report(
          "rate-limit",
          `${user}: ${inside} ${op === "place" ? "checkouts" : "payments"} done within ${limit.windowMs / 1000}s (limit ${limit.limit}), seen by the clients`
        )
        return
      }
    }
  }

  /** An answer a shopper got for (user, op, key) with this request body. */
  answered(
    user: string,
    op: "place" | "pay",
    key: string,
    body: string,
    answer: ReturnType<typeof finalAnswer>,
    sentAtMs: number
  ) {
    if (answer === undefined) return
    if (answer.orderId !== undefined) this.answeredOrders.add(answer.orderId)
    this.scanText(answer.text, `answer to ${user} ${op} ${key}`)
    const id = keyId(user, op, key)
    const first = this.keys.get(id)
    if (first === undefined) {
      this.keys.set(id, { body, answer: answer.text, orderId: answer.orderId })
      this.finalAnswerIn(user, op, this.firstSentAt.get(id) ?? sentAtMs)
      if (op === "place" && answer.orderId !== undefined) {
        const other = this.placeKeyOfOrder.get(answer.orderId)
        if (other !== undefined && other !== id) {
          this.report(
            "idempotency",
            `order ${answer.orderId} answered for two checkout keys (${other.replaceAll("\u0000", " ")} and ${user} ${key})`
          )
        }
        this.placeKeyOfOrder.set(answer.orderId, id)
      }
      return
    }
    if (first.body !== body) {
      this.report(
        "idempotency",
        `${user} ${op} ${key}: a different request body got a final answer (${answer.text})`
      )
    } else if (first.answer !== answer.text) {
      this.report(
        "idempotency",
        `${user} ${op} ${key}: replay answered "${answer.text}", first answer was "${first.answer}"`
      )
    }
  }

  /**
   * The continuous checks: stock levels and charges every tick; the full stock accounting
   * (a walk over every reservation) when `full`.
   */
  tick(probes: Probes, ledger: Ledger, full: boolean): Effect.Effect<void, Errors.StoreUnavailable> {
    return Effect.gen({ self: this }, function* () {
      if (full) {
        yield* this.checkStock(probes, ledger, false)
        yield* this.checkOrderStock(probes, yield* probes.orders.orders)
      } else this.checkLevels(yield* probes.stock.levels, probes.skus)
      yield* this.checkCharges(probes)
    })
  }

  /** Reports an oversold level among `skus` (the store's own invariant, as it says). */
  checkLevels(levels: ReadonlyArray<InventoryStore.StockLevel>, skus: ReadonlyArray<string>) {
    for (const sku of skus) {
      const l = levels.find((level) => level.sku === sku)
      if (l !== undefined && (l.on_hand < 0 || l.reserved < 0 || l.reserved > l.on_hand)) {
        this.report("oversell", `${sku}: store says on_hand ${l.on_hand}, reserved ${l.reserved}`)
      }
    }
  }

  private checkStock(probes: Probes, ledger: Ledger, final: boolean) {
    return Effect.gen({ self: this }, function* () {
      const levels = new Map((yield* probes.stock.levels).map((l) => [l.sku, l]))
      const held = new Map<string, number>()
      const sold = new Map<string, number>()
      for (const r of yield* probes.stock.allReservations) {
        const orderId = r.order_id
        if (!ledger.reservedOrders.has(orderId)) continue
        if (final && r.status === "held")
          this.report("stuck-order", `reservation of ${orderId} still held at the end`)
        const into = r.status === "held" ? held : r.status === "committed" ? sold : undefined
        if (into === undefined) continue
        for (const line of r.lines) into.set(line.sku, (into.get(line.sku) ?? 0) + line.quantity)
      }
      for (const sku of probes.skus) {
        const level = levels.get(sku)
        if (level === undefined) continue
        const received = ledger.received.get(sku) ?? 0
        const h = held.get(sku) ?? 0
        const s = sold.get(sku) ?? 0
        if (level.on_hand < 0 || level.reserved < 0 || level.reserved > level.on_hand || h + s > received) {
          this.report(
            "oversell",
            `${sku}: received ${received}, sold ${s}, held ${h}; store says on_hand ${level.on_hand}, reserved ${level.reserved}`
          )
        } else if (level.on_hand !== received - s || level.reserved !== h) {
          this.report(
            "stock-accounting",
            `${sku}: received ${received}, sold ${s}, held ${h}; store says on_hand ${level.on_hand}, reserved ${level.reserved}`
          )
        }
      }
    })
  }

  private checkCharges(probes: Probes) {
    return Effect.gen({ self: this }, function* () {
      const charges = yield* probes.gateway.allCharges
      if (charges.length === this.chargesSeen) return charges
      this.chargesSeen = charges.length
      const perKey = new Map<string, number>()
      const livePerOrder = new Map<string, number>()
      for (const c of charges) {
        const n = (perKey.get(c.idempotency_key) ?? 0) + 1
        perKey.set(c.idempotency_key, n)
        if (n > 1) this.report("double-charge", `${n} charges under idempotency key ${c.idempotency_key}`)
        if (c.status === "succeeded") {
          const order = orderOfKey(c.idempotency_key)
          const live = (livePerOrder.get(order) ?? 0) + 1
          livePerOrder.set(order, live)
          if (live > 1) this.report("double-charge", `order ${order} holds ${live} captured charges`)
        }
      }
      return charges
    })
  }

  /** The end-of-run checks, once faults stopped and every job had time to settle. */
  final(probes: Probes, ledger: Ledger): Effect.Effect<void, Errors.StoreUnavailable> {
    return Effect.gen({ self: this }, function* () {
      yield* this.checkStock(probes, ledger, true)
      this.chargesSeen = -1
      const charges = yield* this.checkCharges(probes)
      const orders = yield* probes.orders.orders
      const byId = new Map(orders.map((o) => [o.order_id, o]))
      for (const o of orders) {
        if (!terminal.has(o.status))
          this.report("stuck-order", `order ${o.order_id} is ${o.status} at the end`)
      }
      yield* this.checkOrderStock(probes, orders)
      this.checkMoney(charges, orders, byId)
      this.checkPrices(orders)
      this.checkOrdersExist(orders, byId)
      this.checkStoredAnswers(yield* probes.idempotency.records)
      yield* this.checkCarts(probes, orders)
      yield* this.checkEvents(probes, orders, charges, byId)
      yield* this.scanStores(probes, ledger, orders)
    })
  }

  private checkOrderStock(probes: Probes, orders: ReadonlyArray<Order.Order>) {
    return Effect.gen({ self: this }, function* () {
      const byOrder = new Map<string, Array<InventoryStore.Reservation>>()
      for (const r of yield* probes.stock.allReservations) {
        const list = byOrder.get(r.order_id)
        if (list === undefined) byOrder.set(r.order_id, [r])
        else list.push(r)
      }
      for (const o of orders) {
        const all = byOrder.get(o.order_id) ?? []
        const committed = all.filter((r) => r.status === "committed")
        const held = all.filter((r) => r.status === "held")
        const inFlight = o.status === "pending" || o.status === "payment_pending"
        if (inFlight && (held.length !== 1 || held[0]!.attempt !== o.payment_attempt)) {
          this.report(
            "order-stock-mismatch",
            `${o.status} order ${o.order_id} (attempt ${o.payment_attempt}) holds ${held.map((r) => `attempt ${r.attempt}`).join(", ") || "nothing"}`
          )
        }
        if (o.status === "confirmed") {
          if (committed.length !== 1) {
            this.report(
              "order-stock-mismatch",
              `confirmed order ${o.order_id} has ${committed.length} committed reservations`
            )
          } else if (lineKey(committed[0]!.lines) !== lineKey(o.items)) {
            this.report(
              "order-stock-mismatch",
              `confirmed order ${o.order_id} sold ${lineKey(o.items)} but committed ${lineKey(committed[0]!.lines)}`
            )
          }
        } else if (committed.length > 0) {
          this.report("order-stock-mismatch", `${o.status} order ${o.order_id} has committed stock`)
        }
        if (held.length > 0 && o.status !== "pending" && o.status !== "payment_pending") {
          this.report("stuck-order", `order ${o.order_id} is ${o.status} but still holds stock`)
        }
      }
    })
  }

  private checkMoney(
    charges: ReadonlyArray<PaymentGateway.Charge>,
    orders: ReadonlyArray<Order.Order>,
    byId: ReadonlyMap<string, Order.Order>
  ) {
    let captured = 0
    let confirmedTotal = 0
    const liveByOrder = new Map<string, PaymentGateway.Charge>()
    for (const c of charges) {
      const orderId = orderOfKey(c.idempotency_key)
      const order = byId.get(orderId)
      if (c.status === "succeeded") {
        captured += c.amount.amount
        liveByOrder.set(orderId, c)
        if (order === undefined)
          this.report("money", `charge ${c.charge_id} captured for ${orderId}, which does not exist`)
        else if (order.status !== "confirmed") {
          this.report(
            "money",
            `charge ${c.charge_id} captured for order ${orderId}, which is ${order.status}`
          )
        }
      } else if (order?.status === "confirmed" && order.payment?.charge_id === c.charge_id) {
        this.report("refund", `the charge ${c.charge_id} of confirmed order ${orderId} was refunded`)
      } else if (order !== undefined && order.status !== "expired" && order.status !== "cancelled") {
        // One key, one outcome: a charge that succeeded was never declined, so only an order that
        // died (expired, cancelled) may give its money back. A refund of a declined or live
        // order's charge is a stale answer moving the wrong attempt.
        this.report("refund", `the charge ${c.charge_id} of ${order.status} order ${orderId} was refunded`)
      }
    }
    for (const o of orders) {
      if (o.status !== "confirmed") continue
      confirmedTotal += o.total.amount
      const charge = liveByOrder.get(o.order_id)
      if (charge === undefined) this.report("money", `confirmed order ${o.order_id} has no captured charge`)
      else if (charge.charge_id !== o.payment?.charge_id || charge.amount.amount !== o.total.amount) {
        this.report(
          "money",
          `confirmed order ${o.order_id} records ${o.payment?.charge_id} for ${o.total.amount}, captured ${charge.charge_id} for ${charge.amount.amount}`
        )
      }
    }
    if (captured !== confirmedTotal) {
      this.report("money", `captured ${captured} minor units, confirmed orders total ${confirmedTotal}`)
    }
  }

  /** Prices recomputed from the run's own catalog, never read back from Till. */
  private checkPrices(orders: ReadonlyArray<Order.Order>) {
    for (const o of orders) {
      let subtotal = 0
      for (const item of o.items) {
        const price = this.prices.get(item.sku)
        if (price === undefined || item.unit_price.amount !== price) {
          this.report(
            "pricing",
            `order ${o.order_id} sells ${item.sku} at ${item.unit_price.amount}, the catalog at ${price}`
          )
        }
        if (item.line_total.amount !== item.unit_price.amount * item.quantity) {
          this.report(
            "pricing",
            `order ${o.order_id} line ${item.sku}: ${item.quantity} x ${item.unit_price.amount} != ${item.line_total.amount}`
          )
        }
        subtotal += item.line_total.amount
      }
      if (o.subtotal.amount !== subtotal || o.tax.amount < 0 || o.shipping.amount < 0) {
        this.report(
          "pricing",
          `order ${o.order_id}: subtotal ${o.subtotal.amount}, lines ${subtotal}, tax ${o.tax.amount}, shipping ${o.shipping.amount}`
        )
      }
      if (o.total.amount !== o.subtotal.amount + o.tax.amount + o.shipping.amount) {
        this.report("pricing", `order ${o.order_id}: total ${o.total.amount} != subtotal + tax + shipping`)
      }
    }
  }

  /**
   * Each completed key's stored answer is the one its client got first (read from the raw
   * records): a holder whose lease was taken over must not overwrite the answer of its successor.
   */
  private checkStoredAnswers(
    records: ReadonlyArray<{
      readonly scope: string
      readonly key: string
      readonly state: string
      readonly outcome: unknown
    }>
  ) {
    for (const r of records) {
      if (r.state !== "completed") continue
      const first =
        this.keys.get(keyId(r.scope, "place", r.key)) ?? this.keys.get(keyId(r.scope, "pay", r.key))
      if (first === undefined) continue // its client never saw an answer (gave up, or crashed)
      const stored = r.outcome as {
        readonly _tag?: string
        readonly value?: { readonly status?: number; readonly order?: { readonly order_id?: string } }
        readonly error?: { readonly _tag?: string }
      }
      const summary =
        stored._tag === "Success"
          ? `${stored.value?.status} ${stored.value?.order?.order_id}`
          : (stored.error?._tag ?? "?")
      const given = first.answer.startsWith("{")
        ? (JSON.parse(first.answer) as { _tag?: string })._tag
        : first.answer.split(" ").slice(0, 2).join(" ")
      if (summary !== given) {
        this.report("idempotency", `${r.scope} ${r.key}: stored answer ${summary}, first answered ${given}`)
      }
    }
  }

  /** The cart of every order is checked out by it, holding exactly what the order sells. */
  private checkCarts(probes: Probes, orders: ReadonlyArray<Order.Order>) {
    return Effect.gen({ self: this }, function* () {
      for (const o of orders) {
        const found = yield* Effect.orElseSucceed(probes.carts.get(o.cart_id), () => Option.none())
        if (Option.isNone(found)) continue // expired (30 days) or never visible to this check
        const cart = found.value
        if (cart.status !== "checked_out" || cart.order_id !== o.order_id) {
          this.report(
            "lost-or-double-order",
            `order ${o.order_id}'s cart ${o.cart_id} is ${cart.status} (order ${cart.order_id ?? "none"})`
          )
        } else if (lineKey(cart.items) !== lineKey(o.items)) {
          this.report(
            "lost-or-double-order",
            `order ${o.order_id} sells ${lineKey(o.items)}, its checked-out cart holds ${lineKey(cart.items)}`
          )
        }
      }
    })
  }

  /** Every order a shopper was told about exists, and no cart was ordered twice. */
  private checkOrdersExist(orders: ReadonlyArray<Order.Order>, byId: ReadonlyMap<string, Order.Order>) {
    for (const id of this.answeredOrders) {
      if (!byId.has(id))
        this.report("lost-or-double-order", `a shopper was answered with order ${id}, which no store holds`)
    }
    const byCart = new Map<string, string>()
    for (const o of orders) {
      const other = byCart.get(o.cart_id)
      if (other !== undefined)
        this.report("lost-or-double-order", `cart ${o.cart_id} has two orders: ${other} and ${o.order_id}`)
      else byCart.set(o.cart_id, o.order_id)
    }
  }

  private checkEvents(
    probes: Probes,
    orders: ReadonlyArray<Order.Order>,
    charges: ReadonlyArray<PaymentGateway.Charge>,
    byId: ReadonlyMap<string, Order.Order>
  ) {
    return Effect.gen({ self: this }, function* () {
      const published = yield* probes.events.published
      this.checkEventOrder(published)
      const refundedEvents = new Set(
        published.filter((e) => e.type === "payment.refunded").map((e) => e.aggregate_id)
      )
      for (const c of charges) {
        if (c.status !== "refunded") continue
        const orderId = orderOfKey(c.idempotency_key)
        const order = byId.get(orderId)
        if (order === undefined) continue // reported under money
        if (
          order.payment?.status !== "refunded" ||
          order.payment.charge_id !== c.charge_id ||
          !refundedEvents.has(orderId)
        ) {
          this.report(
            "events",
            `charge ${c.charge_id} of order ${orderId} was refunded, but the order says ${JSON.stringify(order.payment)} and ${refundedEvents.has(orderId) ? "a" : "no"} payment.refunded event was published`
          )
        }
      }
      const confirmedEvents = new Map<string, Set<string>>()
      for (const e of published) {
        if (e.type !== "order.confirmed") continue
        const ids = confirmedEvents.get(e.aggregate_id) ?? new Set<string>()
        confirmedEvents.set(e.aggregate_id, ids)
        ids.add(e.event_id)
      }
      for (const o of orders) {
        const n = confirmedEvents.get(o.order_id)?.size ?? 0
        if (o.status === "confirmed" ? n !== 1 : n !== 0) {
          this.report("events", `order ${o.order_id} (${o.status}) has ${n} distinct order.confirmed events`)
        }
      }
      const unpublished = yield* probes.orders.pending
      if (unpublished > 0) this.report("events", `${unpublished} outbox events never published`)
    })
  }

  /**
   * Each order's events, as consumers first saw them, follow the saga: `order.created` first; a
   * payment attempt's outcome (`order.confirmed`, `order.payment_failed`, `order.expired`) after
   * its `inventory.reserved`; a refund after the order died. Ids are `order/type/attempt`.
   */
  private checkEventOrder(
    published: ReadonlyArray<{
      readonly event_id: string
      readonly type: string
      readonly aggregate_id: string
    }>
  ) {
    const seen = new Map<string, Array<string>>()
    for (const e of published) {
      if (e.type.startsWith("cart.") || e.type === "shipment.created") continue
      const list = seen.get(e.aggregate_id) ?? []
      seen.set(e.aggregate_id, list)
      if (list.includes(e.event_id)) continue
      const attempt = e.event_id.slice(e.event_id.lastIndexOf("/") + 1)
      const has = (type: string, a = attempt) => list.includes(`${e.aggregate_id}/${type}/${a}`)
      const late =
        (list.length === 0 && e.type !== "order.created") ||
        (["order.confirmed", "order.payment_failed", "order.expired"].includes(e.type) &&
          !has("inventory.reserved")) ||
        (e.type === "payment.refunded" &&
          !list.some((id) => id.includes("/order.expired/") || id.includes("/order.cancelled/")))
      if (late) {
        this.report(
          "events",
          `order ${e.aggregate_id}: ${e.type} (attempt ${attempt}) published before the events it follows (${list.join(", ") || "none"})`
        )
      }
      list.push(e.event_id)
    }
  }

  private scanStores(probes: Probes, ledger: Ledger, orders: ReadonlyArray<Order.Order>) {
    return Effect.gen({ self: this }, function* () {
      this.scanValue(orders, "orders")
      this.scanValue(
        (yield* probes.orders.outbox).map((e) => e.event),
        "outbox"
      )
      this.scanValue(yield* probes.events.published, "published events")
      this.scanValue(ledger.written, "idempotency records and retry entries")
      this.scanValue([...ledger.carts.values()], "carts")
      this.scanValue(yield* probes.deadLetters, "dead letters")
    })
  }

  /**
   * What the stores and the gateway know about the orders the violations name: the audit log,
   * the reservation and the charges, for the report (not part of the trace).
   */
  evidence(probes: Probes): Effect.Effect<Array<string>, Errors.StoreUnavailable> {
    return Effect.gen({ self: this }, function* () {
      const ids = new Set(this.violations.flatMap((v) => v.detail.match(/\bord_[0-9a-z]{20}\b/g) ?? []))
      const lines: Array<string> = []
      const charges = yield* probes.gateway.allCharges
      const iso = (ms: number) => new Date(ms).toISOString()
      for (const id of [...ids].slice(0, 5)) {
        for (const a of yield* Effect.orElseSucceed(probes.orderStore.audit(id), () => [])) {
          lines.push(`${id} audit: ${a.from ?? "(new)"} -> ${a.to} at ${a.at}`)
        }
        const order = yield* Effect.orElseSucceed(probes.orderStore.get(id), () => Option.none())
        if (Option.isSome(order)) {
          const o = order.value
          lines.push(
            `${id} order: ${o.status}, attempt ${o.payment_attempt}, total ${o.total.amount}, ` +
              `hold until ${iso(o.hold_expires_at)}, payment ${JSON.stringify(o.payment)}`
          )
        }
        for (const r of yield* probes.inventory.reservations(id)) {
          lines.push(
            `${id} reservation ${r.attempt}: ${r.status}, ${lineKey(r.lines)}, hold until ${iso(r.hold_expires_at)}`
          )
        }
        for (const c of charges) {
          if (orderOfKey(c.idempotency_key) === id) {
            lines.push(`${id} charge: ${c.charge_id} key ${c.idempotency_key} ${c.amount.amount} ${c.status}`)
          }
        }
      }
      return lines
    })
  }

  /** Walks a value; reports the first card number in a string leaf (or a number equal to one used). */
  scanValue(value: unknown, where: string) {
    const stack: Array<unknown> = [value]
    let visited = 0
    while (stack.length > 0 && visited++ < 5_000_000) {
      const v = stack.pop()
      if (typeof v === "string") {
        if (this.scanText(v, where)) return
      } else if (typeof v === "number") {
        // Epoch milliseconds are 13-digit numbers too: only a number equal to a used card counts.
        if (v > 999_999_999_999 && this.cardNumbers.includes(String(v))) {
          this.report("card-number", `${where} holds a card number as a number`)
          return
        }
      } else if (Array.isArray(v)) {
        for (const x of v) stack.push(x)
      } else if (typeof v === "object" && v !== null) {
        for (const x of Object.values(v)) stack.push(x)
      }
    }
  }

  /** Reports a card number in `text`: one the shoppers used, or any 13-19 digit run passing Luhn. */
  scanText(text: string, where: string): boolean {
    const pan = findCardNumber(text, this.cardNumbers)
    if (pan === undefined) return false
    this.report("card-number", `${where} holds a card number ${pan.slice(0, 4)}…${pan.slice(-4)}`)
    return true
  }
}

const digitRun = /(?<!\d)\d(?:[ -]?\d){12,18}(?!\d)/g

/** Whether `text` holds at least 13 digits in all: no card number fits in fewer. */
const hasThirteenDigits = (text: string): boolean => {
  let digits = 0
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c >= 48 && c <= 57 && ++digits === 13) return true
  }
  return false
}

export const findCardNumber = (text: string, known: ReadonlyArray<string>): string | undefined => {
  // Most values (ids, statuses, short messages) are ruled out by a count, before any search.
  if (!hasThirteenDigits(text)) return undefined
  for (const pan of known) if (text.includes(pan)) return pan
  for (const match of text.matchAll(digitRun)) {
    const digits = match[0].replace(/[ -]/g, "")
    if (digits.length >= 13 && digits.length <= 19 && PaymentMethod.luhnValid(digits)) return digits
  }
  return undefined
}

/** The order of a payment idempotency key (`ord_x` or `ord_x:2`). */
export const orderOfKey = (key: string): string => {
  const colon = key.indexOf(":")
  return colon < 0 ? key : key.slice(0, colon)
}

const lineKey = (lines: ReadonlyArray<{ readonly sku: string; readonly quantity: number }>): string => {
  const bySku = new Map<string, number>()
  for (const l of lines) bySku.set(l.sku, (bySku.get(l.sku) ?? 0) + l.quantity)
  return [...bySku]
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([sku, q]) => `${sku}x${q}`)
    .join(",")
}
