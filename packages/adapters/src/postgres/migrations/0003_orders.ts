/**
 * Orders and their reservations.
 *
 * An order row keeps the columns Till queries or constrains (status, version, owner, cart,
 * total, times) beside `doc`, the whole order as `Order.Order` encodes it (items, address,
 * payment details): one row read answers `get`, lines are never queried on their own, and
 * `doc` round-trips exactly what the saga wrote. Both are written by the same statement.
 * One order per cart is a unique index. A reservation is one row per (order, payment attempt)
 * with its lines; its status only ever leaves `held` (a trigger refuses anything else).
 */
import { Effect } from "effect"
import { SqlClient } from "effect/sql"

export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`
    CREATE TABLE orders (
      order_id text PRIMARY KEY,
      user_id text NOT NULL,
      cart_id text NOT NULL,
      status text NOT NULL CHECK (status IN
        ('pending', 'payment_pending', 'confirmed', 'payment_failed', 'cancelled', 'expired')),
      version integer NOT NULL CHECK (version >= 1),
      payment_attempt integer NOT NULL CHECK (payment_attempt >= 1),
      total_minor bigint NOT NULL,
      currency text NOT NULL,
      created_at timestamptz NOT NULL,
      updated_at timestamptz NOT NULL,
      doc jsonb NOT NULL
    )`
  yield* sql`CREATE UNIQUE INDEX orders_one_per_cart ON orders (cart_id)`
  yield* sql`CREATE INDEX orders_by_user ON orders (user_id, created_at DESC, order_id DESC)`
  yield* sql`CREATE INDEX orders_by_status ON orders (status, updated_at, order_id)`
  yield* sql`
    CREATE TABLE reservations (
      order_id text NOT NULL REFERENCES orders (order_id),
      attempt integer NOT NULL CHECK (attempt >= 1),
      status text NOT NULL CHECK (status IN ('held', 'committed', 'released')),
      hold_expires_at bigint NOT NULL,
      lines jsonb NOT NULL,
      PRIMARY KEY (order_id, attempt)
    )`
  yield* sql`
    CREATE INDEX reservations_held_by_expiry ON reservations (hold_expires_at, order_id, attempt)
    WHERE status = 'held'`
  yield* sql`
    CREATE FUNCTION till_reservation_moves_once() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF OLD.status <> 'held' OR NEW.status NOT IN ('committed', 'released')
         OR NEW.order_id <> OLD.order_id OR NEW.attempt <> OLD.attempt OR NEW.lines <> OLD.lines THEN
        RAISE EXCEPTION 'reservation %/% cannot move from % to %',
          OLD.order_id, OLD.attempt, OLD.status, NEW.status USING ERRCODE = 'check_violation';
      END IF;
      RETURN NEW;
    END $$`
  yield* sql`
    CREATE TRIGGER reservations_move_once BEFORE UPDATE ON reservations
    FOR EACH ROW EXECUTE FUNCTION till_reservation_moves_once()`
})
