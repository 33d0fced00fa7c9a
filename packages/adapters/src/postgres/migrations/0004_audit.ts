/**
 * The audit log of order changes: append-only, enforced by the database (DESIGN.md §6). UPDATE,
 * DELETE and TRUNCATE raise an error (a trigger, not a rule: a refused change is loud, never a
 * silent no-op).
 */
import { Effect } from "effect"
import { SqlClient } from "effect/sql"

export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`
    CREATE TABLE order_audit (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      order_id text NOT NULL,
      from_status text,
      to_status text NOT NULL,
      version integer NOT NULL,
      at timestamptz NOT NULL
    )`
  yield* sql`CREATE INDEX order_audit_by_order ON order_audit (order_id, version)`
  yield* sql`
    CREATE FUNCTION till_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
    END $$`
  yield* sql`
    CREATE TRIGGER order_audit_append_only BEFORE UPDATE OR DELETE ON order_audit
    FOR EACH ROW EXECUTE FUNCTION till_refuse_change()`
  yield* sql`
    CREATE TRIGGER order_audit_no_truncate BEFORE TRUNCATE ON order_audit
    FOR EACH STATEMENT EXECUTE FUNCTION till_refuse_change()`
})
