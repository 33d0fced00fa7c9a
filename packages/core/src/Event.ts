/**
 * Domain events (API.md "Events"): an envelope keyed by the aggregate id (the order id, or
 * the cart id for cart events). They are written to the outbox in the same transaction as
 * the state change they describe, and relayed to Kafka afterwards; consumers dedupe by
 * `event_id`. Event data never holds a card number: only token, brand and last4.
 */
import { Effect, Schema } from "effect"

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

/**
 * An event as the outbox keeps it: its encoded JSON, with the fields a transport routes and heads
 * it by. The relay hands stored events on as they are (`OrderStore.relayEvents`), so a publisher
 * that sends bytes (Kafka) sends the stored JSON without decoding and re-encoding it: in
 * `pnpm bench kafka` that alone took the relay from 0.43 to 0.50 of raw kafkajs's rate (median of 6
 * same-session rounds each, 2026-12-03).
 */
export interface StoredEvent {
  readonly event_id: string
  readonly aggregate_id: string
  readonly type: EventType
  /** `JSON.stringify` of the encoded `Event`. */
  readonly json: string
  /**
   * The event itself, when the store holds it decoded (in memory): what `fromStored` answers
   * without decoding `json`.
   */
  readonly event?: Event | undefined
}

const encodeEvent = Schema.encodeSync(Event)
const decodeEvent = Schema.decodeUnknownEffect(Schema.fromJsonString(Event))

/** An event held in memory, stored: its JSON is made only when read (an in-memory relay never reads it). */
class HeldEvent implements StoredEvent {
  readonly event_id: string
  readonly aggregate_id: string
  readonly type: EventType
  #json: string | undefined
  constructor(readonly event: Event) {
    this.event_id = event.event_id
    this.aggregate_id = event.aggregate_id
    this.type = event.type
  }
  get json(): string {
    if (this.#json === undefined) this.#json = JSON.stringify(encodeEvent(this.event))
    return this.#json
  }
}

/** `event` as the outbox stores it. */
export const toStored = (event: Event): StoredEvent => new HeldEvent(event)

/** The event a stored one holds (`event` when at hand, else its JSON decoded); fails when the JSON is not an `Event`. */
export const fromStored = (stored: StoredEvent): Effect.Effect<Event, Schema.SchemaError> =>
  stored.event !== undefined ? Effect.succeed(stored.event) : decodeEvent(stored.json)
