/**
 * Idempotency keys (IdempotencyStore.ts): one row per (scope, key) with the request's
 * fingerprint, the resource id fixed by the first claim, the stored answer once completed, and
 * the lease and expiry in the caller's epoch milliseconds (the port judges claims by `nowMs`,
 * never by the database clock).
 *
 * Fencing tokens come from one sequence for every key, so a token is greater than any minted
 * before, even across a record's expiry (a row that expired and was claimed again keeps no
 * memory of its old tokens, the sequence does). Its maximum is `Number.MAX_SAFE_INTEGER`, so a
 * token always reaches JavaScript exactly.
 */
import { Effect } from "effect"
import { SqlClient } from "effect/sql"

export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`CREATE SEQUENCE idempotency_tokens AS bigint MAXVALUE 9007199254740991`
  yield* sql`
    CREATE TABLE idempotency_keys (
      scope text NOT NULL CHECK (char_length(scope) BETWEEN 1 AND 512),
      key text NOT NULL CHECK (char_length(key) BETWEEN 1 AND 255),
      fingerprint text NOT NULL,
      resource_id text NOT NULL,
      state text NOT NULL CHECK (state IN ('in_flight', 'completed')),
      outcome jsonb,
      token bigint NOT NULL CHECK (token > 0),
      locked_until bigint NOT NULL,
      expires_at bigint NOT NULL,
      PRIMARY KEY (scope, key),
      CONSTRAINT idempotency_answer_once_completed CHECK ((state = 'completed') = (outcome IS NOT NULL))
    )`
  yield* sql`CREATE INDEX idempotency_keys_by_expiry ON idempotency_keys (expires_at)`
})
