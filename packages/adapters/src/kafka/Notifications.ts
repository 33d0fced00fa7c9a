/**
 * The built-in notifications consumer: `order.confirmed` sends the order confirmation and
 * `cart.abandoned` the reminder, through core's `Notifier` port.
 *
 * At least once: the send happens inside the consumer's dedupe transaction (Consumer.ts), before
 * it commits. A commit that fails after the send (the database gone at that moment, the process
 * killed) leaves the event unprocessed, and its redelivery sends the message again. A mail
 * provider's idempotency key (the event id) is where to make that exactly once.
 */
import { Notifier } from "@till/core"
import type { Errors, Event } from "@till/core"
import { Effect, type Layer, Schema } from "effect"
import type { SqlClient } from "effect/sql"
import * as Consumer from "./Consumer.js"
import type { KafkaClient } from "./KafkaClient.js"
import type { Topics } from "./Topics.js"

/** `name` defaults to `notifications`, `groupId` to `till.notifications`. */
export type Options = Consumer.BuiltInOptions

const UserData = Schema.Struct({ user_id: Schema.String })
const decodeUser = Schema.decodeUnknownEffect(UserData)

/** `order.confirmed`: the confirmation to the order's user. */
export const onOrderConfirmed: (
  event: Event.Event
) => Effect.Effect<void, Schema.SchemaError | Errors.GatewayUnavailable, Notifier.Notifier> = Effect.fn(
  "Notifications.onOrderConfirmed"
)(function* (event: Event.Event) {
  const { user_id } = yield* decodeUser(event.data)
  const notifier = yield* Notifier.Notifier
  yield* notifier.notify({ kind: "order_confirmed", userId: user_id, orderId: event.aggregate_id })
})

/** `cart.abandoned`: the reminder to the cart's user (the event is keyed by cart id). */
export const onCartAbandoned: (
  event: Event.Event
) => Effect.Effect<void, Schema.SchemaError | Errors.GatewayUnavailable, Notifier.Notifier> = Effect.fn(
  "Notifications.onCartAbandoned"
)(function* (event: Event.Event) {
  const { user_id } = yield* decodeUser(event.data)
  const notifier = yield* Notifier.Notifier
  yield* notifier.notify({ kind: "cart_abandoned", userId: user_id, cartId: event.aggregate_id })
})

/** The notifications consumer's definition (orders and carts). */
export const consumer = (options: Options = {}): Consumer.Consumer<Notifier.Notifier> =>
  Consumer.builtIn(
    {
      name: "notifications",
      groupId: "till.notifications",
      topics: ["orders", "carts"],
      handlers: { "order.confirmed": onOrderConfirmed, "cart.abandoned": onCartAbandoned }
    },
    options
  )

/**
 * Runs the notifications consumer for the life of the layer.
 * @category layers
 */
export const layer = (
  options: Options = {}
): Layer.Layer<
  never,
  Errors.StoreUnavailable,
  KafkaClient | Topics | SqlClient.SqlClient | Notifier.Notifier
> => Consumer.layer(consumer(options))
