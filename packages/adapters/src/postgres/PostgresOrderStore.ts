/**
 * The OrderStore port on Postgres. Each order step is one SQL statement: a chain of
 * data-modifying CTEs that Postgres runs as one transaction (autocommit), so a step is one
 * round trip on a prepared statement, and a step killed midway (connection lost, backend
 * terminated, statement timeout) leaves nothing behind.
 *
 * How a step stays correct under READ COMMITTED:
 * - `create` locks the stock rows of its SKUs in SKU order (`FOR NO KEY UPDATE`, which reads the
 *   latest committed level), checks every line, and only then inserts the order; the stock
 *   UPDATE only touches rows it holds already. All lock waits happen in SKU order, so orders
 *   whose lines come in different orders cannot deadlock. It then records its decision on the id
 *   in `order_ids` (taken, or out of stock with the short lines), `ON CONFLICT DO NOTHING`: a
 *   create of an id decided before (a replay, a late copy of a refused create, an id refused by
 *   `refuseUnmade`) writes nothing and answers that decision, so a refused id never gets an order
 *   later (migration 15). `ON CONFLICT DO NOTHING` on the one-order-per-cart index turns a
 *   second order of a cart into no write.
 * - `step` locks the order row where `version = expectedVersion` (the compare-and-set: a
 *   concurrent step that won first makes the row fail the recheck, and nothing is written),
 *   checks the state machine, the owner and the attempt's hold, then locks the stock rows in
 *   SKU order as `create` does. A refused check writes nothing and is answered as a defect.
 * - Stock rows are always found through the primary key: `sku = ANY(ARRAY(SELECT sku FROM ...))`,
 *   never `IN (SELECT ...)` or a join with the lines. The planner cannot know how many lines a
 *   step has (an `unnest` or `jsonb_array_elements` of a parameter: 10-110 rows to it), so with a
 *   join it hash-joined them with a sequential scan of the whole stock table in every step: 3 ms of
 *   Postgres CPU a checkout at 3,000 SKUs, growing with the catalogue; with the array, index probes
 *   (1.5 ms a checkout, whatever the catalogue; tested by the stock table's scan counters).
 * - The database keeps 0 <= reserved <= on_hand (CHECK constraints) and lets a reservation
 *   leave `held` once (a trigger): even a bug here cannot oversell.
 *
 * The payment of each attempt is a row of `payments` written by the same statement: `create`
 * and the step that holds stock for a new attempt insert it, every other step updates its status,
 * charge id, brand and last4. The attempt's payment method token lives only there, sealed with
 * AES-256-GCM (PaymentCipher.ts); `orders.doc` is the order without it, and reads join it back.
 *
 * Outbox claims lock unclaimed rows `FOR UPDATE SKIP LOCKED`, skip every order with an earlier
 * event under a live claim, and keep a picked event only when all earlier unsent events of its
 * order are in the same claim, so competing relays never publish an order's events out of order.
 */
import { PgClient } from "@effect/sql-pg"
import { Errors, Event, type InventoryStore, Order, OrderStore } from "@till/core"
import { Effect, Layer, Option, Schema } from "effect"
import { SqlClient } from "effect/sql"
import * as Cursor from "./internal/cursor.js"
import { compile } from "./internal/compiledStatement.js"
import { makeCreateMany } from "./internal/orderBatch.js"
import { type OrderArgs, orderArgs } from "./internal/orderColumns.js"
import { purge } from "./internal/purge.js"
import { paymentRow } from "./internal/sealedRows.js"
import { gatedStatements } from "./internal/sqlErrors.js"
import * as PaymentCipher from "./PaymentCipher.js"
import type * as PgLayer from "./PgLayer.js"

const store = "orders"

const decodeOrder = (doc: unknown): Effect.Effect<Order.Order> =>
  Effect.orDie(Schema.decodeUnknownEffect(Order.Order)(doc))

/** An order as `orderRows` reads it: the document, and the sealed token of its current attempt. */
interface OrderRow {
  readonly doc: { readonly [key: string]: unknown }
  readonly order_id: string
  readonly payment_attempt: number
  readonly key_id: string | null
  readonly method_sealed: Uint8Array | null
}

type Unavailable = typeof Errors.Unavailable.Type

/** Statuses a step may come from to reach `to` (the state machine of Order.ts, as data for SQL). */
const sources = (to: Order.OrderStatus): Array<Order.OrderStatus> =>
  (Object.keys(Order.transitions) as Array<Order.OrderStatus>).filter((from) => Order.canTransition(from, to))

/** What the hold of the order's current attempt must be once the step is written. */
const expectedHold = (status: Order.OrderStatus): "held" | "committed" | "none" =>
  Order.holdsStock(status) ? "held" : status === "confirmed" ? "committed" : "none"

const requireTime = (iso: string, what: string): Effect.Effect<void> =>
  Number.isFinite(Date.parse(iso)) ? Effect.void : Effect.die(new Error(`${what} is not a time: ${iso}`))

interface CreateRow {
  readonly inserted: bigint
  readonly held: bigint
  readonly skus: bigint
  /** 1 when this statement decided the id (order_ids), 0 when an earlier create had. */
  readonly decided: bigint
  readonly short: ReadonlyArray<Unavailable>
}

interface StepRow {
  readonly matched: bigint
  readonly refusal: string | null
  readonly updated: bigint
  readonly stocked: bigint
  readonly moving: bigint
  readonly reservation_moves: bigint
  readonly paid: bigint
  readonly short: ReadonlyArray<Unavailable>
}

interface CreateArgs extends OrderArgs {
  readonly createdAt: string
}

/** The values of `step`'s statement: those of `create` but the creation time, and the move. */
interface StepArgs extends OrderArgs {
  readonly sources: ReadonlyArray<string>
  readonly expectedHold: string
  readonly expectedVersion: number
  readonly move: string
}

/** A relay's publish failed: carried through the transaction (rolled back) as it was. */
class Published {
  constructor(readonly error: unknown) {}
}

/** The store over the pool in context. */
export const make: Effect.Effect<
  OrderStore.OrderStore["Service"],
  never,
  PgLayer.Client | PaymentCipher.PaymentCipher
> = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  const unavailable = yield* gatedStatements(store)
  const pg = yield* PgClient.PgClient
  const cipher = yield* PaymentCipher.PaymentCipher

  /** The stock rows of the SKUs in CTE `lines`, found by primary key (see above). */
  const stockOf = (lines: "req" | "moving") => sql`s.sku = ANY(ARRAY(SELECT sku FROM ${sql(lines)}))`

  /** Those rows' availability, locked in SKU order: every lock wait in SKU order, no deadlocks. */
  const lockedStockOf = (lines: "req" | "moving") => sql`
        SELECT s.sku, s.on_hand - s.reserved AS available
        FROM stock s WHERE ${stockOf(lines)}
        ORDER BY s.sku
        FOR NO KEY UPDATE`

  /** The `short` CTE's lines as `OutOfStock.unavailable` (JSON, in the order the lines came). */
  const shortAsJson = sql`(SELECT coalesce(jsonb_agg(jsonb_build_object(
                  'sku', sku, 'requested', requested, 'available', available) ORDER BY first), '[]'::jsonb)
         FROM short)`

  /** Orders with the sealed token of their current attempt; a `WHERE` on `o.` follows. */
  const orderRows = sql`
    SELECT o.doc, o.order_id, o.payment_attempt, p.key_id, p.method_sealed
    FROM orders o
    LEFT JOIN payments p ON p.order_id = o.order_id AND p.attempt = o.payment_attempt`

  const fromRow = (row: OrderRow): Effect.Effect<Order.Order> =>
    row.key_id === null || row.method_sealed === null
      ? // Written before payments had a table of their own (migration 10): the token is in the doc.
        decodeOrder(row.doc)
      : Effect.flatMap(
          cipher.open(
            { keyId: row.key_id, sealed: row.method_sealed },
            paymentRow(row.order_id, row.payment_attempt)
          ),
          (token) => decodeOrder({ ...row.doc, payment_method_id: token })
        )

  const readOne = (orderId: string) =>
    Effect.flatMap(unavailable(sql<OrderRow>`${orderRows} WHERE o.order_id = ${orderId}::text`), (rows) =>
      rows[0] === undefined
        ? Effect.succeed(Option.none<Order.Order>())
        : Effect.map(fromRow(rows[0]), Option.some)
    )

  /**
   * The answer for an id that `create` did not insert: decided by an earlier create (its order,
   * or its refusal), or its cart has another order. Read by a statement of its own, since the
   * conflicting rows may have committed after the create's snapshot.
   */
  const readDecided = (order: Order.Order) =>
    Effect.gen(function* () {
      const existing = yield* readOne(order.order_id)
      if (Option.isSome(existing)) return existing.value
      const rows = yield* unavailable(sql<{
        outcome: string | null
        unavailable: ReadonlyArray<Unavailable> | null
        cart_order: string | null
      }>`
        SELECT d.outcome, d.unavailable,
               (SELECT order_id FROM orders WHERE cart_id = ${order.cart_id}) AS cart_order
        FROM (SELECT 1) one
        LEFT JOIN order_ids d ON d.order_id = ${order.order_id}`)
      const row = rows[0]
      if (row?.outcome === "out_of_stock" && row.unavailable !== null)
        return yield* new Errors.OutOfStock({ unavailable: row.unavailable })
      if (row?.cart_order != null || row?.outcome === "abandoned")
        return yield* new Errors.CartNotActive({
          cartId: order.cart_id,
          ...(row.cart_order != null ? { orderId: row.cart_order } : {})
        })
      return yield* Effect.die(new Error(`order ${order.order_id}: insert conflicted with no row`))
    })

  const createStatement = compile(
    sql,
    (a: CreateArgs) => sql<CreateRow>`
      WITH req AS (
        SELECT l.sku, sum(l.quantity)::int AS quantity, min(l.n) AS first
        FROM unnest(${a.skus}::text[], ${a.quantities}::int[])
          WITH ORDINALITY AS l(sku, quantity, n)
        GROUP BY l.sku
      ),
      locked AS MATERIALIZED (${lockedStockOf("req")}),
      short AS MATERIALIZED (
        SELECT r.sku, r.quantity AS requested, coalesce(l.available, 0) AS available, r.first
        FROM req r LEFT JOIN locked l ON l.sku = r.sku
        WHERE coalesce(l.available, 0) < r.quantity
      ),
      decided AS (
        INSERT INTO order_ids (order_id, outcome, unavailable)
        SELECT ${a.orderId}::text,
               CASE WHEN EXISTS (SELECT 1 FROM short) THEN 'out_of_stock' ELSE 'taken' END,
               CASE WHEN EXISTS (SELECT 1 FROM short) THEN ${shortAsJson} END
        ON CONFLICT DO NOTHING
        RETURNING outcome = 'taken' AS taking
      ),
      inserted AS (
        INSERT INTO orders (order_id, user_id, cart_id, status, version, payment_attempt,
                            total_minor, currency, created_at, updated_at, doc)
        SELECT ${a.orderId}::text, ${a.userId}::text, ${a.cartId}::text, ${a.status}::text,
               1, ${a.attempt}::int, ${a.totalMinor}::bigint, ${a.currency}::text,
               ${a.createdAt}::timestamptz, ${a.updatedAt}::timestamptz, ${pg.json(a.doc)}
        WHERE EXISTS (SELECT 1 FROM decided WHERE taking)
          AND NOT EXISTS (SELECT 1 FROM short)
          AND (SELECT count(*) FROM locked) = (SELECT count(*) FROM req)
        ON CONFLICT DO NOTHING
        RETURNING order_id
      ),
      held AS (
        UPDATE stock s SET reserved = s.reserved + r.quantity
        FROM req r WHERE s.sku = r.sku AND ${stockOf("req")} AND EXISTS (SELECT 1 FROM inserted)
        RETURNING s.sku
      ),
      reserved AS (
        INSERT INTO reservations (order_id, attempt, status, hold_expires_at, lines)
        SELECT order_id, ${a.attempt}::int, 'held', ${a.holdExpiresAt}::bigint, ${pg.json(a.lines)}
        FROM inserted
        RETURNING 1
      ),
      paid AS (
        INSERT INTO payments (order_id, attempt, status, charge_id, brand, last4, key_id, method_sealed, updated_at)
        SELECT order_id, ${a.attempt}::int, ${a.paymentStatus}::text, ${a.chargeId}::text,
               ${a.brand}::text, ${a.last4}::text, ${a.keyId}::text, ${a.sealed}::bytea,
               ${a.updatedAt}::timestamptz
        FROM inserted
        RETURNING 1
      ),
      audited AS (
        INSERT INTO order_audit (order_id, from_status, to_status, version, at)
        SELECT order_id, NULL, ${a.status}::text, 1, ${a.updatedAt}::timestamptz FROM inserted
        RETURNING 1
      ),
      evented AS (
        INSERT INTO outbox (event_id, aggregate_id, type, event)
        SELECT e.value ->> 'event_id', e.value ->> 'aggregate_id', e.value ->> 'type', e.value
        FROM inserted, jsonb_array_elements(${pg.json(a.events)}) WITH ORDINALITY AS e(value, n)
        ORDER BY e.n
        RETURNING 1
      )
      SELECT
        (SELECT count(*) FROM inserted) AS inserted,
        (SELECT count(*) FROM held) AS held,
        (SELECT count(*) FROM req) AS skus,
        (SELECT count(*) FROM decided) AS decided,
        ${shortAsJson} AS short`
  )

  /** A new order is version 1, holds stock and has its times: anything else is a bug of the caller. */
  const requireNew = (order: Order.Order) =>
    order.version !== 1 || !Order.holdsStock(order.status)
      ? Effect.die(new Error(`order ${order.order_id}: a new order is version 1 and holds stock`))
      : Effect.andThen(
          requireTime(order.created_at, "created_at"),
          requireTime(order.updated_at, "updated_at")
        )

  const create = Effect.fn("PostgresOrderStore.create")(function* (
    order: Order.Order,
    events: ReadonlyArray<Event.Event>
  ) {
    yield* requireNew(order)
    const method = cipher.seal(order.payment_method_id, paymentRow(order.order_id, order.payment_attempt))
    const rows = yield* unavailable(
      createStatement.run({ ...orderArgs(order, order, method, events), createdAt: order.created_at })
    )
    const row = rows[0]!
    if (row.inserted === 1n) {
      if (row.held !== row.skus)
        return yield* Effect.die(new Error(`order ${order.order_id}: held ${row.held} of ${row.skus} SKUs`))
      return order
    }
    // Refused here, and recorded: no later create of this id can make an order.
    if (row.decided === 1n && row.short.length > 0)
      return yield* new Errors.OutOfStock({ unavailable: row.short })
    return yield* readDecided(order)
  })

  const stepStatement = compile(
    sql,
    (a: StepArgs) => sql<StepRow>`
      WITH cur AS MATERIALIZED (
        SELECT o.status, o.user_id, o.cart_id, o.total_minor, o.currency
        FROM orders o WHERE o.order_id = ${a.orderId}::text AND o.version = ${a.expectedVersion}::int
        FOR NO KEY UPDATE
      ),
      res AS MATERIALIZED (
        SELECT r.status, r.lines FROM reservations r
        WHERE r.order_id = ${a.orderId}::text AND r.attempt = ${a.attempt}::int
          AND EXISTS (SELECT 1 FROM cur)
      ),
      verdict AS MATERIALIZED (
        SELECT CASE
          WHEN c.status <> ${a.status}::text AND NOT (c.status = ANY(${a.sources}::text[]))
            THEN 'cannot move from ' || c.status || ' to ' || ${a.status}::text
          WHEN c.user_id <> ${a.userId}::text OR c.cart_id <> ${a.cartId}::text
               OR c.total_minor <> ${a.totalMinor}::bigint OR c.currency <> ${a.currency}::text
            THEN 'a step cannot change its owner, cart or total'
          WHEN ${a.move}::text = 'hold' AND r.status IS NOT NULL
            THEN 'attempt ' || ${a.attempt}::int || ' holds stock already'
          WHEN ${a.move}::text IN ('commit', 'release') AND r.status IS DISTINCT FROM 'held'
            THEN 'cannot ' || ${a.move}::text || ' a ' || coalesce(r.status, 'missing') || ' hold'
          WHEN CASE WHEN ${a.expectedHold}::text = 'none' THEN h.have = 'held'
                    ELSE h.have <> ${a.expectedHold}::text END
            THEN 'it would be ' || ${a.status}::text || ' with its hold ' || h.have
        END AS refusal
        FROM cur c
        LEFT JOIN res r ON true
        CROSS JOIN LATERAL (
          SELECT CASE ${a.move}::text WHEN 'hold' THEN 'held' WHEN 'commit' THEN 'committed'
                 WHEN 'release' THEN 'released' ELSE coalesce(r.status, 'none') END AS have
        ) h
      ),
      go AS MATERIALIZED (SELECT 1 FROM verdict WHERE refusal IS NULL),
      moving AS MATERIALIZED (
        SELECT m.sku, sum(m.quantity)::int AS quantity, min(m.n) AS first
        FROM (
          SELECT l.sku, l.quantity, l.n
          FROM unnest(${a.skus}::text[], ${a.quantities}::int[])
            WITH ORDINALITY AS l(sku, quantity, n)
          WHERE ${a.move}::text = 'hold'
          UNION ALL
          SELECT x.line ->> 'sku', (x.line ->> 'quantity')::int, x.n
          FROM res, jsonb_array_elements(res.lines) WITH ORDINALITY AS x(line, n)
          WHERE ${a.move}::text IN ('commit', 'release')
        ) m
        WHERE EXISTS (SELECT 1 FROM go)
        GROUP BY m.sku
      ),
      locked AS MATERIALIZED (${lockedStockOf("moving")}),
      short AS MATERIALIZED (
        SELECT m.sku, m.quantity AS requested, coalesce(l.available, 0) AS available, m.first
        FROM moving m LEFT JOIN locked l ON l.sku = m.sku
        WHERE ${a.move}::text = 'hold' AND coalesce(l.available, 0) < m.quantity
      ),
      updated AS (
        UPDATE orders o
        SET status = ${a.status}::text, version = o.version + 1, payment_attempt = ${a.attempt}::int,
            updated_at = ${a.updatedAt}::timestamptz, doc = ${pg.json(a.doc)}
        WHERE o.order_id = ${a.orderId}::text AND o.version = ${a.expectedVersion}::int
          AND EXISTS (SELECT 1 FROM go) AND NOT EXISTS (SELECT 1 FROM short)
          AND (SELECT count(*) FROM locked) = (SELECT count(*) FROM moving)
        RETURNING o.version
      ),
      stocked AS (
        UPDATE stock s
        SET reserved = s.reserved + CASE WHEN ${a.move}::text = 'hold' THEN m.quantity ELSE -m.quantity END,
            on_hand = s.on_hand - CASE WHEN ${a.move}::text = 'commit' THEN m.quantity ELSE 0 END
        FROM moving m WHERE s.sku = m.sku AND ${stockOf("moving")} AND EXISTS (SELECT 1 FROM updated)
        RETURNING s.sku
      ),
      held AS (
        INSERT INTO reservations (order_id, attempt, status, hold_expires_at, lines)
        SELECT ${a.orderId}::text, ${a.attempt}::int, 'held', ${a.holdExpiresAt}::bigint,
               ${pg.json(a.lines)}
        FROM updated WHERE ${a.move}::text = 'hold'
        RETURNING 1
      ),
      moved AS (
        UPDATE reservations r
        SET status = CASE WHEN ${a.move}::text = 'commit' THEN 'committed' ELSE 'released' END
        WHERE r.order_id = ${a.orderId}::text AND r.attempt = ${a.attempt}::int
          AND r.status = 'held' AND ${a.move}::text IN ('commit', 'release')
          AND EXISTS (SELECT 1 FROM updated)
        RETURNING 1
      ),
      paid_new AS (
        INSERT INTO payments (order_id, attempt, status, charge_id, brand, last4, key_id, method_sealed, updated_at)
        SELECT ${a.orderId}::text, ${a.attempt}::int, ${a.paymentStatus}::text, ${a.chargeId}::text,
               ${a.brand}::text, ${a.last4}::text, ${a.keyId}::text,
               ${a.sealed}::bytea, ${a.updatedAt}::timestamptz
        FROM updated WHERE ${a.move}::text = 'hold'
        RETURNING 1
      ),
      paid_moved AS (
        UPDATE payments p
        SET status = ${a.paymentStatus}::text, charge_id = ${a.chargeId}::text, brand = ${a.brand}::text,
            last4 = ${a.last4}::text, updated_at = ${a.updatedAt}::timestamptz
        WHERE p.order_id = ${a.orderId}::text AND p.attempt = ${a.attempt}::int
          AND ${a.move}::text <> 'hold' AND EXISTS (SELECT 1 FROM updated)
        RETURNING 1
      ),
      audited AS (
        INSERT INTO order_audit (order_id, from_status, to_status, version, at)
        SELECT ${a.orderId}::text, c.status, ${a.status}::text, u.version, ${a.updatedAt}::timestamptz
        FROM updated u, cur c
        RETURNING 1
      ),
      evented AS (
        INSERT INTO outbox (event_id, aggregate_id, type, event)
        SELECT e.value ->> 'event_id', e.value ->> 'aggregate_id', e.value ->> 'type', e.value
        FROM updated, jsonb_array_elements(${pg.json(a.events)}) WITH ORDINALITY AS e(value, n)
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
        ${shortAsJson} AS short`
  )

  const step = Effect.fn("PostgresOrderStore.step")(function* (
    next: Order.Order,
    expectedVersion: number,
    move: InventoryStore.StockMove | null,
    events: ReadonlyArray<Event.Event>
  ) {
    yield* requireTime(next.updated_at, "updated_at")
    const stored = new Order.Order({ ...next, version: expectedVersion + 1 })
    const moveText = move ?? "none"
    // A new attempt (its hold) brings its payment row; later steps of the attempt only update it.
    const method =
      move === "hold"
        ? cipher.seal(next.payment_method_id, paymentRow(next.order_id, next.payment_attempt))
        : null
    const rows = yield* unavailable(
      stepStatement.run({
        ...orderArgs(next, stored, method, events),
        sources: sources(next.status),
        expectedHold: expectedHold(next.status),
        expectedVersion,
        move: moveText
      })
    )
    const row = rows[0]!
    if (row.matched === 0n) return Option.none<Order.Order>()
    if (row.refusal !== null) return yield* Effect.die(new Error(`order ${next.order_id}: ${row.refusal}`))
    if (row.short.length > 0) return yield* new Errors.OutOfStock({ unavailable: row.short })
    if (row.updated !== 1n)
      return yield* Effect.die(new Error(`order ${next.order_id}: the stock rows of its ${move} are missing`))
    if (row.stocked !== row.moving || (move !== null && row.reservation_moves !== 1n))
      return yield* Effect.die(new Error(`order ${next.order_id}: its ${move} moved part of its hold`))
    // (An order of before migration 10 has no payment row to move; only a new attempt must add one.)
    if (move === "hold" && row.paid !== 1n)
      return yield* Effect.die(
        new Error(`order ${next.order_id}: attempt ${next.payment_attempt} has no payment row`)
      )
    return Option.some(stored)
  })

  const page = (rows: ReadonlyArray<OrderRow>, limit: number, key: (o: Order.Order) => Cursor.Key) =>
    Effect.map(Effect.forEach(rows.slice(0, limit), fromRow), (orders): OrderStore.OrderPage => {
      const last = orders[orders.length - 1]
      return {
        orders,
        nextCursor: rows.length > limit && last !== undefined ? Cursor.encode(key(last)) : null
      }
    })

  const emptyPage: OrderStore.OrderPage = { orders: [], nextCursor: null }

  const listByStatus = Effect.fn("PostgresOrderStore.listByStatus")(function* (
    statuses: ReadonlyArray<Order.OrderStatus>,
    updatedBeforeIso: string,
    limit: number,
    cursor: string | null
  ) {
    yield* requireTime(updatedBeforeIso, "updatedBeforeIso")
    const after = cursor === null ? Option.none() : Cursor.decode(cursor)
    if ((cursor !== null && Option.isNone(after)) || statuses.length === 0) return emptyPage
    const size = Cursor.pageLimit(limit, 1)
    const from = Option.match(after, {
      onNone: () => sql``,
      onSome: ([at, id]) => sql`AND (o.updated_at, o.order_id) > (${at}::timestamptz, ${id}::text)`
    })
    const rows = yield* unavailable(sql<OrderRow>`
      ${orderRows}
      WHERE o.status = ANY(${[...statuses]}::text[]) AND o.updated_at <= ${updatedBeforeIso}::timestamptz ${from}
      ORDER BY o.updated_at, o.order_id
      LIMIT ${size + 1}`)
    return yield* page(rows, size, (o) => [o.updated_at, o.order_id])
  })

  const listByUser = Effect.fn("PostgresOrderStore.listByUser")(function* (
    userId: string,
    limit: number,
    cursor: string | null
  ) {
    const after = cursor === null ? Option.none() : Cursor.decode(cursor)
    if (cursor !== null && Option.isNone(after)) return emptyPage
    const size = Cursor.pageLimit(limit, 1)
    const from = Option.match(after, {
      onNone: () => sql``,
      onSome: ([at, id]) => sql`AND (o.created_at, o.order_id) < (${at}::timestamptz, ${id}::text)`
    })
    const rows = yield* unavailable(sql<OrderRow>`
      ${orderRows}
      WHERE o.user_id = ${userId}::text ${from}
      ORDER BY o.created_at DESC, o.order_id DESC
      LIMIT ${size + 1}`)
    return yield* page(rows, size, (o) => [o.created_at, o.order_id])
  })

  const get = Effect.fn("PostgresOrderStore.get")(function* (orderId: string) {
    return yield* readOne(orderId)
  })

  const audit = Effect.fn("PostgresOrderStore.audit")(function* (orderId: string) {
    const rows = yield* unavailable(sql<{
      from_status: Order.OrderStatus | null
      to_status: Order.OrderStatus
      version: number
      at: Date
    }>`
      SELECT from_status, to_status, version, at FROM order_audit
      WHERE order_id = ${orderId}::text ORDER BY version, id`)
    return rows.map(
      (r): OrderStore.AuditEntry => ({
        order_id: orderId,
        from: r.from_status,
        to: r.to_status,
        version: r.version,
        at: r.at.toISOString()
      })
    )
  })

  const decodeEvent = Schema.decodeUnknownEffect(Event.Event)

  /**
   * Up to `size` unsent events in commit order, locked (`SKIP LOCKED`: events another relay holds
   * are passed over, never waited for), leaving out those under a live leased claim and every
   * later event of their orders. The CTE `picked` of both ways to relay.
   */
  const pickUnsent = (now: number, size: number) => sql`
        SELECT o.seq, o.aggregate_id FROM outbox o
        WHERE NOT o.published AND (o.claimed_until IS NULL OR o.claimed_until <= ${now}::bigint)
          AND NOT EXISTS (
            SELECT 1 FROM outbox b
            WHERE b.aggregate_id = o.aggregate_id AND b.seq < o.seq AND NOT b.published
              AND b.claimed_until > ${now}::bigint)
        ORDER BY o.seq
        LIMIT ${size}
        FOR UPDATE OF o SKIP LOCKED`

  /** `p` (of `picked`) only when every earlier unsent event of its order was picked with it. */
  const firstOfTheirOrders = sql`NOT EXISTS (
          SELECT 1 FROM outbox e
          WHERE e.aggregate_id = p.aggregate_id AND e.seq < p.seq AND NOT e.published
            AND e.seq NOT IN (SELECT seq FROM picked))`

  const claimEvents = Effect.fn("PostgresOrderStore.claimEvents")(function* (
    nowMs: number,
    limit: number,
    leaseMs: number
  ) {
    const token = crypto.randomUUID()
    const size = Cursor.pageLimit(limit)
    if (size === 0) return { token, events: [] }
    const now = Math.floor(nowMs)
    const until = Math.floor(nowMs + leaseMs)
    const rows = yield* unavailable(sql<{ event: unknown }>`
      WITH picked AS MATERIALIZED (${pickUnsent(now, size)}),
      kept AS (
        SELECT p.seq FROM picked p WHERE ${firstOfTheirOrders}
      ),
      claimed AS (
        UPDATE outbox o SET claim_token = ${token}::text, claimed_until = ${until}::bigint
        FROM kept WHERE o.seq = kept.seq
        RETURNING o.seq, o.event
      )
      SELECT event FROM claimed ORDER BY seq`)
    const events = yield* Effect.orDie(Effect.forEach(rows, (r) => decodeEvent(r.event)))
    return { token, events }
  })

  // A claim that lives as long as its transaction: the batch's rows are taken (SKIP LOCKED, so
  // concurrent relays take disjoint batches and never wait) and deleted by one statement, then
  // published, then committed. A relay that dies or fails to publish rolls back and its rows are
  // back at once; one that hangs is cut off by `idle_in_transaction_session_timeout` set to the
  // lease. Rows under a live lease of `claimEvents` (another relay using it) are skipped with every
  // later event of their order, as that relay's claim skips these: the two may run side by side.
  //
  // Why a published event leaves the outbox instead of being marked: the topic is the history of
  // what went out (and consumers' `processed_events` of what came in), and an outbox of unsent
  // events only is a short queue. The events go on as stored (their JSON text, `StoredEvent`),
  // never decoded and encoded again. In `pnpm bench kafka` (2026-12-03, one session, builds
  // alternating, 6 rounds each) the relay went from 12.5-18.4k msg/s, 0.38-0.49 of raw kafkajs's
  // rate in the same round (marking, decoding), to 18.0-24.9k, 0.46-0.71 (median 0.56); each half
  // alone gave about half of that. The committed run after it: 0.32-0.57 a round, median 0.42.
  const relayEvents = <E>(
    nowMs: number,
    limit: number,
    leaseMs: number,
    publish: (events: ReadonlyArray<Event.StoredEvent>) => Effect.Effect<void, E>
  ): Effect.Effect<number, E | Errors.StoreUnavailable> => {
    const size = Cursor.pageLimit(limit)
    if (size === 0) return Effect.succeed(0)
    const now = Math.floor(nowMs)
    const batch = Effect.gen(function* () {
      // The lease is set by the statement that takes the rows (one round trip less than its own).
      const rows = yield* sql<{
        event_id: string
        aggregate_id: string
        type: Event.EventType
        json: string
      }>`
        WITH lease AS MATERIALIZED (
          SELECT set_config('idle_in_transaction_session_timeout', ${String(Math.max(1, Math.floor(leaseMs)))}, true)
        ),
        picked AS MATERIALIZED (${pickUnsent(now, size)}),
        taken AS (
          DELETE FROM outbox o USING lease, picked p
          WHERE o.seq = p.seq AND ${firstOfTheirOrders}
          RETURNING o.seq, o.event_id, o.aggregate_id, o.type, o.event::text AS json
        )
        SELECT event_id, aggregate_id, type, json FROM taken ORDER BY seq`
      if (rows.length === 0) return 0
      yield* Effect.mapError(publish(rows), (error) => new Published(error))
      return rows.length
    })
    return Effect.catch(
      unavailable(sql.withTransaction(batch)),
      (error): Effect.Effect<never, E | Errors.StoreUnavailable> =>
        Effect.fail(error instanceof Published ? (error.error as E) : error)
    )
  }

  const markPublished = Effect.fn("PostgresOrderStore.markPublished")(function* (
    token: string,
    eventIds: ReadonlyArray<string>
  ) {
    if (eventIds.length === 0) return
    // Published events leave the outbox (relayEvents says why).
    yield* unavailable(sql`
      DELETE FROM outbox
      WHERE event_id = ANY(${[...eventIds]}::text[]) AND claim_token = ${token}::text AND NOT published`)
  })

  const outboxLagMs = Effect.fn("PostgresOrderStore.outboxLagMs")(function* (nowMs: number) {
    // The oldest unsent row by `seq` (the partial index `outbox_unsent`), not by time: commit order.
    const rows = yield* unavailable(sql<{ occurred_at: string }>`
      SELECT event ->> 'occurred_at' AS occurred_at FROM outbox WHERE NOT published ORDER BY seq LIMIT 1`)
    const oldest = rows[0] === undefined ? Number.NaN : Date.parse(rows[0].occurred_at)
    return Number.isFinite(oldest) ? Math.max(0, nowMs - oldest) : 0
  })

  // The refusal first, then the read: a create of the id committing meanwhile makes the insert
  // wait and skip, and the read (a statement of its own) sees its order.
  const refuseUnmade = Effect.fn("PostgresOrderStore.refuseUnmade")(function* (orderId: string) {
    yield* unavailable(sql`
      INSERT INTO order_ids (order_id, outcome) VALUES (${orderId}::text, 'abandoned')
      ON CONFLICT DO NOTHING`)
    return yield* readOne(orderId)
  })

  return OrderStore.OrderStore.of({
    create,
    createMany: makeCreateMany({ sql, pg, cipher, unavailable, create, requireNew }),
    get,
    refuseUnmade,
    step,
    listByStatus,
    listByUser,
    audit,
    claimEvents,
    relayEvents,
    markPublished,
    outboxLagMs
  })
})

/**
 * OrderStore on the pool of `PgLayer` (migrated with `Migrations.migrate`).
 * @category layers
 */
export const layer: Layer.Layer<OrderStore.OrderStore, never, PgLayer.Client | PaymentCipher.PaymentCipher> =
  Layer.effect(OrderStore.OrderStore, make)

/**
 * Deletes up to `limit` published outbox events that went out at or before `beforeMs`
 * (`published_at`: the relay's mark, or for a leased claim its end, to within the lease) and
 * answers how many went. Unsent events are never touched; this only bounds the table, e.g. from
 * an hourly job keeping a day of history.
 * @example yield* PostgresOrderStore.purgePublished(Date.now() - 24 * 3_600_000, 10_000)
 */
export const purgePublished = (
  beforeMs: number,
  limit: number
): Effect.Effect<number, Errors.StoreUnavailable, PgLayer.Client> =>
  Effect.withSpan(
    purge(
      store,
      limit,
      (sql, size) => sql`
        DELETE FROM outbox o
        USING (SELECT seq FROM outbox WHERE published AND published_at <= ${Math.floor(beforeMs)}::bigint
               ORDER BY seq LIMIT ${size} FOR UPDATE SKIP LOCKED) gone
        WHERE o.seq = gone.seq
        RETURNING 1`
    ),
    "PostgresOrderStore.purgePublished"
  )
