/**
 * Orders and their state machine. The table below is the only place a status may change;
 * every store write of a status goes through `canTransition`, and a store performs it as a
 * compare-and-set on the order's `version` (bumped by every write), so two processes can never
 * both move one order, even when a status comes back (payment_failed -> pending).
 *
 * Terminal: confirmed, cancelled, expired, and payment_failed once its retry window has
 * passed (within the window it may go back to pending for another payment attempt).
 */
import { Schema } from "effect"
import { Address } from "./Address.js"
import { CartId, UserId } from "./Cart.js"
import * as Money from "./Money.js"
import { Quantity, Sku } from "./Sku.js"

export const OrderStatus = Schema.Literals([
  "pending",
  "payment_pending",
  "confirmed",
  "payment_failed",
  "cancelled",
  "expired"
])
export type OrderStatus = typeof OrderStatus.Type

export const transitions: { readonly [S in OrderStatus]: ReadonlyArray<OrderStatus> } = {
  pending: ["payment_pending", "confirmed", "payment_failed", "cancelled", "expired"],
  payment_pending: ["confirmed", "payment_failed", "cancelled", "expired"],
  payment_failed: ["pending", "cancelled"],
  confirmed: [],
  cancelled: [],
  expired: []
}

export const canTransition = (from: OrderStatus, to: OrderStatus): boolean => transitions[from].includes(to)

/** Statuses in which the order holds reserved stock. */
export const holdsStock = (status: OrderStatus): boolean =>
  status === "pending" || status === "payment_pending"

/** Statuses the recovery sweeper must drive forward. */
export const isInFlight = holdsStock

export const OrderItem = Schema.Struct({
  sku: Sku,
  name: Schema.String,
  quantity: Quantity,
  unit_price: Money.Money,
  line_total: Money.Money
})
export type OrderItem = typeof OrderItem.Type

export const PaymentStatus = Schema.Literals(["succeeded", "failed", "pending", "refunded"])

export const OrderPayment = Schema.Struct({
  status: PaymentStatus,
  /** Known once the gateway has charged; null while pending or after a decline. */
  brand: Schema.NullOr(Schema.String),
  last4: Schema.NullOr(Schema.String),
  charge_id: Schema.optional(Schema.String),
  decline_code: Schema.optional(Schema.String)
})
export type OrderPayment = typeof OrderPayment.Type

export class Order extends Schema.Class<Order>("Order")({
  order_id: Schema.String,
  user_id: UserId,
  cart_id: CartId,
  status: OrderStatus,
  items: Schema.Array(OrderItem),
  subtotal: Money.Money,
  tax: Money.Money,
  shipping: Money.Money,
  total: Money.Money,
  shipping_address: Address,
  payment: Schema.NullOr(OrderPayment),
  /** The token of the payment method of the current attempt (never a card number). */
  payment_method_id: Schema.String,
  /** 1 for the first payment attempt; each retry after a decline adds one. */
  payment_attempt: Schema.Int,
  /** Until when reserved stock is held (epoch ms). */
  hold_expires_at: Schema.Int,
  /** Until when a declined order may be paid again (epoch ms). */
  retry_until: Schema.Int,
  created_at: Schema.String,
  updated_at: Schema.String,
  /** 1 when created; every store write adds one (the compare-and-set of `OrderStore.step`). */
  version: Schema.Int
}) {}

/**
 * The gateway idempotency key of an order's current payment attempt: the order id for the
 * first attempt, `order_id:n` for the n-th. One attempt is charged at most once; a new
 * attempt is only made after the previous one was declined (so was never charged).
 */
export const paymentKey = (order: Pick<Order, "order_id" | "payment_attempt">): string =>
  order.payment_attempt === 1 ? order.order_id : `${order.order_id}:${order.payment_attempt}`

/**
 * The order and payment attempt of a gateway charge key, the inverse of `paymentKey`:
 * `order_id:n` (n >= 2) is attempt n of `order_id`, any other key attempt 1 of itself.
 * Order ids never end in `:digits`, so every key `paymentKey` makes parses back to its order.
 */
export const parsePaymentKey = (key: string): { readonly orderId: string; readonly attempt: number } => {
  const match = /^(.+):([1-9][0-9]{0,8})$/.exec(key)
  const attempt = match === null ? 1 : Number(match[2])
  return match !== null && attempt >= 2 ? { orderId: match[1]!, attempt } : { orderId: key, attempt: 1 }
}

/** The payment as API.md shows it: status, brand, last4; never the charge id or decline code. */
export const OrderPaymentJson = Schema.Struct({
  status: PaymentStatus,
  brand: Schema.NullOr(Schema.String),
  last4: Schema.NullOr(Schema.String)
})

/**
 * An order as API.md's JSON (what the runtime serves and `PromiseClient` answers): exactly these
 * keys, times in ISO 8601. The bookkeeping of the saga (`version`, `payment_method_id`,
 * `payment_attempt`, `hold_expires_at`, `retry_until`, the payment's `charge_id` and
 * `decline_code`) stays inside Till.
 */
export const OrderJson = Schema.Struct({
  order_id: Schema.String,
  user_id: Schema.String,
  cart_id: Schema.String,
  status: OrderStatus,
  items: Schema.Array(OrderItem),
  subtotal: Money.Money,
  tax: Money.Money,
  shipping: Money.Money,
  total: Money.Money,
  shipping_address: Address,
  payment: Schema.NullOr(OrderPaymentJson),
  created_at: Schema.String,
  updated_at: Schema.String
})
/** The plain JSON object (`JSON.stringify` it as is). */
export type OrderJson = typeof OrderJson.Encoded

const isoTime = (time: string): string => new Date(time).toISOString()

/**
 * The order as API.md's JSON.
 * @example res.json(Order.toJson(placed.order))
 */
export const toJson = (order: Order): OrderJson =>
  Schema.encodeSync(OrderJson)({
    order_id: order.order_id,
    user_id: order.user_id,
    cart_id: order.cart_id,
    status: order.status,
    items: order.items,
    subtotal: order.subtotal,
    tax: order.tax,
    shipping: order.shipping,
    total: order.total,
    shipping_address: order.shipping_address,
    payment:
      order.payment === null
        ? null
        : { status: order.payment.status, brand: order.payment.brand, last4: order.payment.last4 },
    created_at: isoTime(order.created_at),
    updated_at: isoTime(order.updated_at)
  })
