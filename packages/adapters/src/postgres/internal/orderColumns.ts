/** How an order's fields become the columns of `orders` and `payments` (both order statements). */
import type { Order } from "@till/core"

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
