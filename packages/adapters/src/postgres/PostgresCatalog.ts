/**
 * The Catalog port on Postgres: one row per SKU, the price in integer minor units (`bigint`)
 * with its currency. An upsert replaces name and price in one statement, so a reader never sees
 * the name of one write with the price of another.
 */
import { Catalog, type Sku } from "@till/core"
import { Effect, Layer, Option, Schema } from "effect"
import { SqlClient } from "effect/sql"
import type * as PgLayer from "./PgLayer.js"
import { gatedStatements } from "./internal/sqlErrors.js"

const decodeProduct = Schema.decodeUnknownEffect(Catalog.Product)

/** The store over the pool in context. */
export const make: Effect.Effect<Catalog.Catalog["Service"], never, PgLayer.Client> = Effect.gen(
  function* () {
    const sql = yield* SqlClient.SqlClient
    const unavailable = yield* gatedStatements("catalog")

    const get = Effect.fn("PostgresCatalog.get")(function* (sku: Sku.Sku) {
      const rows = yield* unavailable(sql<{ name: string; price_minor: bigint; currency: string }>`
      SELECT name, price_minor, currency FROM catalog WHERE sku = ${sku}::text`)
      const row = rows[0]
      if (row === undefined) return Option.none<Catalog.Product>()
      const product = yield* Effect.orDie(
        decodeProduct({
          sku,
          name: row.name,
          price: { amount: Number(row.price_minor), currency: row.currency }
        })
      )
      return Option.some(product)
    })

    const upsert = Effect.fn("PostgresCatalog.upsert")(function* (product: Catalog.Product) {
      yield* unavailable(sql`
      INSERT INTO catalog (sku, name, price_minor, currency)
      VALUES (${product.sku}::text, ${product.name}::text, ${product.price.amount}::bigint, ${product.price.currency}::text)
      ON CONFLICT (sku) DO UPDATE
      SET name = excluded.name, price_minor = excluded.price_minor, currency = excluded.currency`)
    })

    return Catalog.Catalog.of({ get, upsert })
  }
)

/**
 * Catalog on the pool of `PgLayer` (migrated with `Migrations.migrate`).
 * @category layers
 */
export const layer: Layer.Layer<Catalog.Catalog, never, PgLayer.Client> = Layer.effect(Catalog.Catalog, make)
