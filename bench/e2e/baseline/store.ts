/**
 * The baseline's Postgres work, on `pg` (a pool of 30, as Till's default), every statement a named
 * prepared statement. Its own schema, with the tables and indexes Till's migrations make for the
 * same rows (orders, stock with its CHECKs, reservations, payments, the audit log, the outbox,
 * idempotency keys, consumer dedupe rows, shipments), but none of Till's triggers (the outbox
 * notify: this relay polls; the reservation and audit guards).
 *
 * A careful team's shape of each order step: one statement, so one round trip and one implicit
 * transaction, with data-modifying CTEs (`pg` cannot pipeline a BEGIN ... COMMIT):
 * - `create`: lock the lines' stock rows in SKU order, check them, then insert the order, hold the
 *   stock, insert the reservation, the payment row (sealed token), the audit row and the events;
 * - `settle`: the order pending -> confirmed (or payment_failed) if still at version 1, commit (or
 *   release) its hold, update the payment row, audit, events, and complete the idempotency key
 *   with the sealed answer, all in the same statement.
 */
import pg from "pg"

const ddl = `
CREATE TABLE IF NOT EXISTS catalog (
  sku text PRIMARY KEY, name text NOT NULL, price_minor bigint NOT NULL CHECK (price_minor >= 0),
  currency text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'));
CREATE TABLE IF NOT EXISTS stock (
  sku text PRIMARY KEY, on_hand integer NOT NULL CHECK (on_hand >= 0),
  reserved integer NOT NULL DEFAULT 0 CHECK (reserved >= 0), CHECK (reserved <= on_hand));
CREATE TABLE IF NOT EXISTS orders (
  order_id text PRIMARY KEY, user_id text NOT NULL, cart_id text NOT NULL, status text NOT NULL,
  version integer NOT NULL, total_minor bigint NOT NULL, currency text NOT NULL,
  created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL, doc jsonb NOT NULL);
CREATE UNIQUE INDEX IF NOT EXISTS orders_one_per_cart ON orders (cart_id);
CREATE INDEX IF NOT EXISTS orders_by_user ON orders (user_id, created_at DESC, order_id DESC);
CREATE INDEX IF NOT EXISTS orders_by_status ON orders (status, updated_at, order_id);
CREATE TABLE IF NOT EXISTS reservations (
  order_id text NOT NULL REFERENCES orders, attempt integer NOT NULL, status text NOT NULL,
  hold_expires_at bigint NOT NULL, lines jsonb NOT NULL, PRIMARY KEY (order_id, attempt));
CREATE INDEX IF NOT EXISTS reservations_held ON reservations (hold_expires_at, order_id, attempt) WHERE status = 'held';
CREATE TABLE IF NOT EXISTS payments (
  order_id text NOT NULL REFERENCES orders, attempt integer NOT NULL, status text NOT NULL,
  charge_id text, brand text, last4 text, key_id text NOT NULL, method_sealed bytea NOT NULL,
  updated_at timestamptz NOT NULL, PRIMARY KEY (order_id, attempt));
CREATE UNIQUE INDEX IF NOT EXISTS payments_one_per_charge ON payments (charge_id) WHERE charge_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS payments_by_key ON payments (key_id);
CREATE TABLE IF NOT EXISTS order_audit (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, order_id text NOT NULL, from_status text,
  to_status text NOT NULL, version integer NOT NULL, at timestamptz NOT NULL);
CREATE INDEX IF NOT EXISTS order_audit_by_order ON order_audit (order_id, version);
CREATE TABLE IF NOT EXISTS outbox (
  seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, event_id text NOT NULL UNIQUE,
  aggregate_id text NOT NULL, type text NOT NULL, event jsonb NOT NULL,
  published boolean NOT NULL DEFAULT false, claimed_until bigint);
CREATE INDEX IF NOT EXISTS outbox_unsent ON outbox (seq) WHERE NOT published;
CREATE SEQUENCE IF NOT EXISTS idempotency_tokens;
CREATE TABLE IF NOT EXISTS idempotency_keys (
  scope text NOT NULL, key text NOT NULL, fingerprint text NOT NULL, resource_id text NOT NULL,
  state text NOT NULL, status integer, answer_sealed bytea, token bigint NOT NULL,
  locked_until bigint NOT NULL, expires_at bigint NOT NULL, PRIMARY KEY (scope, key));
CREATE INDEX IF NOT EXISTS idempotency_keys_by_expiry ON idempotency_keys (expires_at);
CREATE TABLE IF NOT EXISTS processed_events (
  consumer text NOT NULL, event_id text NOT NULL, processed_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (consumer, event_id));
CREATE INDEX IF NOT EXISTS processed_events_by_time ON processed_events (processed_at);
CREATE TABLE IF NOT EXISTS shipments (
  shipment_id text PRIMARY KEY, order_id text NOT NULL UNIQUE, user_id text NOT NULL,
  source_event_id text NOT NULL, created_at timestamptz NOT NULL);
`

const createText = `
WITH req AS (
  SELECT sku, sum(q)::int AS quantity FROM unnest($1::text[], $2::int[]) AS l(sku, q) GROUP BY sku),
locked AS MATERIALIZED (
  SELECT s.sku, s.on_hand - s.reserved AS available FROM stock s
  WHERE s.sku = ANY($1::text[]) ORDER BY s.sku FOR NO KEY UPDATE),
short AS MATERIALIZED (
  SELECT r.sku, r.quantity AS requested, coalesce(l.available, 0) AS available
  FROM req r LEFT JOIN locked l USING (sku) WHERE coalesce(l.available, 0) < r.quantity),
ord AS (
  INSERT INTO orders (order_id, user_id, cart_id, status, version, total_minor, currency, created_at, updated_at, doc)
  SELECT $3, $4, $5, 'pending', 1, $6, $7, $8, $8, $9 WHERE NOT EXISTS (SELECT 1 FROM short)
  RETURNING order_id),
held AS (
  UPDATE stock s SET reserved = s.reserved + r.quantity FROM req r
  WHERE s.sku = r.sku AND EXISTS (SELECT 1 FROM ord) RETURNING 1),
res AS (
  INSERT INTO reservations (order_id, attempt, status, hold_expires_at, lines)
  SELECT order_id, 1, 'held', $10, $11 FROM ord RETURNING 1),
pay AS (
  INSERT INTO payments (order_id, attempt, status, key_id, method_sealed, updated_at)
  SELECT order_id, 1, 'pending', $12, $13, $8 FROM ord RETURNING 1),
aud AS (
  INSERT INTO order_audit (order_id, from_status, to_status, version, at)
  SELECT order_id, NULL, 'pending', 1, $8 FROM ord RETURNING 1),
evt AS (
  INSERT INTO outbox (event_id, aggregate_id, type, event)
  SELECT e ->> 'event_id', e ->> 'aggregate_id', e ->> 'type', e FROM ord, jsonb_array_elements($14::jsonb) AS e
  RETURNING 1)
SELECT (SELECT count(*) FROM ord)::int AS inserted,
       (SELECT count(*) FROM held)::int AS held,
       (SELECT coalesce(jsonb_agg(short), '[]'::jsonb) FROM short) AS short`

// $15: 'confirmed' commits the hold (on_hand and reserved both down), 'payment_failed' releases it.
const settleText = `
WITH o AS (
  UPDATE orders SET status = $2, version = version + 1, updated_at = $3, doc = $4
  WHERE order_id = $1 AND version = 1 AND status = 'pending' RETURNING order_id, version),
r AS (
  UPDATE reservations SET status = CASE WHEN $2 = 'confirmed' THEN 'committed' ELSE 'released' END
  WHERE order_id = $1 AND attempt = 1 AND status = 'held' AND EXISTS (SELECT 1 FROM o) RETURNING lines),
lines AS (
  SELECT x ->> 'sku' AS sku, sum((x ->> 'quantity')::int)::int AS quantity
  FROM r, jsonb_array_elements(r.lines) AS x GROUP BY 1),
locked AS MATERIALIZED (
  SELECT s.sku FROM stock s WHERE s.sku = ANY(ARRAY(SELECT sku FROM lines)) ORDER BY s.sku FOR NO KEY UPDATE),
st AS (
  UPDATE stock s SET reserved = s.reserved - l.quantity,
    on_hand = s.on_hand - CASE WHEN $2 = 'confirmed' THEN l.quantity ELSE 0 END
  FROM lines l WHERE s.sku = l.sku AND EXISTS (SELECT 1 FROM locked) RETURNING 1),
pay AS (
  UPDATE payments SET status = CASE WHEN $2 = 'confirmed' THEN 'succeeded' ELSE 'failed' END,
    charge_id = $5, brand = $6, last4 = $7, updated_at = $3
  WHERE order_id = $1 AND attempt = 1 AND EXISTS (SELECT 1 FROM o) RETURNING 1),
aud AS (
  INSERT INTO order_audit (order_id, from_status, to_status, version, at)
  SELECT order_id, 'pending', $2, version, $3 FROM o RETURNING 1),
evt AS (
  INSERT INTO outbox (event_id, aggregate_id, type, event)
  SELECT e ->> 'event_id', e ->> 'aggregate_id', e ->> 'type', e FROM o, jsonb_array_elements($8::jsonb) AS e
  RETURNING 1),
idem AS (
  UPDATE idempotency_keys SET state = 'completed', status = $12, answer_sealed = $13
  WHERE scope = $9 AND key = $10 AND token = $11 AND state = 'in_flight' AND EXISTS (SELECT 1 FROM o)
  RETURNING 1)
SELECT (SELECT count(*) FROM o)::int AS settled, (SELECT count(*) FROM st)::int AS stocked,
       (SELECT count(*) FROM idem)::int AS completed`

const claimText = `
INSERT INTO idempotency_keys AS k (scope, key, fingerprint, resource_id, state, token, locked_until, expires_at)
VALUES ($1, $2, $3, $4, 'in_flight', nextval('idempotency_tokens'), $5, $6)
ON CONFLICT (scope, key) DO UPDATE SET
  fingerprint = excluded.fingerprint, state = 'in_flight', status = NULL, answer_sealed = NULL,
  token = excluded.token, locked_until = excluded.locked_until,
  resource_id = CASE WHEN k.expires_at <= $7 THEN excluded.resource_id ELSE k.resource_id END,
  expires_at = CASE WHEN k.expires_at <= $7 THEN excluded.expires_at ELSE k.expires_at END
WHERE k.expires_at <= $7 OR (k.state = 'in_flight' AND k.locked_until <= $7 AND k.fingerprint = excluded.fingerprint)
RETURNING resource_id, token::text AS token`

export interface KeyRow {
  readonly fingerprint: string
  readonly state: "in_flight" | "completed"
  readonly status: number | null
  readonly answer_sealed: Buffer | null
  readonly locked_until: string
  readonly expires_at: string
}

export const open = async (url: string, schema: string) => {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) throw new Error(`bad schema name ${schema}`)
  const admin = new pg.Client({ connectionString: url })
  await admin.connect()
  await admin.query(`CREATE SCHEMA IF NOT EXISTS ${schema}; SET search_path = ${schema}; ${ddl}`)
  await admin.end()
  const pool = new pg.Pool({
    connectionString: url,
    max: 30,
    idleTimeoutMillis: 600_000,
    application_name: "till-e2e-baseline",
    options: `-c search_path=${schema} -c statement_timeout=5000`
  })
  const q = <R extends pg.QueryResultRow>(name: string, text: string, values: Array<unknown>) =>
    pool.query<R>({ name, text, values }).then((r) => r.rows)
  return {
    pool,
    ping: () => q("ping", "SELECT 1", []),
    product: (sku: string) =>
      q<{ name: string; price_minor: string; currency: string }>(
        "product",
        "SELECT name, price_minor, currency FROM catalog WHERE sku = $1",
        [sku]
      ).then((rows) => rows[0]),
    prices: (skus: ReadonlyArray<string>) =>
      q<{ sku: string; name: string; price_minor: string; currency: string }>(
        "prices",
        "SELECT sku, name, price_minor, currency FROM catalog WHERE sku = ANY($1::text[])",
        [skus]
      ),
    putProduct: (sku: string, name: string, priceMinor: number, currency: string, onHand: number) =>
      q(
        "put_product",
        `WITH c AS (
           INSERT INTO catalog (sku, name, price_minor, currency) VALUES ($1, $2, $3, $4)
           ON CONFLICT (sku) DO UPDATE SET name = excluded.name, price_minor = excluded.price_minor,
             currency = excluded.currency)
         INSERT INTO stock (sku, on_hand) VALUES ($1, $5)
         ON CONFLICT (sku) DO UPDATE SET on_hand = excluded.on_hand`,
        [sku, name, priceMinor, currency, onHand]
      ),
    /** The key taken for this request (`resource_id`, `token`), or undefined when another holds or held it. */
    claim: (scope: string, key: string, print: string, resourceId: string, nowMs: number) =>
      q<{ resource_id: string; token: string }>("claim", claimText, [
        scope,
        key,
        print,
        resourceId,
        nowMs + 180_000,
        nowMs + 86_400_000,
        nowMs
      ]).then((rows) => rows[0]),
    readKey: (scope: string, key: string) =>
      q<KeyRow>(
        "read_key",
        `SELECT fingerprint, state, status, answer_sealed, locked_until::text, expires_at::text
         FROM idempotency_keys WHERE scope = $1 AND key = $2`,
        [scope, key]
      ).then((rows) => rows[0]),
    /** A final refusal stored under the key (answered again on replay). */
    completeKey: (scope: string, key: string, token: string, status: number, sealed: Buffer) =>
      q(
        "complete_key",
        `UPDATE idempotency_keys SET state = 'completed', status = $4, answer_sealed = $5
         WHERE scope = $1 AND key = $2 AND token = $3 AND state = 'in_flight'`,
        [scope, key, token, status, sealed]
      ),
    /** A transient failure: the lease ends so a retry with the key takes over. */
    abandonKey: (scope: string, key: string, token: string) =>
      q(
        "abandon_key",
        `UPDATE idempotency_keys SET locked_until = 0
         WHERE scope = $1 AND key = $2 AND token = $3 AND state = 'in_flight'`,
        [scope, key, token]
      ),
    orderDoc: (orderId: string) =>
      q<{ doc: unknown; status: string }>("order_doc", "SELECT doc, status FROM orders WHERE order_id = $1", [
        orderId
      ]).then((rows) => rows[0]),
    create: (values: Array<unknown>) =>
      q<{
        inserted: number
        held: number
        short: Array<{ sku: string; requested: number; available: number }>
      }>("create_order", createText, values).then((rows) => rows[0]!),
    settle: (values: Array<unknown>) =>
      q<{ settled: number; stocked: number; completed: number }>("settle_order", settleText, values).then(
        (rows) => rows[0]!
      )
  }
}
export type Store = Awaited<ReturnType<typeof open>>
