/**
 * Outbox wake-ups: every statement that adds events notifies the schema's channel
 * (`till_outbox_` + the md5 of the outbox's schema name: unique per schema, and short enough for
 * any schema name, where channel names stop at 63 bytes), so an idle relay
 * (`PostgresOutbox.wakeups`) starts at once instead of at its next poll. One notification per
 * statement, not per event.
 *
 * Every statement, not only those finding the outbox idle: that variant (tried first) let a
 * steady stream slip past a relay, since a statement whose trigger saw the relay's batch still
 * unsent committed just after the relay's last, empty claim, and then waited for the poll (the
 * Kafka bench measured commit-to-claim p50 458 ms at 1,000 events/s). The price: a notifying
 * commit takes the server's notification-queue lock, one transaction at a time; measured here
 * (2026-12-01, 64 sessions committing one row each) 13.9k commits/s without NOTIFY against
 * 3.8-5.8k/s with it, far above the checkouts this server runs.
 */
import { Effect } from "effect"
import { SqlClient } from "effect/sql"

export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`
    CREATE FUNCTION till_outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      PERFORM pg_notify('till_outbox_' || md5(TG_TABLE_SCHEMA), '');
      RETURN NULL;
    END $$`
  yield* sql`
    CREATE TRIGGER outbox_notify AFTER INSERT ON outbox
    FOR EACH STATEMENT EXECUTE FUNCTION till_outbox_notify()`
})
