/**
 * The built-in fulfillment consumer: an `order.confirmed` becomes a row of `shipments` and a
 * `shipment.created` event in the outbox, in the consumer's dedupe transaction (Consumer.ts), so
 * the shipment, its event and the `processed_events` row commit together. The outbox relay then
 * publishes the event like any other (core `Outbox`).
 *
 * Exactly one shipment per order however often `order.confirmed` is delivered: the dedupe row
 * absorbs a redelivery, and `shipments.order_id` is unique besides (a second insert does
 * nothing, and no second event is written). The event id is `<order id>/shipment.created`, so
 * the outbox could not hold two either.
 */
import { type Errors, Event } from "@till/core"
import { Clock, Effect, type Layer, Schema } from "effect"
import { SqlClient } from "effect/sql"
import * as Consumer from "./Consumer.js"
import type { KafkaClient } from "./KafkaClient.js"
import type { Topics } from "./Topics.js"

/** `name` defaults to `fulfillment`, `groupId` to `till.fulfillment`. */
export type Options = Consumer.BuiltInOptions

const ConfirmedData = Schema.Struct({ user_id: Schema.String })
const decodeData = Schema.decodeUnknownEffect(ConfirmedData)
const encode = Schema.encodeSync(Event.Event)

/** The shipment event of `orderId`. */
export const shipmentCreated = (orderId: string, shipmentId: string, userId: string, occurredAt: string) =>
  new Event.Event({
    event_id: `${orderId}/shipment.created`,
    type: "shipment.created",
    occurred_at: occurredAt,
    aggregate_id: orderId,
    data: { order_id: orderId, shipment_id: shipmentId, user_id: userId }
  })

/** What fulfillment does with an `order.confirmed` (inside the consumer's transaction). */
export const onOrderConfirmed = Effect.fn("Fulfillment.onOrderConfirmed")(function* (event: Event.Event) {
  const sql = yield* SqlClient.SqlClient
  const { user_id } = yield* decodeData(event.data)
  const orderId = event.aggregate_id
  const now = yield* Clock.currentTimeMillis
  const shipmentId = `shp_${crypto.randomUUID()}`
  const occurredAt = new Date(now).toISOString()
  const inserted = yield* sql`
    INSERT INTO shipments (shipment_id, order_id, user_id, source_event_id, created_at)
    VALUES (${shipmentId}, ${orderId}, ${user_id}, ${event.event_id}, ${occurredAt}::timestamptz)
    ON CONFLICT (order_id) DO NOTHING
    RETURNING 1`
  if (inserted.length === 0) return
  const created = shipmentCreated(orderId, shipmentId, user_id, occurredAt)
  yield* sql`
    INSERT INTO outbox (event_id, aggregate_id, type, event)
    VALUES (${created.event_id}, ${created.aggregate_id}, ${created.type}, ${JSON.stringify(encode(created))}::jsonb)`
})

/** The fulfillment consumer's definition. */
export const consumer = (options: Options = {}): Consumer.Consumer<SqlClient.SqlClient> =>
  Consumer.builtIn(
    {
      name: "fulfillment",
      groupId: "till.fulfillment",
      topics: ["orders"],
      handlers: { "order.confirmed": onOrderConfirmed },
      // Its writes are all in the transaction: a batch per fetch is safe (Consumer.ts).
      batch: true
    },
    options
  )

/**
 * Runs the fulfillment consumer for the life of the layer.
 * @category layers
 */
export const layer = (
  options: Options = {}
): Layer.Layer<never, Errors.StoreUnavailable, KafkaClient | Topics | SqlClient.SqlClient> =>
  Consumer.layer(consumer(options))
