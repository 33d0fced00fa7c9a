/** Orders and events for the Postgres tests (the shape of the contract suites' fixtures). */
import { Address, Event, Ids, Money, Order, type Sku } from "@till/core"
import { Effect } from "effect"

export const t0 = Date.UTC(2030, 0, 1)
export const holdMs = 15 * 60_000
const iso = (ms: number) => new Date(ms).toISOString()

/** A new order (version 1, pending) of `lines`, with fresh ids. */
export const newOrder = (lines: ReadonlyArray<readonly [Sku.Sku, number]>) =>
  Effect.gen(function* () {
    const price = Money.make(1250, "USD")
    const items = lines.map(([sku, quantity]) => ({
      sku,
      name: `Item ${sku}`,
      quantity,
      unit_price: price,
      line_total: Money.times(price, quantity)
    }))
    const subtotal = items.reduce((n, i) => n + i.line_total.amount, 0)
    return new Order.Order({
      order_id: yield* Ids.fromCrypto("ord"),
      user_id: yield* Ids.fromCrypto("user"),
      cart_id: yield* Ids.fromCrypto("cart"),
      status: "pending",
      items,
      subtotal: Money.make(subtotal, "USD"),
      tax: Money.make(0, "USD"),
      shipping: Money.make(0, "USD"),
      total: Money.make(subtotal, "USD"),
      shipping_address: new Address.Address({
        name: "Ada Lovelace",
        line1: "12 St James's Square",
        city: "London",
        postal_code: "SW1Y 4JH",
        country: "GB"
      }),
      payment: null,
      payment_method_id: "pm_test",
      payment_attempt: 1,
      hold_expires_at: t0 + holdMs,
      retry_until: t0 + 2 * holdMs,
      created_at: iso(t0),
      updated_at: iso(t0),
      version: 1
    })
  })

/** `order` moved to `status` a second after its last update. */
export const moved = (order: Order.Order, status: Order.OrderStatus) =>
  new Order.Order({ ...order, status, updated_at: iso(Date.parse(order.updated_at) + 1_000) })

export const eventOf = (order: Order.Order, type: Event.EventType, eventId?: string) =>
  Effect.map(
    eventId === undefined ? Ids.fromCrypto("evt") : Effect.succeed(eventId),
    (id) =>
      new Event.Event({
        event_id: id,
        type,
        occurred_at: order.updated_at,
        aggregate_id: order.order_id,
        data: { status: order.status }
      })
  )
