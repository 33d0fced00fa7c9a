/**
 * How an order's fields become the columns of `orders`, `reservations` and `payments`: for
 * PostgresOrderStore's `create` and `step` statements and for the batches of `createMany`
 * (orderBatch.ts), so the three write the same values.
 */
import type { Event, Order } from "@till/core"
import type * as PaymentCipher from "../PaymentCipher.js"

/**
 * What `orders.doc` keeps: the order's JSON without its payment method's token (sealed in
 * `payments`). An Order and an Event are Schema classes built (so checked) by core, whose encoded
 * form is their JSON: no field is transformed (a Date, a bigint, a Redacted would be). So their
 * own fields go to `pg.json` as they are, and no Schema encode runs again on every step: that was
 * ~100 µs of Node CPU per checkout under load (bench/postgres). `postgres.json.test.ts` holds them
 * to it: for generated orders and events, this JSON and Schema's encoding are the same.
 */
export const docOf = (order: Order.Order): object => {
  const { payment_method_id: _sealedApart, ...doc } = order
  return doc
}

/** What the payment row of an attempt says of the payment (the columns beside the sealed token). */
export const paymentColumns = (order: Order.Order) => ({
  status: order.payment?.status ?? "pending",
  chargeId: order.payment?.charge_id ?? null,
  brand: order.payment?.brand ?? null,
  last4: order.payment?.last4 ?? null
})

/** The values the order statements take (compiledStatement.ts; orderBatch.ts as JSON records). */
export interface OrderArgs {
  readonly skus: ReadonlyArray<string>
  readonly quantities: ReadonlyArray<number>
  readonly orderId: string
  readonly userId: string
  readonly cartId: string
  readonly status: string
  readonly attempt: number
  readonly totalMinor: number
  readonly currency: string
  readonly updatedAt: string
  readonly doc: object
  readonly holdExpiresAt: number
  readonly lines: ReadonlyArray<{ readonly sku: string; readonly quantity: number }>
  readonly paymentStatus: string
  readonly chargeId: string | null
  readonly brand: string | null
  readonly last4: string | null
  readonly keyId: string | null
  readonly sealed: Uint8Array | null
  readonly events: ReadonlyArray<unknown>
}

/** The values of `order` the order statements take; `doc` is what `orders.doc` gets. */
export const orderArgs = (
  order: Order.Order,
  doc: Order.Order,
  method: PaymentCipher.Sealed | null,
  events: ReadonlyArray<Event.Event>
): OrderArgs => {
  const lines = order.items.map((i) => ({ sku: i.sku, quantity: i.quantity }))
  const payment = paymentColumns(order)
  return {
    skus: lines.map((l) => l.sku),
    quantities: lines.map((l) => l.quantity),
    orderId: order.order_id,
    userId: order.user_id,
    cartId: order.cart_id,
    status: order.status,
    attempt: order.payment_attempt,
    totalMinor: order.total.amount,
    currency: order.total.currency,
    updatedAt: order.updated_at,
    doc: docOf(doc),
    holdExpiresAt: order.hold_expires_at,
    lines,
    paymentStatus: payment.status,
    chargeId: payment.chargeId,
    brand: payment.brand,
    last4: payment.last4,
    keyId: method?.keyId ?? null,
    sealed: method?.sealed ?? null,
    events
  }
}
