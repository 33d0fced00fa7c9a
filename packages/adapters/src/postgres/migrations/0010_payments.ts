/**
 * Payments: one row per (order, payment attempt), written by the order step that makes or moves
 * the attempt, in the same statement. What Till keeps of a payment method is its token, brand and
 * last four digits (never a card number); the token is sealed (AES-256-GCM, PaymentCipher.ts)
 * under `key_id`, so a copy of the database cannot charge anybody, and keys rotate row by row
 * (`payments_by_key` finds what an old key still seals). The charge id is the gateway's reference
 * for refunds and reconciliation: in the clear, and one attempt's alone.
 *
 * Orders written before this migration keep their token in `orders.doc` and have no payment
 * row; the store reads them as they are (see PostgresOrderStore.ts).
 */
import { Effect } from "effect"
import { SqlClient } from "effect/sql"

export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`
    CREATE TABLE payments (
      order_id text NOT NULL REFERENCES orders (order_id),
      attempt integer NOT NULL CHECK (attempt >= 1),
      status text NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed', 'refunded')),
      charge_id text CHECK (char_length(charge_id) BETWEEN 1 AND 256),
      brand text CHECK (char_length(brand) BETWEEN 1 AND 64),
      last4 text CHECK (last4 ~ '^[0-9]{4}$'),
      key_id text NOT NULL CHECK (char_length(key_id) BETWEEN 1 AND 64),
      method_sealed bytea NOT NULL CHECK (octet_length(method_sealed) BETWEEN 29 AND 4096),
      updated_at timestamptz NOT NULL,
      PRIMARY KEY (order_id, attempt)
    )`
  yield* sql`CREATE UNIQUE INDEX payments_one_attempt_per_charge ON payments (charge_id) WHERE charge_id IS NOT NULL`
  yield* sql`CREATE INDEX payments_by_key ON payments (key_id)`
})
