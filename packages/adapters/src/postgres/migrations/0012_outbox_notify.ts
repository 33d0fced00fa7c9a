/**
 * Outbox wake-ups: a statement that adds events notifies the schema's channel
 * (`till_outbox_` + the md5 of the outbox's schema name: unique per schema, and short enough for
 * any schema name, where channel names stop at 63 bytes), so an idle relay
 * (`PostgresOutbox.wakeups`) starts at once instead of at its next poll. One notification per
 * statement, not per event, and none while older events are still unsent: then a relay is at
 * work already and drains until the outbox is empty, so waking it again would only add to the
 * notification queue (whose commit lock every notifying transaction takes, one at a time).
 */
import { Effect } from "effect"
import { SqlClient } from "effect/sql"

export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`
    CREATE FUNCTION till_outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF NOT EXISTS (
        SELECT 1 FROM outbox o WHERE NOT o.published AND o.seq < (SELECT min(seq) FROM added)
      ) THEN
        PERFORM pg_notify('till_outbox_' || md5(TG_TABLE_SCHEMA), '');
      END IF;
      RETURN NULL;
    END $$`
  yield* sql`
    CREATE TRIGGER outbox_notify AFTER INSERT ON outbox
    REFERENCING NEW TABLE AS added
    FOR EACH STATEMENT EXECUTE FUNCTION till_outbox_notify()`
})
