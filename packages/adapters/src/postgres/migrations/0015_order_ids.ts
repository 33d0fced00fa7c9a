/**
 * Every order id `create` has decided, and how (`outcome`): `taken` when the id went to an order
 * (or lost its cart to another order), `out_of_stock` with the `unavailable` lines it was refused
 * with, or `abandoned` when a checkout found the id's cart claimed long ago and no order made
 * (`OrderStore.refuseUnmade`).
 *
 * Why a table of ids beside `orders`: a refused id must stay refused, or a late copy of its create
 * (a retry after a timeout, a crashed process's statement) lands after stock came back, or after
 * its cart went to another order, on a cart the refusal gave back (OrderStore.create). A refusal
 * writes no order, so `orders`' primary key cannot see it; every decision inserts here instead,
 * and the unique index makes whichever commits second wait for the first and find its decision.
 * Postgres reads a conflicting row that committed after the statement's snapshot only through
 * such an insert.
 */
import { Effect } from "effect"
import { SqlClient } from "effect/sql"

export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`
    CREATE TABLE order_ids (
      order_id text PRIMARY KEY,
      outcome text NOT NULL CHECK (outcome IN ('taken', 'out_of_stock', 'abandoned')),
      unavailable jsonb,
      CONSTRAINT order_ids_lines_when_out_of_stock CHECK ((outcome = 'out_of_stock') = (unavailable IS NOT NULL))
    )`
  yield* sql`INSERT INTO order_ids (order_id, outcome) SELECT order_id, 'taken' FROM orders`
})
