/**
 * The outbox wake-up trigger (migration 12) finds the oldest unsent event through the partial
 * index `outbox_unsent`, whatever the statistics say, and the outbox is vacuumed and analyzed
 * sooner than Postgres's defaults would.
 *
 * Why: migration 12 asked "is any unsent event older than these?" with `NOT EXISTS`, and the
 * planner answered it from the statistics. Between two ANALYZE runs those say the outbox is mostly
 * unsent (every event is inserted unsent), so it scanned the table from the start, through every
 * event already sent: in `pnpm bench:e2e` ~7 ms per statement at 17,000 rows, three statements a
 * checkout, growing with the table (test: postgres.outbox.test.ts, "…never by reading the sent
 * history"). `ORDER BY seq LIMIT 1` over the index's own predicate is answered by the first live
 * entry of the partial index, which holds only events inserted since the last vacuum.
 *
 * The autovacuum settings: an outbox is a queue (each row inserted, updated once, deleted a day
 * later by housekeeping), so its dead rows and its statistics go stale far faster than the 20 %
 * and 10 % of the table Postgres waits for by default. At 1 % a vacuum keeps `outbox_unsent` (and
 * the relay's scans of it) short, and an analyze keeps the relay's plans right.
 */
import { Effect } from "effect"
import { SqlClient } from "effect/sql"

export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`
    CREATE OR REPLACE FUNCTION till_outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
      oldest bigint;
    BEGIN
      SELECT o.seq INTO oldest FROM outbox o WHERE NOT o.published ORDER BY o.seq LIMIT 1;
      IF oldest >= (SELECT min(seq) FROM added) THEN
        PERFORM pg_notify('till_outbox_' || md5(TG_TABLE_SCHEMA), '');
      END IF;
      RETURN NULL;
    END $$`
  yield* sql`
    ALTER TABLE outbox SET (
      autovacuum_vacuum_scale_factor = 0.01,
      autovacuum_vacuum_insert_scale_factor = 0.01,
      autovacuum_analyze_scale_factor = 0.01
    )`
})
