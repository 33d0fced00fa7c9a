/**
 * Stock per SKU, with the invariant of InventoryStore.ts held by the database itself:
 * 0 <= reserved <= on_hand, so no statement (ours or an operator's) can oversell or leave a
 * negative count. `stock_movements` makes `restock` idempotent by movement id.
 */
import { Effect } from "effect"
import { SqlClient } from "effect/sql"

export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`
    CREATE TABLE stock (
      sku text PRIMARY KEY,
      on_hand integer NOT NULL,
      reserved integer NOT NULL DEFAULT 0,
      CONSTRAINT stock_on_hand_not_negative CHECK (on_hand >= 0),
      CONSTRAINT stock_reserved_not_negative CHECK (reserved >= 0),
      CONSTRAINT stock_reserved_within_on_hand CHECK (reserved <= on_hand)
    )`
  yield* sql`
    CREATE TABLE stock_movements (
      movement_id text PRIMARY KEY,
      sku text NOT NULL,
      delta integer NOT NULL
    )`
})
