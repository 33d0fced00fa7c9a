/**
 * When a sent event went out moves from `claimed_until` to a column of its own, `published_at`,
 * so `claimed_until` is set only on unsent events under a claim (a handful).
 *
 * Why: the relay's check for earlier events held by a live claim is answered by the partial index
 * `outbox_claimed` (migration 14) only if the planner believes that index is small. It estimates
 * it from the statistics as "unsent" times "claimed_until is set", as if the two were unrelated;
 * while every sent event carried a `claimed_until`, that was a quarter of the table, so the planner
 * read the whole of `outbox_unsent` instead, every batch: 28 ms a batch at 40,000 unsent events,
 * quadratic in a backlog after a broker outage (test: postgres.outbox.test.ts, "a relay's batch
 * finds held events by index…").
 *
 * The history is moved over in one pass (a day of events at most: housekeeping purges the rest),
 * then analyzed, so the next plan already sees it.
 */
import { Effect } from "effect"
import { SqlClient } from "effect/sql"

export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`ALTER TABLE outbox ADD COLUMN published_at bigint`
  yield* sql`UPDATE outbox SET published_at = claimed_until, claimed_until = NULL WHERE published`
  yield* sql`ANALYZE outbox`
})
