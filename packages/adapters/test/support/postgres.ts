/**
 * Postgres stores for the tests, each build on a schema of its own: `CREATE SCHEMA`, migrate,
 * run, `DROP SCHEMA ... CASCADE` when the build's scope closes (before its pool does). The
 * contract suites build their layer afresh for every case, so no two cases share a row.
 */
import {
  Migrations,
  PaymentCipher,
  PgLayer,
  PostgresCatalog,
  PostgresDeadLetterStore,
  PostgresIdempotencyStore,
  PostgresInventoryStore,
  PostgresOrderStore,
  PostgresPaymentRetryQueue
} from "@till/adapters/postgres"
import { Effect, Layer, Redacted } from "effect"
import { SqlClient } from "effect/sql"
import { serviceUrl } from "./services.js"

export const url = () => Redacted.make(serviceUrl("postgres"))

/** `t_<random>`: a schema (and application name) no other build uses. */
export const freshName = (): string => `t_${crypto.randomUUID().replaceAll("-", "").slice(0, 20)}`

/** Creates and migrates the pool's schema for the build, dropping it when the build ends. */
const migratedSchema = (schema: string): Layer.Layer<never, unknown, SqlClient.SqlClient> =>
  Layer.effectDiscard(
    Effect.acquireRelease(
      Effect.gen(function* () {
        const sql = yield* SqlClient.SqlClient
        yield* sql`CREATE SCHEMA ${sql(schema)}`
        yield* Migrations.migrate
      }),
      () =>
        Effect.gen(function* () {
          const sql = yield* SqlClient.SqlClient
          yield* Effect.catchCause(sql`DROP SCHEMA ${sql(schema)} CASCADE`, (cause) =>
            Effect.sync(() => console.error("DROP FAILED", schema, String(cause)))
          )
        })
    )
  )

export interface Options {
  readonly maxConnections?: number
  /** Further pool settings (PgLayer.Settings). */
  readonly settings?: Partial<PgLayer.Settings>
  /** Called with the build's schema name (also its sessions' application_name). */
  readonly onSchema?: (schema: string) => void
}

/**
 * `stores` over a pool on a fresh, migrated schema (the pool provided too, and a payment cipher
 * under a key of the build's own); every build gets its own.
 */
export const onFreshSchema = <ROut, E>(
  stores: Layer.Layer<ROut, E, PgLayer.Client | PaymentCipher.PaymentCipher>,
  options: Options = {}
): Layer.Layer<ROut | PgLayer.Client, unknown> =>
  Layer.unwrap(
    Effect.sync(() => {
      const schema = freshName()
      options.onSchema?.(schema)
      const pg = PgLayer.layerWith({
        url: url(),
        schema,
        applicationName: schema,
        maxConnections: options.maxConnections ?? 10,
        minConnections: 0,
        ...options.settings
      })
      return stores.pipe(
        Layer.provide(migratedSchema(schema)),
        Layer.provide(PaymentCipher.layerEphemeral),
        Layer.provideMerge(pg)
      )
    })
  )

/** OrderStore and InventoryStore over one schema, as the contract suites want them. */
export const orderAndStockStores = Layer.mergeAll(PostgresOrderStore.layer, PostgresInventoryStore.layer)

export const catalogStore = PostgresCatalog.layer

export const idempotencyStore = PostgresIdempotencyStore.layer

export const paymentRetryQueue = PostgresPaymentRetryQueue.layer

export const deadLetterStore = PostgresDeadLetterStore.layer
