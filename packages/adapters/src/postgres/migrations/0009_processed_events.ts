/**
 * Consumer dedupe: events are delivered at least once (Outbox.ts), so a consumer records each
 * event id it handled, in the same transaction as its effect, and skips an id it finds here.
 * `processed_at` is bookkeeping for pruning old rows, never read by a decision.
 */
import { Effect } from "effect"
import { SqlClient } from "effect/sql"

export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`
    CREATE TABLE processed_events (
      consumer text NOT NULL CHECK (char_length(consumer) BETWEEN 1 AND 128),
      event_id text NOT NULL CHECK (char_length(event_id) BETWEEN 1 AND 128),
      processed_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (consumer, event_id)
    )`
  yield* sql`CREATE INDEX processed_events_by_time ON processed_events (processed_at)`
})
