/** Catalog: one row per SKU, the price in integer minor units (never a float) and its currency. */
import { Effect } from "effect"
import { SqlClient } from "effect/sql"

export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`
    CREATE TABLE catalog (
      sku text PRIMARY KEY,
      name text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
      price_minor bigint NOT NULL CHECK (price_minor BETWEEN 0 AND 10000000000000),
      currency text NOT NULL CHECK (currency ~ '^[A-Z]{3}$')
    )`
})
