/**
 * The checkout's store work on Postgres (issue 13, point 5): Till's `PostgresOrderStore` against
 * two hand-written baselines on the raw `pg` driver, in the same run, on the same tables.
 *
 * One checkout = `create` (order + hold of its line + payment row with its sealed token + 2 outbox
 * events + 1 audit row), then the step to `confirmed` with a "commit" of the hold (+ the payment
 * row's update + 2 events + 1 audit row). Every variant seals the token (AES-256-GCM) as Till does:
 * - `till`: `OrderStore.create` / `OrderStore.step` on `PgLayer` (`@effect/sql-pg`), one
 *   data-modifying CTE per step (one round trip on a prepared statement);
 * - `minimal`: the very statements Till sends, copied, through `pg` as named prepared statements;
 * - `straightforward`: what a team would write on `pg`: BEGIN, one conditional UPDATE per line,
 *   one INSERT per row (order, reservation, audit, each event), COMMIT; the confirm the same way
 *   (9 round trips per step for one line).
 *
 * Workloads: `distinct` (every checkout its own stocked SKU) and `hot` (every checkout the same
 * SKU, stocked for all of them), both at concurrency 64 over a pool of 30. Each variant of a
 * workload has a fresh schema of its own, migrated with `Migrations.migrate`; only one pool is
 * open at a time (opened and warmed to 30 connections before its round, untimed), so the three
 * variants never compete for the server. Rounds alternate variants (A B C, B C A, ...), the
 * first round of each is a warm-up; a row is the median of the timed rounds.
 *
 * After every round the variant's tables are checked: confirmed orders, committed reservations,
 * outbox and audit rows and the stock level must match the successes exactly. Any outcome other
 * than success or OutOfStock, and any mismatch, is counted as a defect and reported.
 *
 * Env: TILL_TEST_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/till_test),
 * TILL_BENCH_PG_CHECKOUTS (per round on distinct SKUs, default 2000), TILL_BENCH_PG_HOT_CHECKOUTS (per
 * round on the hot SKU, default 1000), TILL_BENCH_PG_ROUNDS (timed, default 5).
 */
import { Migrations, PaymentCipher, PgLayer, PostgresOrderStore } from "@till/adapters/postgres"
import { type Event, Order, OrderStore, Sku } from "@till/core"
import { makeEvent, makeOrder, moved } from "@till/testkit/contracts"
import { Cause, Effect, Exit, Layer, ManagedRuntime, Option, Predicate, Redacted, Schema } from "effect"
import { SqlClient } from "effect/sql"
import { createCipheriv, randomBytes } from "node:crypto"
import { readFileSync } from "node:fs"
import pg from "pg"
import type { Progress, Row } from "./run.js"

const url = process.env["TILL_TEST_DATABASE_URL"] ?? "postgres://postgres@127.0.0.1:5432/till_test"
const CHECKOUTS = Number(process.env["TILL_BENCH_PG_CHECKOUTS"] ?? 2_000)
/** The hot SKU serializes every checkout on one row (about 150-200/s here): fewer per round. */
const HOT_CHECKOUTS = Number(process.env["TILL_BENCH_PG_HOT_CHECKOUTS"] ?? 1_000)
const ROUNDS = Number(process.env["TILL_BENCH_PG_ROUNDS"] ?? 5)
const WARMUP_ROUNDS = 1
const CONCURRENCY = 64
const POOL = 30
const STATEMENT_TIMEOUT_MS = 5_000

type Variant = "till" | "minimal" | "straightforward"
type Workload = "distinct" | "hot"
const variants: ReadonlyArray<Variant> = ["till", "minimal", "straightforward"]

/** What a checkout ended with: "ok", "OutOfStock", or anything else (a defect of the bench's subject). */
type Outcome = string

interface Line {
  readonly sku: string
  readonly quantity: number
}

/** One checkout's inputs, built before the round (untimed), identical for every variant. */
interface Input {
  readonly order: Order.Order
  readonly confirmed: Order.Order
  readonly createdEvents: ReadonlyArray<Event.Event>
  readonly confirmedEvents: ReadonlyArray<Event.Event>
  /** The same, encoded (what a team's code would have as plain objects). */
  readonly orderDoc: unknown
  readonly confirmedDoc: unknown
  readonly createdEventDocs: ReadonlyArray<EventDoc>
  readonly confirmedEventDocs: ReadonlyArray<EventDoc>
  readonly lines: ReadonlyArray<Line>
}

interface EventDoc {
  readonly event_id: string
  readonly aggregate_id: string
  readonly type: string
}

const encodeOrder = Schema.encodeSync(Order.Order)

/** The order document as Till stores it: without the token, which is sealed in `payments`. */
const docOf = (order: Order.Order): object => {
  const { payment_method_id: _sealedApart, ...doc } = encodeOrder(order)
  return doc
}

const inputsFor = (skuOf: (i: number) => string, n: number): Array<Input> =>
  Effect.runSync(
    Effect.forEach(
      Array.from({ length: n }, (_, i) => i),
      (i) =>
        Effect.gen(function* () {
          const order = yield* makeOrder({ lines: [[Sku.make(skuOf(i)), 1]] })
          const confirmed = moved(order, "confirmed")
          const createdEvents = [
            yield* makeEvent(order, "order.created"),
            yield* makeEvent(order, "payment.queued")
          ]
          const confirmedEvents = [
            yield* makeEvent(confirmed, "payment.succeeded"),
            yield* makeEvent(confirmed, "order.confirmed")
          ]
          const encodeEvent = (e: Event.Event): EventDoc => JSON.parse(JSON.stringify(e)) as EventDoc
          return {
            order,
            confirmed,
            createdEvents,
            confirmedEvents,
            orderDoc: docOf(order),
            confirmedDoc: docOf(new Order.Order({ ...confirmed, version: 2 })),
            createdEventDocs: createdEvents.map(encodeEvent),
            confirmedEventDocs: confirmedEvents.map(encodeEvent),
            lines: order.items.map((item) => ({ sku: item.sku, quantity: item.quantity }))
          }
        })
    )
  )

// ---------------------------------------------------------------------------------------------
// Till: the stores on PgLayer.

const failureTag = (exit: Exit.Exit<unknown, unknown>): Outcome => {
  if (Exit.isSuccess(exit)) return "ok"
  const error = Cause.squash(exit.cause)
  return Predicate.hasProperty(error, "_tag") ? String(error._tag) : `defect: ${String(error)}`
}

const tillCheckout = (orders: OrderStore.OrderStore["Service"], c: Input) =>
  Effect.gen(function* () {
    const created = yield* orders.create(c.order, c.createdEvents)
    const stepped = yield* orders.step(c.confirmed, created.version, "commit", c.confirmedEvents)
    if (Option.isNone(stepped)) return yield* Effect.die(new Error("stale version on confirm"))
  })

const appName = (schema: string) => schema.slice(0, 63)

const tillPool = (schema: string) =>
  PgLayer.layerWith({
    url: Redacted.make(url),
    schema,
    applicationName: appName(schema),
    maxConnections: POOL,
    minConnections: 0,
    statementTimeoutMs: STATEMENT_TIMEOUT_MS
  })

// ---------------------------------------------------------------------------------------------
// Baselines on pg.

const pgPool = (schema: string) =>
  new pg.Pool({
    connectionString: url,
    max: POOL,
    application_name: appName(schema),
    options: `-c search_path=${schema} -c statement_timeout=${STATEMENT_TIMEOUT_MS} -c default_transaction_isolation=read\\ committed`
  })

/** Every pool connection opened before the round (untimed), as a warm server-side pool would be. */
const warmPg = async (pool: pg.Pool) => {
  const clients = await Promise.all(Array.from({ length: POOL }, () => pool.connect()))
  await Promise.all(clients.map((c) => c.query("SELECT 1")))
  for (const c of clients) c.release()
}

class OutOfStockError extends Error {}

/** The bench's one AES-256-GCM key: the baselines seal the token as Till does (PaymentCipher.ts). */
const paymentKey = randomBytes(32)

/** A payment row's values: status, charge id, brand, last4 and, for a new attempt, its sealed token. */
const paymentValues = (o: Order.Order, method: "seal" | null = "seal") => {
  const sealed = method === null ? null : sealToken(o.payment_method_id, `${o.order_id}:${o.payment_attempt}`)
  return [
    o.payment?.status ?? "pending",
    o.payment?.charge_id ?? null,
    o.payment?.brand ?? null,
    o.payment?.last4 ?? null,
    sealed === null ? null : "bench",
    sealed
  ] as const
}

const sealToken = (token: string, aad: string): Buffer => {
  const iv = randomBytes(12)
  const cipher = createCipheriv("aes-256-gcm", paymentKey, iv)
  cipher.setAAD(Buffer.from(aad, "utf8"))
  const body = Buffer.concat([cipher.update(token, "utf8"), cipher.final()])
  return Buffer.concat([iv, body, cipher.getAuthTag()])
}

// The statements Till's PostgresOrderStore sends (packages/adapters/src/postgres/PostgresOrderStore.ts
// on main at the time of writing), with its interpolations as numbered parameters. Since migration 15
// Till's create also records the id in `order_ids` (a refused id stays refused); this copy does not,
// so Till / minimal includes that insert's cost: 0.88 on distinct SKUs and 1.07 on the hot one on
// 2026-12-02, against 0.80-0.82 and 0.96-0.99 without it the day before (nothing measurable).
const createSql = `
  WITH req AS (
    SELECT l.sku, sum(l.quantity)::int AS quantity, min(l.n) AS first
    FROM unnest($1::text[], $2::int[]) WITH ORDINALITY AS l(sku, quantity, n)
    GROUP BY l.sku
  ),
  locked AS MATERIALIZED (
    SELECT s.sku, s.on_hand - s.reserved AS available
    FROM stock s WHERE s.sku = ANY(ARRAY(SELECT sku FROM req))
    ORDER BY s.sku
    FOR NO KEY UPDATE
  ),
  short AS MATERIALIZED (
    SELECT r.sku, r.quantity AS requested, coalesce(l.available, 0) AS available, r.first
    FROM req r LEFT JOIN locked l ON l.sku = r.sku
    WHERE coalesce(l.available, 0) < r.quantity
  ),
  inserted AS (
    INSERT INTO orders (order_id, user_id, cart_id, status, version, payment_attempt,
                        total_minor, currency, created_at, updated_at, doc)
    SELECT $3::text, $4::text, $5::text, $6::text,
           1, $7::int, $8::bigint, $9::text,
           $10::timestamptz, $11::timestamptz, $12::jsonb
    WHERE NOT EXISTS (SELECT 1 FROM short)
      AND (SELECT count(*) FROM locked) = (SELECT count(*) FROM req)
    ON CONFLICT DO NOTHING
    RETURNING order_id
  ),
  held AS (
    UPDATE stock s SET reserved = s.reserved + r.quantity
    FROM req r WHERE s.sku = r.sku AND s.sku = ANY(ARRAY(SELECT sku FROM req)) AND EXISTS (SELECT 1 FROM inserted)
    RETURNING s.sku
  ),
  reserved AS (
    INSERT INTO reservations (order_id, attempt, status, hold_expires_at, lines)
    SELECT order_id, $7::int, 'held', $13::bigint, $14::jsonb
    FROM inserted
    RETURNING 1
  ),
  paid AS (
    INSERT INTO payments (order_id, attempt, status, charge_id, brand, last4, key_id, method_sealed, updated_at)
    SELECT order_id, $7::int, $16::text, $17::text, $18::text, $19::text, $20::text, $21::bytea, $11::timestamptz
    FROM inserted
    RETURNING 1
  ),
  audited AS (
    INSERT INTO order_audit (order_id, from_status, to_status, version, at)
    SELECT order_id, NULL, $6::text, 1, $11::timestamptz FROM inserted
    RETURNING 1
  ),
  evented AS (
    INSERT INTO outbox (event_id, aggregate_id, type, event)
    SELECT e.value ->> 'event_id', e.value ->> 'aggregate_id', e.value ->> 'type', e.value
    FROM inserted, jsonb_array_elements($15::jsonb) WITH ORDINALITY AS e(value, n)
    ORDER BY e.n
    RETURNING 1
  )
  SELECT
    (SELECT count(*) FROM inserted) AS inserted,
    (SELECT count(*) FROM held) AS held,
    (SELECT count(*) FROM req) AS skus,
    (SELECT doc FROM orders WHERE order_id = $3::text) AS existing,
    (SELECT order_id FROM orders WHERE cart_id = $5::text) AS cart_order,
    (SELECT coalesce(jsonb_agg(jsonb_build_object(
              'sku', sku, 'requested', requested, 'available', available) ORDER BY first), '[]'::jsonb)
     FROM short) AS short`

const stepSql = `
  WITH cur AS MATERIALIZED (
    SELECT o.status, o.user_id, o.cart_id, o.total_minor, o.currency
    FROM orders o WHERE o.order_id = $1::text AND o.version = $2::int
    FOR NO KEY UPDATE
  ),
  res AS MATERIALIZED (
    SELECT r.status, r.lines FROM reservations r
    WHERE r.order_id = $1::text AND r.attempt = $3::int
      AND EXISTS (SELECT 1 FROM cur)
  ),
  verdict AS MATERIALIZED (
    SELECT CASE
      WHEN c.status <> $4::text AND NOT (c.status = ANY($5::text[]))
        THEN 'cannot move from ' || c.status || ' to ' || $4::text
      WHEN c.user_id <> $6::text OR c.cart_id <> $7::text
           OR c.total_minor <> $8::bigint OR c.currency <> $9::text
        THEN 'a step cannot change its owner, cart or total'
      WHEN $10::text = 'hold' AND r.status IS NOT NULL
        THEN 'attempt ' || $3::int || ' holds stock already'
      WHEN $10::text IN ('commit', 'release') AND r.status IS DISTINCT FROM 'held'
        THEN 'cannot ' || $10::text || ' a ' || coalesce(r.status, 'missing') || ' hold'
      WHEN CASE WHEN $11::text = 'none' THEN h.have = 'held'
                ELSE h.have <> $11::text END
        THEN 'it would be ' || $4::text || ' with its hold ' || h.have
    END AS refusal
    FROM cur c
    LEFT JOIN res r ON true
    CROSS JOIN LATERAL (
      SELECT CASE $10::text WHEN 'hold' THEN 'held' WHEN 'commit' THEN 'committed'
             WHEN 'release' THEN 'released' ELSE coalesce(r.status, 'none') END AS have
    ) h
  ),
  go AS MATERIALIZED (SELECT 1 FROM verdict WHERE refusal IS NULL),
  moving AS MATERIALIZED (
    SELECT m.sku, sum(m.quantity)::int AS quantity, min(m.n) AS first
    FROM (
      SELECT l.sku, l.quantity, l.n
      FROM unnest($12::text[], $13::int[])
        WITH ORDINALITY AS l(sku, quantity, n)
      WHERE $10::text = 'hold'
      UNION ALL
      SELECT x.line ->> 'sku', (x.line ->> 'quantity')::int, x.n
      FROM res, jsonb_array_elements(res.lines) WITH ORDINALITY AS x(line, n)
      WHERE $10::text IN ('commit', 'release')
    ) m
    WHERE EXISTS (SELECT 1 FROM go)
    GROUP BY m.sku
  ),
  locked AS MATERIALIZED (
    SELECT s.sku, s.on_hand - s.reserved AS available
    FROM stock s WHERE s.sku = ANY(ARRAY(SELECT sku FROM moving))
    ORDER BY s.sku
    FOR NO KEY UPDATE
  ),
  short AS MATERIALIZED (
    SELECT m.sku, m.quantity AS requested, coalesce(l.available, 0) AS available, m.first
    FROM moving m LEFT JOIN locked l ON l.sku = m.sku
    WHERE $10::text = 'hold' AND coalesce(l.available, 0) < m.quantity
  ),
  updated AS (
    UPDATE orders o
    SET status = $4::text, version = o.version + 1, payment_attempt = $3::int,
        updated_at = $14::timestamptz, doc = $15::jsonb
    WHERE o.order_id = $1::text AND o.version = $2::int
      AND EXISTS (SELECT 1 FROM go) AND NOT EXISTS (SELECT 1 FROM short)
      AND (SELECT count(*) FROM locked) = (SELECT count(*) FROM moving)
    RETURNING o.version
  ),
  stocked AS (
    UPDATE stock s
    SET reserved = s.reserved + CASE WHEN $10::text = 'hold' THEN m.quantity ELSE -m.quantity END,
        on_hand = s.on_hand - CASE WHEN $10::text = 'commit' THEN m.quantity ELSE 0 END
    FROM moving m WHERE s.sku = m.sku AND s.sku = ANY(ARRAY(SELECT sku FROM moving)) AND EXISTS (SELECT 1 FROM updated)
    RETURNING s.sku
  ),
  held AS (
    INSERT INTO reservations (order_id, attempt, status, hold_expires_at, lines)
    SELECT $1::text, $3::int, 'held', $16::bigint, $17::jsonb
    FROM updated WHERE $10::text = 'hold'
    RETURNING 1
  ),
  moved AS (
    UPDATE reservations r
    SET status = CASE WHEN $10::text = 'commit' THEN 'committed' ELSE 'released' END
    WHERE r.order_id = $1::text AND r.attempt = $3::int
      AND r.status = 'held' AND $10::text IN ('commit', 'release')
      AND EXISTS (SELECT 1 FROM updated)
    RETURNING 1
  ),
  paid_new AS (
    INSERT INTO payments (order_id, attempt, status, charge_id, brand, last4, key_id, method_sealed, updated_at)
    SELECT $1::text, $3::int, $19::text, $20::text, $21::text, $22::text, $23::text, $24::bytea, $14::timestamptz
    FROM updated WHERE $10::text = 'hold'
    RETURNING 1
  ),
  paid_moved AS (
    UPDATE payments p
    SET status = $19::text, charge_id = $20::text, brand = $21::text, last4 = $22::text, updated_at = $14::timestamptz
    WHERE p.order_id = $1::text AND p.attempt = $3::int AND $10::text <> 'hold' AND EXISTS (SELECT 1 FROM updated)
    RETURNING 1
  ),
  audited AS (
    INSERT INTO order_audit (order_id, from_status, to_status, version, at)
    SELECT $1::text, c.status, $4::text, u.version, $14::timestamptz
    FROM updated u, cur c
    RETURNING 1
  ),
  evented AS (
    INSERT INTO outbox (event_id, aggregate_id, type, event)
    SELECT e.value ->> 'event_id', e.value ->> 'aggregate_id', e.value ->> 'type', e.value
    FROM updated, jsonb_array_elements($18::jsonb) WITH ORDINALITY AS e(value, n)
    ORDER BY e.n
    RETURNING 1
  )
  SELECT
    (SELECT count(*) FROM cur) AS matched,
    (SELECT refusal FROM verdict) AS refusal,
    (SELECT count(*) FROM updated) AS updated,
    (SELECT count(*) FROM stocked) AS stocked,
    (SELECT count(*) FROM moving) AS moving,
    (SELECT count(*) FROM held) + (SELECT count(*) FROM moved) AS reservation_moves,
    (SELECT count(*) FROM paid_new) + (SELECT count(*) FROM paid_moved) AS paid,
    (SELECT coalesce(jsonb_agg(jsonb_build_object(
              'sku', sku, 'requested', requested, 'available', available) ORDER BY first), '[]'::jsonb)
     FROM short) AS short`

/** The sources of "confirmed" in Order's state machine, as Till's step sends them. */
const confirmSources = (Object.keys(Order.transitions) as Array<Order.OrderStatus>).filter((from) =>
  Order.canTransition(from, "confirmed")
)

interface CreateResult {
  readonly inserted: string
  readonly held: string
  readonly skus: string
  readonly short: ReadonlyArray<unknown>
}
interface StepResult {
  readonly matched: string
  readonly refusal: string | null
  readonly updated: string
  readonly stocked: string
  readonly moving: string
  readonly reservation_moves: string
  readonly paid: string
  readonly short: ReadonlyArray<unknown>
}

const minimalCheckout = async (pool: pg.Pool, c: Input): Promise<void> => {
  const o = c.order
  const created = await pool.query<CreateResult>({
    name: "till_create",
    text: createSql,
    values: [
      c.lines.map((l) => l.sku),
      c.lines.map((l) => l.quantity),
      o.order_id,
      o.user_id,
      o.cart_id,
      o.status,
      o.payment_attempt,
      o.total.amount,
      o.total.currency,
      o.created_at,
      o.updated_at,
      JSON.stringify(c.orderDoc),
      o.hold_expires_at,
      JSON.stringify(c.lines),
      JSON.stringify(c.createdEventDocs),
      ...paymentValues(o)
    ]
  })
  const cr = created.rows[0]!
  if (cr.inserted !== "1") {
    if (cr.short.length > 0) throw new OutOfStockError()
    throw new Error("create wrote nothing")
  }
  if (cr.held !== cr.skus) throw new Error(`held ${cr.held} of ${cr.skus}`)
  const n = c.confirmed
  const stepped = await pool.query<StepResult>({
    name: "till_step",
    text: stepSql,
    values: [
      n.order_id,
      1,
      n.payment_attempt,
      n.status,
      confirmSources,
      n.user_id,
      n.cart_id,
      n.total.amount,
      n.total.currency,
      "commit",
      "committed",
      c.lines.map((l) => l.sku),
      c.lines.map((l) => l.quantity),
      n.updated_at,
      JSON.stringify(c.confirmedDoc),
      n.hold_expires_at,
      JSON.stringify(c.lines),
      JSON.stringify(c.confirmedEventDocs),
      ...paymentValues(n, null)
    ]
  })
  const sr = stepped.rows[0]!
  if (sr.matched === "0") throw new Error("stale version on confirm")
  if (sr.refusal !== null) throw new Error(sr.refusal)
  if (sr.short.length > 0) throw new OutOfStockError()
  if (sr.updated !== "1" || sr.stocked !== sr.moving || sr.reservation_moves !== "1" || sr.paid !== "1")
    throw new Error("confirm moved part of its hold")
}

/** `body` in BEGIN ... COMMIT on one client, ROLLBACK on any error. */
const transaction = async (pool: pg.Pool, body: (client: pg.PoolClient) => Promise<void>): Promise<void> => {
  const client = await pool.connect()
  try {
    await client.query("BEGIN")
    try {
      await body(client)
      await client.query("COMMIT")
    } catch (error) {
      await client.query("ROLLBACK")
      throw error
    }
    client.release()
  } catch (error) {
    client.release(error instanceof OutOfStockError ? undefined : (error as Error))
    throw error
  }
}

const insertEvent = (client: pg.PoolClient, e: EventDoc) =>
  client.query("INSERT INTO outbox (event_id, aggregate_id, type, event) VALUES ($1, $2, $3, $4)", [
    e.event_id,
    e.aggregate_id,
    e.type,
    JSON.stringify(e)
  ])

const straightforwardCheckout = async (pool: pg.Pool, c: Input): Promise<void> => {
  const o = c.order
  await transaction(pool, async (client) => {
    for (const line of c.lines) {
      const held = await client.query(
        "UPDATE stock SET reserved = reserved + $2 WHERE sku = $1 AND on_hand - reserved >= $2",
        [line.sku, line.quantity]
      )
      if (held.rowCount !== 1) throw new OutOfStockError()
    }
    await client.query(
      `INSERT INTO orders (order_id, user_id, cart_id, status, version, payment_attempt, total_minor, currency,
                           created_at, updated_at, doc)
       VALUES ($1, $2, $3, $4, 1, $5, $6, $7, $8, $9, $10)`,
      [
        o.order_id,
        o.user_id,
        o.cart_id,
        o.status,
        o.payment_attempt,
        o.total.amount,
        o.total.currency,
        o.created_at,
        o.updated_at,
        JSON.stringify(c.orderDoc)
      ]
    )
    await client.query(
      "INSERT INTO reservations (order_id, attempt, status, hold_expires_at, lines) VALUES ($1, $2, 'held', $3, $4)",
      [o.order_id, o.payment_attempt, o.hold_expires_at, JSON.stringify(c.lines)]
    )
    await client.query(
      `INSERT INTO payments (order_id, attempt, status, charge_id, brand, last4, key_id, method_sealed, updated_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
      [o.order_id, o.payment_attempt, ...paymentValues(o), o.updated_at]
    )
    await client.query(
      "INSERT INTO order_audit (order_id, from_status, to_status, version, at) VALUES ($1, NULL, $2, 1, $3)",
      [o.order_id, o.status, o.updated_at]
    )
    for (const e of c.createdEventDocs) await insertEvent(client, e)
  })
  const n = c.confirmed
  await transaction(pool, async (client) => {
    const updated = await client.query(
      "UPDATE orders SET status = $2, version = version + 1, updated_at = $3, doc = $4 WHERE order_id = $1 AND version = $5",
      [n.order_id, n.status, n.updated_at, JSON.stringify(c.confirmedDoc), 1]
    )
    if (updated.rowCount !== 1) throw new Error("stale version on confirm")
    const committed = await client.query(
      "UPDATE reservations SET status = 'committed' WHERE order_id = $1 AND attempt = $2 AND status = 'held'",
      [n.order_id, n.payment_attempt]
    )
    if (committed.rowCount !== 1) throw new Error("no held reservation to commit")
    for (const line of c.lines)
      await client.query("UPDATE stock SET on_hand = on_hand - $2, reserved = reserved - $2 WHERE sku = $1", [
        line.sku,
        line.quantity
      ])
    const [status, chargeId, brand, last4] = paymentValues(n, null)
    await client.query(
      "UPDATE payments SET status = $3, charge_id = $4, brand = $5, last4 = $6, updated_at = $7 WHERE order_id = $1 AND attempt = $2",
      [n.order_id, n.payment_attempt, status, chargeId, brand, last4, n.updated_at]
    )
    await client.query(
      "INSERT INTO order_audit (order_id, from_status, to_status, version, at) VALUES ($1, $2, $3, 2, $4)",
      [n.order_id, o.status, n.status, n.updated_at]
    )
    for (const e of c.confirmedEventDocs) await insertEvent(client, e)
  })
}

const pgOutcome = (error: unknown): Outcome =>
  error instanceof OutOfStockError
    ? "OutOfStock"
    : `defect: ${error instanceof Error ? error.message : String(error)}`

/** Runs `checkout` over `inputs` with `CONCURRENCY` workers; answers latencies (ms) and outcomes. */
const runPromises = async (
  inputs: ReadonlyArray<Input>,
  checkout: (c: Input) => Promise<void>
): Promise<Array<[number, Outcome]>> => {
  const results: Array<[number, Outcome]> = new Array(inputs.length)
  let next = 0
  const worker = async () => {
    while (next < inputs.length) {
      const i = next++
      const started = performance.now()
      let outcome: Outcome = "ok"
      try {
        await checkout(inputs[i]!)
      } catch (error) {
        outcome = pgOutcome(error)
      }
      results[i] = [performance.now() - started, outcome]
    }
  }
  await Promise.all(Array.from({ length: CONCURRENCY }, worker))
  return results
}

// ---------------------------------------------------------------------------------------------
// Schemas, rounds, checks.

const admin = new pg.Pool({ connectionString: url, max: 2, application_name: "bench_admin" })

/** CPU (ms) each server backend of `applicationName` has used so far, by pid (Linux /proc, 100 Hz ticks). */
const backendCpu = async (applicationName: string): Promise<Map<number, number>> => {
  const { rows } = await admin.query<{ pid: number }>(
    "SELECT pid FROM pg_stat_activity WHERE application_name = $1",
    [applicationName]
  )
  const cpu = new Map<number, number>()
  for (const { pid } of rows) {
    try {
      const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ")
      cpu.set(pid, (Number(fields[11]) + Number(fields[12])) * 10)
    } catch {
      // Not on this machine's /proc (a remote server) or gone: counted as nothing.
    }
  }
  return cpu
}

const cpuSince = (before: Map<number, number>, after: Map<number, number>) =>
  [...after].reduce((sum, [pid, ms]) => sum + ms - (before.get(pid) ?? 0), 0)

const schemaName = (workload: Workload, variant: Variant, tag: string) =>
  `bench_${tag}_${workload}_${variant}`

/** A fresh schema migrated with Till's migrations (through a one-connection PgLayer on it). */
const freshSchema = async (schema: string) => {
  await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)
  await admin.query(`CREATE SCHEMA ${schema}`)
  await Effect.runPromise(
    Migrations.migrate.pipe(
      Effect.provide(
        PgLayer.layerWith({ url: Redacted.make(url), schema, maxConnections: 1, minConnections: 0 })
      )
    )
  )
}

const stockSkus = (schema: string, skus: ReadonlyArray<string>, onHand: number) =>
  admin.query(`INSERT INTO ${schema}.stock (sku, on_hand) SELECT unnest($1::text[]), $2`, [skus, onHand])

interface Counts {
  readonly confirmed: string
  readonly committed: string
  readonly held: string
  readonly events: string
  readonly audits: string
  readonly on_hand: string
  readonly reserved: string
}

/** Defects found in the schema after a round: each count must match the round's successes. */
const check = async (
  schema: string,
  skus: ReadonlyArray<string>,
  carts: ReadonlyArray<string>,
  stocked: number,
  ok: number
) => {
  const { rows } = await admin.query<Counts>(
    `SELECT (SELECT count(*) FROM ${schema}.orders WHERE status = 'confirmed' AND cart_id = ANY($2)) AS confirmed,
            (SELECT count(*) FROM ${schema}.reservations r JOIN ${schema}.orders o USING (order_id)
              WHERE r.status = 'committed' AND o.cart_id = ANY($2)) AS committed,
            (SELECT count(*) FROM ${schema}.reservations WHERE status = 'held') AS held,
            (SELECT count(*) FROM ${schema}.outbox o JOIN ${schema}.orders d ON d.order_id = o.aggregate_id
              WHERE d.cart_id = ANY($2)) AS events,
            (SELECT count(*) FROM ${schema}.order_audit a JOIN ${schema}.orders d USING (order_id)
              WHERE d.cart_id = ANY($2)) AS audits,
            (SELECT coalesce(sum(on_hand), 0) FROM ${schema}.stock WHERE sku = ANY($1)) AS on_hand,
            (SELECT coalesce(sum(reserved), 0) FROM ${schema}.stock WHERE sku = ANY($1)) AS reserved`,
    [skus, carts]
  )
  const c = rows[0]!
  const expected: Counts = {
    confirmed: String(ok),
    committed: String(ok),
    held: "0",
    events: String(4 * ok),
    audits: String(2 * ok),
    on_hand: String(stocked - ok),
    reserved: "0"
  }
  return (Object.keys(expected) as Array<keyof Counts>)
    .filter((k) => c[k] !== expected[k])
    .map((k) => `${k} = ${c[k]}, expected ${expected[k]}`)
}

interface RoundResult {
  readonly perSec: number
  /** Node CPU per checkout (µs), the whole process: the driver, Till or the hand-written code. */
  readonly nodeCpuUs: number
  /** CPU of the pool's server backends per checkout (µs). */
  readonly serverCpuUs: number
  readonly p50: number
  readonly p99: number
  readonly outcomes: Map<Outcome, number>
  readonly defects: ReadonlyArray<string>
}

const percentile = (sorted: ReadonlyArray<number>, p: number) =>
  sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!

const median = (values: ReadonlyArray<number>): number => {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

let skuCounter = 0

const round = async (workload: Workload, variant: Variant, schema: string): Promise<RoundResult> => {
  const n = workload === "distinct" ? CHECKOUTS : HOT_CHECKOUTS
  const applicationName = appName(schema)
  const roundTag = `${variant}-${++skuCounter}`
  const skus =
    workload === "distinct"
      ? Array.from({ length: n }, (_, i) => `sku-${roundTag}-${i}`)
      : [`hot-${roundTag}`]
  // Distinct: 5 units each; hot: exactly enough for every checkout of the round.
  const onHand = workload === "distinct" ? 5 : n
  await stockSkus(schema, skus, onHand)
  const inputs = inputsFor((i) => (workload === "distinct" ? skus[i]! : skus[0]!), n)

  let started = 0
  let elapsed = 0
  let nodeCpu = 0
  let serverCpu = 0
  let serverBefore = new Map<number, number>()
  const timing = async () => {
    serverBefore = await backendCpu(applicationName)
    const cpu = process.cpuUsage()
    started = performance.now()
    return cpu
  }
  const timed = async (cpu: NodeJS.CpuUsage) => {
    elapsed = performance.now() - started
    const used = process.cpuUsage(cpu)
    nodeCpu = (used.user + used.system) / 1000
    serverCpu = cpuSince(serverBefore, await backendCpu(applicationName))
  }
  let results: Array<[number, Outcome]>
  if (variant === "till") {
    const runtime = ManagedRuntime.make(
      PostgresOrderStore.layer.pipe(
        Layer.provide(PaymentCipher.layerEphemeral),
        Layer.provideMerge(tillPool(schema))
      )
    )
    try {
      // Open every connection of the pool before the clock starts, as for the pg pools.
      await runtime.runPromise(
        Effect.gen(function* () {
          const sql = yield* SqlClient.SqlClient
          yield* Effect.forEach(Array.from({ length: POOL }), () => sql`SELECT pg_sleep(0.05)`, {
            concurrency: "unbounded",
            discard: true
          })
        })
      )
      const orders = await runtime.runPromise(
        Effect.gen(function* () {
          return yield* OrderStore.OrderStore
        })
      )
      const cpu = await timing()
      results = await runtime.runPromise(
        Effect.forEach(
          inputs,
          (c) =>
            Effect.suspend(() => {
              const t = performance.now()
              return Effect.map(Effect.exit(tillCheckout(orders, c)), (exit): [number, Outcome] => [
                performance.now() - t,
                failureTag(exit)
              ])
            }),
          { concurrency: CONCURRENCY }
        )
      )
      await timed(cpu)
    } finally {
      await runtime.dispose()
    }
  } else {
    const pool = pgPool(schema)
    try {
      await warmPg(pool)
      const checkout = variant === "minimal" ? minimalCheckout : straightforwardCheckout
      const cpu = await timing()
      results = await runPromises(inputs, (c) => checkout(pool, c))
      await timed(cpu)
    } finally {
      await pool.end()
    }
  }

  const latencies = results.map(([ms]) => ms).sort((a, b) => a - b)
  const outcomes = new Map<Outcome, number>()
  for (const [, o] of results) outcomes.set(o, (outcomes.get(o) ?? 0) + 1)
  const ok = outcomes.get("ok") ?? 0
  const defects = await check(
    schema,
    skus,
    inputs.map((c) => c.order.cart_id),
    skus.length * onHand,
    ok
  )
  return {
    perSec: (n / elapsed) * 1000,
    nodeCpuUs: (nodeCpu * 1000) / n,
    serverCpuUs: (serverCpu * 1000) / n,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    outcomes,
    defects
  }
}

const describeOutcomes = (outcomes: Map<Outcome, number>) =>
  [...outcomes].map(([o, n]) => `${o} ${n}`).join(", ")

/** Statements (round trips) per checkout of one line. */
const roundTrips: Record<Variant, number> = { till: 2, minimal: 2, straightforward: 18 }

const metrics = [
  ["checkoutsPerSec", "checkouts/s", "perSec"],
  ["latency.p50", "ms", "p50"],
  ["latency.p99", "ms", "p99"],
  ["nodeCpuPerCheckout", "µs", "nodeCpuUs"],
  ["serverCpuPerCheckout", "µs", "serverCpuUs"]
] as const

/** What the markdown adds to the rows: per-round ratios and the conditions of the run. */
interface Notes {
  started: string
  loadBefore: string
  loadAfter: string
  /** Per workload and baseline: Till's throughput / the baseline's, round by round. */
  roundRatios: Array<{ workload: Workload; baseline: Variant; ratios: Array<number> }>
  problems: Array<string>
}
const notes: Notes = { started: "", loadBefore: "", loadAfter: "", roundRatios: [], problems: [] }

const load = async () => {
  try {
    return readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ")
  } catch {
    return "n/a"
  }
}

export const run = async (progress: Progress): Promise<ReadonlyArray<Row>> => {
  const log = (line: string) => process.stderr.write(`  [postgres] ${line}\n`)
  const tag = crypto.randomUUID().replaceAll("-", "").slice(0, 8)
  const rows: Array<Row> = []
  notes.started = new Date().toISOString()
  notes.loadBefore = await load()
  try {
    for (const workload of ["distinct", "hot"] as const) {
      const schemas = Object.fromEntries(variants.map((v) => [v, schemaName(workload, v, tag)])) as Record<
        Variant,
        string
      >
      for (const v of variants) await freshSchema(schemas[v])
      log(`${workload}: schemas ${Object.values(schemas).join(", ")} migrated`)
      const perVariant: Record<Variant, Array<RoundResult>> = { till: [], minimal: [], straightforward: [] }
      const outcomesOf: Record<Variant, Map<Outcome, number>> = {
        till: new Map(),
        minimal: new Map(),
        straightforward: new Map()
      }
      for (let r = 0; r < WARMUP_ROUNDS + ROUNDS; r++) {
        // Rotate the order every round, so no variant always runs first or last.
        const order = variants.map((_, i) => variants[(i + r) % variants.length]!)
        for (const v of order) {
          const result = await round(workload, v, schemas[v])
          const warm = r < WARMUP_ROUNDS
          if (!warm) perVariant[v].push(result)
          for (const [o, n] of result.outcomes) outcomesOf[v].set(o, (outcomesOf[v].get(o) ?? 0) + n)
          for (const d of result.defects) notes.problems.push(`${workload}/${v} round ${r + 1}: ${d}`)
          log(
            `${workload} round ${r + 1}/${WARMUP_ROUNDS + ROUNDS}${warm ? " (warm-up)" : ""} ${v}: ` +
              `${result.perSec.toFixed(0)} checkouts/s, p50 ${result.p50.toFixed(1)} ms, p99 ${result.p99.toFixed(1)} ms, ` +
              `CPU/checkout node ${result.nodeCpuUs.toFixed(0)} µs, server ${result.serverCpuUs.toFixed(0)} µs ` +
              `[${describeOutcomes(result.outcomes)}]` +
              (result.defects.length > 0 ? ` CHECK FAILED: ${result.defects.join("; ")}` : "")
          )
        }
      }
      const name = (v: Variant, key: string) => `postgres.${workload}.${v}.${key}`
      for (const [key, unit, field] of metrics) {
        const med = (v: Variant) => median(perVariant[v].map((x) => x[field]))
        for (const v of ["minimal", "straightforward"] as const)
          rows.push({ name: name(v, key), value: med(v), unit, baseline: null, ratio: null })
        for (const v of ["minimal", "straightforward"] as const)
          rows.push({
            name: name("till", key),
            value: med("till"),
            unit,
            baseline: name(v, key),
            ratio: med(v) === 0 ? null : med("till") / med(v)
          })
      }
      for (const baseline of ["minimal", "straightforward"] as const)
        notes.roundRatios.push({
          workload,
          baseline,
          ratios: perVariant.till.map((t, i) => t.perSec / perVariant[baseline][i]!.perSec)
        })
      for (const v of variants) {
        const total = [...outcomesOf[v].values()].reduce((a, b) => a + b, 0)
        const bad = [...outcomesOf[v]].filter(([o]) => o !== "ok" && o !== "OutOfStock")
        rows.push({
          name: name(v, "failures.other"),
          value: bad.reduce((a, [, n]) => a + n, 0),
          unit: `of ${total} checkouts`,
          baseline: null,
          ratio: null
        })
        rows.push({
          name: name(v, "failures.outOfStock"),
          value: outcomesOf[v].get("OutOfStock") ?? 0,
          unit: `of ${total} checkouts`,
          baseline: null,
          ratio: null
        })
        for (const [o, n] of bad) notes.problems.push(`${workload}/${v}: ${n} × ${o}`)
      }
      const perSec = (v: Variant) => median(perVariant[v].map((x) => x.perSec)).toFixed(0)
      progress(
        `${workload}: till ${perSec("till")}/s, minimal ${perSec("minimal")}/s, straightforward ${perSec("straightforward")}/s`
      )
      for (const v of variants) await admin.query(`DROP SCHEMA IF EXISTS ${schemas[v]} CASCADE`)
    }
  } finally {
    await admin.end()
  }
  notes.loadAfter = await load()
  for (const p of notes.problems) progress(`DEFECT ${p}`)
  return rows
}

const fmt = (n: number | undefined): string =>
  n === undefined ? "" : Math.abs(n) >= 100 ? n.toFixed(0) : Math.abs(n) >= 10 ? n.toFixed(1) : n.toFixed(2)

/** The readable table: one line per measure, the three variants side by side, Till's ratios last. */
export const markdown = (rows: ReadonlyArray<Row>): string => {
  const value = (w: Workload, v: Variant, key: string) =>
    rows.find((r) => r.name === `postgres.${w}.${v}.${key}`)?.value
  const ratio = (w: Workload, key: string, baseline: Variant) =>
    rows.find(
      (r) => r.name === `postgres.${w}.till.${key}` && r.baseline === `postgres.${w}.${baseline}.${key}`
    )?.ratio ?? undefined
  const lines = [
    "# Bench: postgres",
    "",
    `Node ${process.version}, ${notes.started}; load average ${notes.loadBefore} before, ${notes.loadAfter} after ` +
      `(2 cores shared by Node, Postgres and whatever else runs). ${CHECKOUTS} checkouts per round on distinct ` +
      `SKUs, ${HOT_CHECKOUTS} on the hot SKU, concurrency ${CONCURRENCY}, pool of ${POOL}, ${ROUNDS} timed rounds ` +
      `after ${WARMUP_ROUNDS} warm-up, variants alternating; every value is the median of the rounds. ` +
      "How it is measured: `bench/README.md`.",
    ""
  ]
  for (const w of ["distinct", "hot"] as const) {
    lines.push(
      `## ${w === "distinct" ? "Distinct SKUs (each checkout its own SKU)" : `One hot SKU (concurrency ${CONCURRENCY})`}`,
      "",
      "| | Till (`PostgresOrderStore`) | minimal (Till's SQL on `pg`, prepared) | straightforward (`pg`, BEGIN … COMMIT) | Till / minimal | Till / straightforward |",
      "|---|---:|---:|---:|---:|---:|"
    )
    for (const [key, unit] of metrics) {
      const label = key === "checkoutsPerSec" ? "**checkouts/s** (higher is better)" : `${key} (${unit})`
      lines.push(
        `| ${label} | ${fmt(value(w, "till", key))} | ${fmt(value(w, "minimal", key))} | ${fmt(value(w, "straightforward", key))} | ` +
          `${fmt(ratio(w, key, "minimal"))} | ${fmt(ratio(w, key, "straightforward"))} |`
      )
    }
    lines.push(
      `| round trips per checkout | ${roundTrips.till} | ${roundTrips.minimal} | ${roundTrips.straightforward} | | |`,
      `| failures other than out-of-stock | ${fmt(value(w, "till", "failures.other"))} | ${fmt(value(w, "minimal", "failures.other"))} | ${fmt(value(w, "straightforward", "failures.other"))} | | |`,
      `| out-of-stock | ${fmt(value(w, "till", "failures.outOfStock"))} | ${fmt(value(w, "minimal", "failures.outOfStock"))} | ${fmt(value(w, "straightforward", "failures.outOfStock"))} | | |`,
      ""
    )
    for (const { workload, baseline, ratios } of notes.roundRatios.filter((x) => x.workload === w)) {
      const sorted = [...ratios].sort((a, b) => a - b)
      lines.push(
        `- Till / ${baseline} throughput round by round (same-round pairs): ${ratios.map((r) => r.toFixed(2)).join(", ")}; ` +
          `median ${fmt(median(ratios))}, range ${fmt(sorted[0])}–${fmt(sorted[sorted.length - 1])}.`
      )
      void workload
    }
    lines.push("")
  }
  const tMin = ratio("distinct", "checkoutsPerSec", "minimal")
  const tStr = ratio("distinct", "checkoutsPerSec", "straightforward")
  const hMin = ratio("hot", "checkoutsPerSec", "minimal")
  const hStr = ratio("hot", "checkoutsPerSec", "straightforward")
  const other = (["distinct", "hot"] as const).reduce(
    (n, w) => n + (value(w, "till", "failures.other") ?? 0),
    0
  )
  const verdict = (r: number | undefined, target: number, strict: boolean) =>
    r === undefined ? "n/a" : (strict ? r > target : r >= target) ? "met" : "MISSED"
  lines.push(
    "## What the ratios mean",
    "",
    `Till / minimal is what Till's layer (Effect, \`@effect/sql-pg\`, encoding the order and events with Schema, ` +
      `the checks on each answer) costs over sending the very same SQL by hand: ${fmt(tMin)} on distinct SKUs and ` +
      `${fmt(hMin)} on the hot one (issue 13's target ≥ 0.80: ${verdict(tMin, 0.8, false)} / ${verdict(hMin, 0.8, false)}). ` +
      `Till / straightforward is what a team's BEGIN/UPDATE/INSERT/COMMIT code would give: ${fmt(tStr)} and ${fmt(hStr)} ` +
      `(target > 1: ${verdict(tStr, 1, true)} / ${verdict(hStr, 1, true)}). ` +
      `Failures other than out-of-stock in Till's checkouts: ${other} (target 0: ${other === 0 ? "met" : "MISSED"}). ` +
      "Both of Till's statements are heavy CTEs, so the server does more per round trip than in the straightforward form; " +
      "the CPU rows show where the time goes. Throughput moves ±20-30 % between rounds on this shared machine: " +
      "read the same-round ratios above more than any single value.",
    ""
  )
  if (notes.problems.length > 0)
    lines.push("## Defects found", "", ...notes.problems.map((p) => `- ${p}`), "")
  lines.push(
    "## All rows",
    "",
    "| name | value | unit | baseline | ratio |",
    "|---|---:|---|---|---:|",
    ...rows.map(
      (r) =>
        `| ${r.name} | ${fmt(r.value)} | ${r.unit} | ${r.baseline ?? ""} | ${r.ratio === null ? "" : fmt(r.ratio)} |`
    )
  )
  return `${lines.join("\n")}\n`
}
