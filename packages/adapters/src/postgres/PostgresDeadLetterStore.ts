/**
 * The DeadLetterStore port on Postgres (DeadLetterStore.ts): one row per order, replaced by a
 * later letter of the same order (an upsert: one statement, no read-then-write race), listed
 * oldest first, then by order id byte-wise (the column is `COLLATE "C"`), from an index in that
 * order.
 */
import { DeadLetterStore } from "@till/core"
import { Effect, Layer } from "effect"
import { SqlClient } from "effect/sql"
import { pageLimit } from "./internal/cursor.js"
import type * as PgLayer from "./PgLayer.js"
import { gatedStatements } from "./internal/sqlErrors.js"

interface LetterRow {
  readonly order_id: string
  readonly attempts: number
  readonly last_error: string
  readonly failed_at: bigint
}

/** The store over the pool in context. */
export const make: Effect.Effect<DeadLetterStore.DeadLetterStore["Service"], never, PgLayer.Client> =
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const unavailable = yield* gatedStatements("dead-letter")

    const put = Effect.fn("PostgresDeadLetterStore.put")(function* (letter: DeadLetterStore.DeadLetter) {
      yield* unavailable(sql`
        INSERT INTO dead_letters (order_id, attempts, last_error, failed_at)
        VALUES (${letter.orderId}::text, ${letter.attempts}::int, ${letter.lastError}::text, ${letter.failedAt}::bigint)
        ON CONFLICT (order_id) DO UPDATE
        SET attempts = excluded.attempts, last_error = excluded.last_error, failed_at = excluded.failed_at`)
    })

    const list = Effect.fn("PostgresDeadLetterStore.list")(function* (limit: number) {
      const size = pageLimit(limit)
      if (size === 0) return []
      const rows = yield* unavailable(sql<LetterRow>`
        SELECT order_id, attempts, last_error, failed_at FROM dead_letters
        ORDER BY failed_at, order_id
        LIMIT ${size}`)
      return rows.map(
        (r): DeadLetterStore.DeadLetter => ({
          orderId: r.order_id,
          attempts: r.attempts,
          lastError: r.last_error,
          failedAt: Number(r.failed_at)
        })
      )
    })

    return DeadLetterStore.DeadLetterStore.of({ put: (letter) => put(letter), list: (limit) => list(limit) })
  })

/**
 * DeadLetterStore on the pool of `PgLayer` (migrated with `Migrations.migrate`).
 * @category layers
 */
export const layer: Layer.Layer<DeadLetterStore.DeadLetterStore, never, PgLayer.Client> = Layer.effect(
  DeadLetterStore.DeadLetterStore,
  make
)
