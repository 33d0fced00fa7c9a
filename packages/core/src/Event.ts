/**
 * Domain events (API.md "Events"): an envelope keyed by the aggregate id (the order id, or
 * the cart id for cart events). They are written to the outbox in the same transaction as
 * the state change they describe, and relayed to Kafka afterwards; consumers dedupe by
 * `event_id`. Event data never holds a card number: only token, brand and last4.
 */
import { Schema } from "effect"

export const EventType = Schema.Literals([
  "order.created",
  "order.confirmed",
  "order.payment_failed",
  "order.expired",
  "order.cancelled",
  "payment.succeeded",
  "payment.failed",
  "payment.queued",
  "payment.refunded",
  "inventory.reserved",
  "inventory.released",
  "shipment.created",
  "cart.abandoned"
])
export type EventType = typeof EventType.Type

export class Event extends Schema.Class<Event>("Event")({
  event_id: Schema.String,
  type: EventType,
  occurred_at: Schema.String,
  aggregate_id: Schema.String,
  data: Schema.Record(Schema.String, Schema.Unknown)
}) {}
