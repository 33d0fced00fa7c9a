/**
 * `@till/adapters/postgres`: Till's stores on Postgres through `@effect/sql-pg` and Effect's SQL
 * (`effect/sql`). `PgLayer` is the pool, `Migrations.migrate` the schema, and each store a layer
 * over the pool implementing a port of `@till/core`.
 */
export const adapter = "postgres"

export * as KeyRotation from "./KeyRotation.js"
export * as Migrations from "./Migrations.js"
export * as PaymentCipher from "./PaymentCipher.js"
export * as PgLayer from "./PgLayer.js"
export * as PoolGate from "./PoolGate.js"
export * as PostgresCatalog from "./PostgresCatalog.js"
export * as PostgresDeadLetterStore from "./PostgresDeadLetterStore.js"
export * as PostgresIdempotencyStore from "./PostgresIdempotencyStore.js"
export * as PostgresInventoryStore from "./PostgresInventoryStore.js"
export * as PostgresOrderStore from "./PostgresOrderStore.js"
export * as PostgresOutbox from "./PostgresOutbox.js"
export * as PostgresPaymentRetryQueue from "./PostgresPaymentRetryQueue.js"
