/**
 * The outbox: events written by the order step that caused them, in `seq` order, read by relays
 * through claims (token + lease in the caller's milliseconds). The partial indexes cover only the
 * unsent rows, so they stay small however long the published history grows.
 */
import { Effect } from "effect"
import { SqlClient } from "effect/sql"

export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`
    CREATE TABLE outbox (
      seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      event_id text NOT NULL UNIQUE,
      aggregate_id text NOT NULL,
      type text NOT NULL,
      event jsonb NOT NULL,
      published boolean NOT NULL DEFAULT false,
      claim_token text,
      claimed_until bigint
    )`
  yield* sql`CREATE INDEX outbox_unsent ON outbox (seq) WHERE NOT published`
  yield* sql`CREATE INDEX outbox_unsent_by_aggregate ON outbox (aggregate_id, seq) WHERE NOT published`
})
