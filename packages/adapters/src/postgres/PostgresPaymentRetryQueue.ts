/**
 * The PaymentRetryQueue port on Postgres (PaymentRetryQueue.ts): one row per order, with the
 * claim of the drainer working on it. Every method is one statement.
 *
 * - `enqueue` is an upsert whose conflict branch only clears the claim, so a queued order keeps
 *   its attempts and schedule, and a holder's later `remove`/`reschedule` with the old token is
 *   a no-op (`xmax = 0` on the returned row tells an insert from that update).
 * - `claimDue` picks the due, unclaimed (or lapsed) rows earliest first `FOR UPDATE SKIP LOCKED`
 *   and claims them in the same statement, each with its own token from the
 *   `payment_retry_claim_tokens` sequence. A row another claimer holds locked is skipped, and
 *   one it claimed and committed meanwhile fails the recheck Postgres makes on the locked row's
 *   latest version (READ COMMITTED), so concurrent claimers get disjoint entries, never a wait.
 * - `remove` and `reschedule` act only where `claim_token` still is the caller's token.
 *
 * Times are the caller's epoch milliseconds, never the database clock.
 */
import { PaymentRetryQueue } from "@till/core"
import { Effect, Layer } from "effect"
import { SqlClient } from "effect/sql"
import { pageLimit } from "./internal/cursor.js"
import type * as PgLayer from "./PgLayer.js"
import { gatedStatements } from "./internal/sqlErrors.js"

interface ClaimedRow {
  readonly order_id: string
  readonly attempt: number
  readonly next_attempt_at: bigint
  readonly last_error: string | null
  readonly claim_token: bigint
  readonly claimed_until: bigint
}

const toEntry = (row: ClaimedRow): PaymentRetryQueue.RetryEntry =>
  row.last_error === null
    ? { orderId: row.order_id, attempt: row.attempt, nextAttemptAt: Number(row.next_attempt_at) }
    : {
        orderId: row.order_id,
        attempt: row.attempt,
        nextAttemptAt: Number(row.next_attempt_at),
        lastError: row.last_error
      }

const requireMillis = (values: ReadonlyArray<number>, what: string): Effect.Effect<void> =>
  values.every(Number.isSafeInteger)
    ? Effect.void
    : Effect.die(new Error(`${what} must be integer milliseconds, got ${values.join(", ")}`))

/** The queue over the pool in context. */
export const make: Effect.Effect<PaymentRetryQueue.PaymentRetryQueue["Service"], never, PgLayer.Client> =
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const unavailable = yield* gatedStatements("payment-retry-queue")

    const enqueue = Effect.fn("PostgresPaymentRetryQueue.enqueue")(function* (
      entry: PaymentRetryQueue.RetryEntry
    ) {
      const rows = yield* unavailable(sql<{ inserted: boolean }>`
        INSERT INTO payment_retry_queue AS q (order_id, attempt, next_attempt_at, last_error)
        VALUES (${entry.orderId}::text, ${entry.attempt}::int, ${entry.nextAttemptAt}::bigint,
                ${entry.lastError ?? null}::text)
        ON CONFLICT (order_id) DO UPDATE SET claim_token = NULL, claimed_until = NULL
        RETURNING (q.xmax = 0) AS inserted`)
      return rows[0]?.inserted === true ? ("enqueued" as const) : ("alreadyQueued" as const)
    })

    const claimDue = Effect.fn("PostgresPaymentRetryQueue.claimDue")(function* (
      nowMs: number,
      limit: number,
      leaseMs: number
    ) {
      yield* requireMillis([nowMs, leaseMs], "claimDue: nowMs and leaseMs")
      const size = pageLimit(limit)
      if (size === 0) return []
      const rows = yield* unavailable(sql<ClaimedRow>`
        WITH due AS (
          SELECT order_id FROM payment_retry_queue
          WHERE next_attempt_at <= ${nowMs}::bigint
            AND (claimed_until IS NULL OR claimed_until <= ${nowMs}::bigint)
          ORDER BY next_attempt_at, order_id
          LIMIT ${size}
          FOR UPDATE SKIP LOCKED
        ),
        claimed AS (
          UPDATE payment_retry_queue q
          SET claim_token = nextval('payment_retry_claim_tokens'), claimed_until = ${nowMs + leaseMs}::bigint
          FROM due WHERE q.order_id = due.order_id
          RETURNING q.order_id, q.attempt, q.next_attempt_at, q.last_error, q.claim_token, q.claimed_until
        )
        SELECT * FROM claimed ORDER BY next_attempt_at, order_id`)
      return rows.map(
        (row): PaymentRetryQueue.ClaimedEntry => ({
          entry: toEntry(row),
          token: Number(row.claim_token),
          claimedUntil: Number(row.claimed_until)
        })
      )
    })

    const reschedule = Effect.fn("PostgresPaymentRetryQueue.reschedule")(function* (
      entry: PaymentRetryQueue.RetryEntry,
      token: number
    ) {
      const rows = yield* unavailable(sql`
        UPDATE payment_retry_queue
        SET attempt = ${entry.attempt}::int, next_attempt_at = ${entry.nextAttemptAt}::bigint,
            last_error = ${entry.lastError ?? null}::text, claim_token = NULL, claimed_until = NULL
        WHERE order_id = ${entry.orderId}::text AND claim_token = ${token}::bigint
        RETURNING 1`)
      return rows.length === 0 ? ("stale" as const) : ("rescheduled" as const)
    })

    const remove = Effect.fn("PostgresPaymentRetryQueue.remove")(function* (orderId: string, token: number) {
      const rows = yield* unavailable(sql`
        DELETE FROM payment_retry_queue WHERE order_id = ${orderId}::text AND claim_token = ${token}::bigint
        RETURNING 1`)
      return rows.length === 0 ? ("stale" as const) : ("removed" as const)
    })

    const size = unavailable(
      Effect.map(sql<{ n: bigint }>`SELECT count(*) AS n FROM payment_retry_queue`, (rows) =>
        Number(rows[0]?.n ?? 0n)
      )
    ).pipe(Effect.withSpan("PostgresPaymentRetryQueue.size"))

    return PaymentRetryQueue.PaymentRetryQueue.of({
      enqueue: (entry) => enqueue(entry),
      claimDue: (nowMs, limit, leaseMs) => claimDue(nowMs, limit, leaseMs),
      reschedule: (entry, token) => reschedule(entry, token),
      remove: (orderId, token) => remove(orderId, token),
      size
    })
  })

/**
 * PaymentRetryQueue on the pool of `PgLayer` (migrated with `Migrations.migrate`).
 * @category layers
 */
export const layer: Layer.Layer<PaymentRetryQueue.PaymentRetryQueue, never, PgLayer.Client> = Layer.effect(
  PaymentRetryQueue.PaymentRetryQueue,
  make
)
