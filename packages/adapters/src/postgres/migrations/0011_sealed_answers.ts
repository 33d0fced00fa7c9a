/**
 * Stored idempotent answers sealed at rest. An answer can hold what must not sit in the clear (a
 * payment method's token: the answer of tokenize; an address), so from here on `complete` seals
 * it under a key id (PaymentCipher.ts) into `outcome_sealed`, and `fingerprint` holds a SHA-256
 * digest of the request rather than the request. Answers stored before keep their `outcome` and
 * are read as they are until they expire.
 */
import { Effect } from "effect"
import { SqlClient } from "effect/sql"

export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`
    ALTER TABLE idempotency_keys
      ADD COLUMN outcome_key_id text CHECK (char_length(outcome_key_id) BETWEEN 1 AND 64),
      ADD COLUMN outcome_sealed bytea,
      DROP CONSTRAINT idempotency_answer_once_completed,
      ADD CONSTRAINT idempotency_answer_once_completed
        CHECK ((state = 'completed') = (outcome IS NOT NULL OR outcome_sealed IS NOT NULL)),
      ADD CONSTRAINT idempotency_sealed_with_key CHECK ((outcome_sealed IS NULL) = (outcome_key_id IS NULL))`
})
