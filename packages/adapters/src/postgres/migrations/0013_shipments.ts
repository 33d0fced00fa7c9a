/**
 * Shipments, written by the fulfillment consumer (kafka/Fulfillment.ts) when an order is
 * confirmed, in the same transaction as its `processed_events` row and its `shipment.created`
 * outbox event. One shipment per order (`order_id` UNIQUE): the consumer's dedupe is the first
 * guard, this the last.
 */
import { Effect } from "effect"
import { SqlClient } from "effect/sql"

export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`
    CREATE TABLE shipments (
      shipment_id text PRIMARY KEY CHECK (char_length(shipment_id) BETWEEN 1 AND 128),
      order_id text NOT NULL UNIQUE CHECK (char_length(order_id) BETWEEN 1 AND 128),
      user_id text NOT NULL CHECK (char_length(user_id) BETWEEN 1 AND 128),
      status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'shipped', 'delivered', 'cancelled')),
      source_event_id text NOT NULL CHECK (char_length(source_event_id) BETWEEN 1 AND 128),
      created_at timestamptz NOT NULL
    )`
})
