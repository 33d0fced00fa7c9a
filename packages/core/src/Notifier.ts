/** Port: messages to shoppers (order confirmation, payment failure, abandoned-cart reminder). */
import { Context, type Effect } from "effect"
import type { GatewayUnavailable } from "./Errors.js"

/** About an order. */
export interface OrderNotification {
  readonly userId: string
  readonly kind: "order_confirmed" | "payment_failed" | "order_expired"
  readonly orderId: string
}

/** About a cart: the reminder of a cart left without checkout. */
export interface CartNotification {
  readonly userId: string
  readonly kind: "cart_abandoned"
  readonly cartId: string
}

export type Notification = OrderNotification | CartNotification

export class Notifier extends Context.Service<
  Notifier,
  { readonly notify: (notification: Notification) => Effect.Effect<void, GatewayUnavailable> }
>()("@till/core/Notifier") {}
