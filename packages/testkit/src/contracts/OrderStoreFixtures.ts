/**
 * Fixtures shared by the OrderStore and InventoryStore contracts. Both suites run against one
 * layer providing the two ports over one set of stock tables (reservations are made only by
 * order steps), built afresh for every case: no two cases share rows or an outbox.
 *
 * Every time is explicit (orders' `created_at`/`updated_at`, `hold_expires_at`, the `nowMs` of
 * claims and expired holds), so a store on server time passes as well as one on `TestClock`.
 */
import { Address, type Errors, Event, InventoryStore, Money, Order, OrderStore, Sku } from "@till/core"
import { Effect, Exit, type Layer, Option } from "effect"
import { isoAt, uniqueId } from "../internal/contract.js"

/** What the OrderStore and InventoryStore suites run against: both ports over shared stock. */
export type StockAndOrders = OrderStore.OrderStore | InventoryStore.InventoryStore
export type StockAndOrdersLayer = Layer.Layer<StockAndOrders, unknown>

export type Orders = OrderStore.OrderStore["Service"]
export type Stock = InventoryStore.InventoryStore["Service"]

/** 2030-01-01: the time every fixture starts from. */
export const t0 = Date.UTC(2030, 0, 1)
export const holdMs = 15 * 60_000
/** Far beyond every lease and hold the fixtures write. */
export const later = t0 + 365 * 24 * 3_600_000

/** Runs `body` against a store built for it alone (`local`: never one an enclosing provide built). */
export const isolated =
  (storeLayer: StockAndOrdersLayer) =>
  <A, E>(body: (orders: Orders, stock: Stock) => Effect.Effect<A, E, StockAndOrders>) =>
    Effect.gen(function* () {
      return yield* body(yield* OrderStore.OrderStore, yield* InventoryStore.InventoryStore)
    }).pipe(Effect.provide(storeLayer, { local: true }))

export const newSku = Effect.map(uniqueId("sku"), Sku.make)

/** A fresh SKU with `onHand` units. */
export const stocked = (
  stock: Stock,
  onHand: number
): Effect.Effect<Sku.Sku, Errors.OutOfStock | Errors.StoreUnavailable> =>
  Effect.gen(function* () {
    const sku = yield* newSku
    yield* stock.setOnHand(sku, onHand)
    return sku
  })

export const levelOf = (
  stock: Stock,
  sku: Sku.Sku
): Effect.Effect<InventoryStore.StockLevel, Errors.StoreUnavailable> =>
  Effect.map(stock.level(sku), Option.getOrThrow)

/** [on_hand, reserved] of each SKU. */
export const levels = (
  stock: Stock,
  skus: ReadonlyArray<Sku.Sku>
): Effect.Effect<Array<readonly [number, number]>, Errors.StoreUnavailable> =>
  Effect.forEach(skus, (sku) => Effect.map(levelOf(stock, sku), (l) => [l.on_hand, l.reserved] as const))

export type Line = readonly [Sku.Sku, number]

export interface OrderFixture {
  readonly lines: ReadonlyArray<Line>
  readonly orderId?: string
  readonly userId?: string
  readonly cartId?: string
  readonly status?: "pending" | "payment_pending"
  readonly createdAtMs?: number
}

const unitPrice = Money.make(1250, "USD")

/** A valid new order (version 1) with fresh ids; every field a real table has a column for is filled. */
export const makeOrder = (fixture: OrderFixture) =>
  Effect.gen(function* () {
    const createdAtMs = fixture.createdAtMs ?? t0
    const items = fixture.lines.map(([sku, quantity]) => ({
      sku,
      name: `Item ${sku}`,
      quantity,
      unit_price: unitPrice,
      line_total: Money.times(unitPrice, quantity)
    }))
    const subtotal = items.reduce((n, i) => n + i.line_total.amount, 0)
    return new Order.Order({
      order_id: fixture.orderId ?? (yield* uniqueId("ord")),
      user_id: fixture.userId ?? (yield* uniqueId("user")),
      cart_id: fixture.cartId ?? (yield* uniqueId("cart")),
      status: fixture.status ?? "pending",
      items,
      subtotal: Money.make(subtotal, "USD"),
      tax: Money.make(206, "USD"),
      shipping: Money.make(599, "USD"),
      total: Money.make(subtotal + 805, "USD"),
      shipping_address: new Address.Address({
        name: "Ada Lovelace",
        line1: "12 St James's Square",
        city: "London",
        postal_code: "SW1Y 4JH",
        country: "GB"
      }),
      payment: null,
      payment_method_id: "pm_contract",
      payment_attempt: 1,
      hold_expires_at: createdAtMs + holdMs,
      retry_until: createdAtMs + 2 * holdMs,
      created_at: isoAt(createdAtMs),
      updated_at: isoAt(createdAtMs),
      version: 1
    })
  })

export const makeEvent = (order: Order.Order, type: Event.EventType = "order.created") =>
  Effect.map(
    uniqueId("evt"),
    (eventId) =>
      new Event.Event({
        event_id: eventId,
        type,
        occurred_at: order.updated_at,
        aggregate_id: order.order_id,
        data: { status: order.status, total: order.total.amount }
      })
  )

/** `order` moved to `status` `laterMs` after its last update (a new attempt when `attempt` is given). */
export const moved = (order: Order.Order, status: Order.OrderStatus, laterMs = 1_000, attempt?: number) => {
  const atMs = Date.parse(order.updated_at) + laterMs
  return new Order.Order({
    ...order,
    status,
    updated_at: isoAt(atMs),
    ...(attempt === undefined ? {} : { payment_attempt: attempt, hold_expires_at: atMs + holdMs })
  })
}

/** The stored order after a step that must win. */
export const stepped = (
  orders: Orders,
  order: Order.Order,
  status: Order.OrderStatus,
  move: InventoryStore.StockMove | null,
  events: ReadonlyArray<Event.Event> = []
): Effect.Effect<Order.Order, Errors.OutOfStock | Errors.StoreUnavailable> =>
  Effect.map(orders.step(moved(order, status), order.version, move, events), (o) => Option.getOrThrow(o))

/** Declined: released (v+1). */
export const failed = (
  orders: Orders,
  order: Order.Order
): Effect.Effect<Order.Order, Errors.OutOfStock | Errors.StoreUnavailable> =>
  stepped(orders, order, "payment_failed", "release")

/** A new payment attempt of a declined order, holding its lines again. */
export const retried = (
  orders: Orders,
  order: Order.Order
): Effect.Effect<Option.Option<Order.Order>, Errors.OutOfStock | Errors.StoreUnavailable> =>
  orders.step(moved(order, "pending", 1_000, order.payment_attempt + 1), order.version, "hold", [])

/** Every unpublished event, claimed far in the future (past every lease), then marked published. */
export const drained = (
  orders: Orders,
  nowMs = later
): Effect.Effect<Array<string>, Errors.StoreUnavailable> =>
  Effect.gen(function* () {
    const claim = yield* orders.claimEvents(nowMs, 1_000, 60_000)
    yield* orders.markPublished(
      claim.token,
      claim.events.map((e) => e.event_id)
    )
    return claim.events.map((e) => e.event_id)
  })

/** The ids of what a claim at `nowMs` would take (it takes them: use once per case, or far apart). */
export const claimedIds = (
  orders: Orders,
  nowMs: number,
  limit = 1_000,
  leaseMs = 60_000
): Effect.Effect<Array<string>, Errors.StoreUnavailable> =>
  Effect.map(orders.claimEvents(nowMs, limit, leaseMs), (c) => c.events.map((e) => e.event_id))

/** A step or create that must not succeed: failing or dying are both fine. */
export const refused = <A, E, R>(self: Effect.Effect<A, E, R>) =>
  Effect.map(Effect.exit(self), (exit) => Exit.isFailure(exit))

export const tagOf = <A, E extends { readonly _tag: string }, R>(self: Effect.Effect<A, E, R>) =>
  Effect.map(Effect.flip(self), (e) => e._tag)
