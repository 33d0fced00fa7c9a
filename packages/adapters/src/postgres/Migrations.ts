/**
 * Till's schema, as Effect SQL migrations (`effect/sql/Migrator`), recorded in `till_migrations`
 * of the pool's schema. `migrate` is what `till migrate` runs at deploy time.
 *
 * Safe from several instances at once: the Migrator itself locks its table (ACCESS EXCLUSIVE)
 * inside its transaction, but two first runs race on creating that table. So `migrate` takes a
 * transaction-scoped advisory lock of the schema first, around everything: the second instance
 * waits, then finds nothing left to run.
 *
 * Numbering: 1-5 are catalog, stock, orders and reservations, the audit log and the outbox;
 * 6-9 idempotency keys, the payment retry queue, dead letters and processed events (consumer
 * dedupe); 10 payments, 11 sealed idempotent answers, 12 outbox wake-ups, 13 shipments
 * (the Kafka fulfillment consumer), 14 the index of claimed outbox events, 15 decided order ids,
 * 16 the wake-up trigger by index and the outbox's autovacuum settings. A migration is never
 * edited once merged: a change is a new migration.
 */
import { Effect } from "effect"
import { Migrator, SqlClient } from "effect/sql"
import type { SqlError } from "effect/sql/SqlError"
import catalog from "./migrations/0001_catalog.js"
import stock from "./migrations/0002_stock.js"
import orders from "./migrations/0003_orders.js"
import audit from "./migrations/0004_audit.js"
import outbox from "./migrations/0005_outbox.js"
import idempotency from "./migrations/0006_idempotency.js"
import paymentRetryQueue from "./migrations/0007_payment_retry_queue.js"
import deadLetters from "./migrations/0008_dead_letters.js"
import processedEvents from "./migrations/0009_processed_events.js"
import payments from "./migrations/0010_payments.js"
import sealedAnswers from "./migrations/0011_sealed_answers.js"
import outboxNotify from "./migrations/0012_outbox_notify.js"
import shipments from "./migrations/0013_shipments.js"
import outboxClaimed from "./migrations/0014_outbox_claimed.js"
import orderIds from "./migrations/0015_order_ids.js"
import outboxNotifyByIndex from "./migrations/0016_outbox_notify_by_index.js"
import outboxPublishedAt from "./migrations/0017_outbox_published_at.js"

/** Every migration, by `<id>_<name>`. */
export const migrations = {
  "1_catalog": catalog,
  "2_stock": stock,
  "3_orders": orders,
  "4_audit": audit,
  "5_outbox": outbox,
  "6_idempotency": idempotency,
  "7_payment_retry_queue": paymentRetryQueue,
  "8_dead_letters": deadLetters,
  "9_processed_events": processedEvents,
  "10_payments": payments,
  "11_sealed_answers": sealedAnswers,
  "12_outbox_notify": outboxNotify,
  "13_shipments": shipments,
  "14_outbox_claimed": outboxClaimed,
  "15_order_ids": orderIds,
  "16_outbox_notify_by_index": outboxNotifyByIndex,
  "17_outbox_published_at": outboxPublishedAt
}

export const table = "till_migrations"

const runMigrator = Migrator.make({})({ loader: Migrator.fromRecord(migrations), table })

/**
 * Applies the pending migrations in the pool's schema, one transaction for all, and answers the
 * ones it ran (none when another instance got there first).
 * @example yield* Migrations.migrate.pipe(Effect.provide(PgLayer.layerConfig()))
 */
export const migrate: Effect.Effect<
  ReadonlyArray<readonly [id: number, name: string]>,
  Migrator.MigrationError | SqlError,
  SqlClient.SqlClient
> = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  return yield* sql.withTransaction(
    Effect.andThen(
      sql`SELECT pg_advisory_xact_lock(hashtext(coalesce(current_schema(), '') || '.till_migrations'))`,
      runMigrator
    )
  )
}).pipe(Effect.withSpan("Migrations.migrate"))
