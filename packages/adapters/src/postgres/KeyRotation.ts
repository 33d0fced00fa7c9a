/**
 * Step 3 of a key rotation (PaymentCipher.ts): re-seal, under the current key, what an older key
 * still seals (payment method tokens in `payments`, stored answers in `idempotency_keys`), a batch
 * at a time, while the service runs. Each batch is one transaction over rows locked
 * `FOR UPDATE SKIP LOCKED`, so a concurrent step or claim is never blocked for long and two
 * instances running it never re-seal the same row twice.
 *
 * @example
 * // until nothing is left under an old key, then drop that key from the configuration
 * while ((yield* KeyRotation.reseal(500)) > 0) {}
 */
import { Effect } from "effect"
import { SqlClient } from "effect/sql"
import type { SqlError } from "effect/sql/SqlError"
import { answerRow, paymentRow } from "./internal/sealedRows.js"
import { PaymentCipher, type Sealed } from "./PaymentCipher.js"

/** Most rows of each table re-sealed by one call. */
export const maxBatch = 10_000

interface SealedRow {
  readonly a: string
  readonly b: string
  readonly key_id: string
  readonly sealed: Uint8Array
}

/**
 * Re-seals up to `limit` rows of each table under the current key; answers how many it did (0:
 * nothing is left under another key).
 */
export const reseal = (limit: number): Effect.Effect<number, SqlError, SqlClient.SqlClient | PaymentCipher> =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const cipher = yield* PaymentCipher
    const size = Math.max(0, Math.min(maxBatch, Math.floor(limit)))
    if (size === 0) return 0
    const current = cipher.currentKeyId

    /** Opens each row (sealed for `aadOf(row)`), seals it again under the current key, writes it. */
    const resealed = <E>(
      rows: Effect.Effect<ReadonlyArray<SealedRow>, E>,
      aadOf: (row: SealedRow) => string,
      write: (row: SealedRow, next: Sealed) => Effect.Effect<unknown, E>
    ) =>
      Effect.gen(function* () {
        const found = yield* rows
        for (const row of found) {
          const aad = aadOf(row)
          yield* write(
            row,
            cipher.seal(yield* cipher.open({ keyId: row.key_id, sealed: row.sealed }, aad), aad)
          )
        }
        return found.length
      })

    const payments = resealed(
      sql<SealedRow>`
        SELECT order_id AS a, attempt::text AS b, key_id, method_sealed AS sealed FROM payments
        WHERE key_id <> ${current}::text LIMIT ${size} FOR UPDATE SKIP LOCKED`,
      (row) => paymentRow(row.a, Number(row.b)),
      (row, next) => sql`
        UPDATE payments SET key_id = ${next.keyId}::text, method_sealed = ${next.sealed}::bytea
        WHERE order_id = ${row.a}::text AND attempt = ${Number(row.b)}::int`
    )

    const answers = resealed(
      sql<SealedRow>`
        SELECT scope AS a, key AS b, outcome_key_id AS key_id, outcome_sealed AS sealed FROM idempotency_keys
        WHERE outcome_key_id <> ${current}::text LIMIT ${size} FOR UPDATE SKIP LOCKED`,
      (row) => answerRow(row.a, row.b),
      (row, next) => sql`
        UPDATE idempotency_keys SET outcome_key_id = ${next.keyId}::text, outcome_sealed = ${next.sealed}::bytea
        WHERE scope = ${row.a}::text AND key = ${row.b}::text AND outcome_key_id = ${row.key_id}::text`
    )

    return yield* sql.withTransaction(Effect.zipWith(payments, answers, (p, a) => p + a))
  })
