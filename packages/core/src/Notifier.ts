/** Port: messages to shoppers (order confirmation, payment failure). */
import { Context, type Effect } from "effect"
import type { GatewayUnavailable } from "./Errors.js"

export interface Notification {
  readonly userId: string
  readonly kind: "order_confirmed" | "payment_failed" | "order_expired"
  readonly orderId: string
}

export class Notifier extends Context.Service<
  Notifier,
  { readonly notify: (notification: Notification) => Effect.Effect<void, GatewayUnavailable> }
>()("@till/core/Notifier") {}
