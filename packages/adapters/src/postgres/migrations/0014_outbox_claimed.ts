/**
 * The outbox's claimed events, by aggregate: what a claim looks up to hold back an order's later
 * events while an earlier one is out with another relay (PostgresOrderStore.claimEvents). Only
 * unsent events that were ever claimed are in it (a handful: the batches in flight, and those
 * whose publish failed), so the lookup costs the same however long the backlog is. Without it
 * Postgres scanned every unsent event on each claim: ~2 ms a claim at 20,000 unsent, ~45 ms at
 * 60,000, so a relay catching up after an outage drained in quadratic time.
 */
import { Effect } from "effect"
import { SqlClient } from "effect/sql"

export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`
    CREATE INDEX outbox_claimed ON outbox (aggregate_id, seq)
    WHERE NOT published AND claimed_until IS NOT NULL`
})
