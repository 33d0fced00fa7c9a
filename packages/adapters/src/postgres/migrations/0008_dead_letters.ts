/**
 * Dead letters (DeadLetterStore.ts): the payments the retry drainer gave up on, one per order
 * (a later letter replaces the earlier), listed oldest first, then by order id byte-wise.
 */
import { Effect } from "effect"
import { SqlClient } from "effect/sql"

export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`
    CREATE TABLE dead_letters (
      order_id text COLLATE "C" PRIMARY KEY CHECK (char_length(order_id) BETWEEN 1 AND 128),
      attempts integer NOT NULL CHECK (attempts >= 0),
      last_error text NOT NULL CHECK (char_length(last_error) <= 1000),
      failed_at bigint NOT NULL CHECK (failed_at >= 0)
    )`
  yield* sql`CREATE INDEX dead_letters_oldest_first ON dead_letters (failed_at, order_id)`
})
