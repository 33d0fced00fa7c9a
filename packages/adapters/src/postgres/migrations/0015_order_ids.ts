/**
 * Every order id `create` has decided, and how: `refused` is null when the id went to an order
 * (or lost its cart to another order), else the lines it was refused with (`OutOfStock`).
 *
 * Why a table of ids beside `orders`: a create refused out of stock must refuse its id for good,
 * or a late copy of it (a retry after a timeout, a crashed process's statement) lands after stock
 * came back, on a cart the refused caller gave back (OrderStore.create). A refusal writes no order,
 * so `orders`' primary key cannot see it; both outcomes insert here instead, and the unique index
 * makes whichever create commits second wait for the first and find its decision. Postgres reads
 * a conflicting row that committed after the statement's snapshot only through such an insert.
 */
import { Effect } from "effect"
import { SqlClient } from "effect/sql"

export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`
    CREATE TABLE order_ids (
      order_id text PRIMARY KEY,
      refused jsonb
    )`
  yield* sql`INSERT INTO order_ids (order_id) SELECT order_id FROM orders`
})
