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
 * payments, idempotency keys, the retry queue with dead letters and processed events follow
 * as 6 and up.
 */
import { Effect } from "effect"
import { Migrator, SqlClient } from "effect/sql"
import type { SqlError } from "effect/sql/SqlError"
import catalog from "./migrations/0001_catalog.js"
import stock from "./migrations/0002_stock.js"
import orders from "./migrations/0003_orders.js"
import audit from "./migrations/0004_audit.js"
import outbox from "./migrations/0005_outbox.js"

/** Every migration, by `<id>_<name>`. */
export const migrations = {
  "1_catalog": catalog,
  "2_stock": stock,
  "3_orders": orders,
  "4_audit": audit,
  "5_outbox": outbox
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
