/**
 * The payment retry queue (PaymentRetryQueue.ts): one entry per order, due at
 * `next_attempt_at` (the caller's epoch milliseconds), with the claim of the drainer working on
 * it (`claim_token` from a sequence, so every claim's token is greater than any before, and
 * `claimed_until`). Order ids sort byte-wise (`COLLATE "C"`), as the port's "then by order id"
 * and the in-memory queue do, whatever the database's locale.
 */
import { Effect } from "effect"
import { SqlClient } from "effect/sql"

export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`CREATE SEQUENCE payment_retry_claim_tokens AS bigint MAXVALUE 9007199254740991`
  yield* sql`
    CREATE TABLE payment_retry_queue (
      order_id text COLLATE "C" PRIMARY KEY CHECK (char_length(order_id) BETWEEN 1 AND 128),
      attempt integer NOT NULL CHECK (attempt >= 0),
      next_attempt_at bigint NOT NULL CHECK (next_attempt_at >= 0),
      last_error text CHECK (char_length(last_error) <= 1000),
      claim_token bigint,
      claimed_until bigint,
      CONSTRAINT payment_retry_claim_whole CHECK ((claim_token IS NULL) = (claimed_until IS NULL))
    )`
  yield* sql`CREATE INDEX payment_retry_queue_due ON payment_retry_queue (next_attempt_at, order_id)`
})
