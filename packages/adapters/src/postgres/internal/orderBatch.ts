/**
 * `OrderStore.createMany` on Postgres: new orders in one transaction, for a hot SKU (the runtime's
 * hot-SKU entity). Single creates of one SKU queue on its stock row's lock and commit one by one;
 * a batch takes the locks once and commits once.
 *
 * 1. Lock the stock rows of the batch's SKUs in SKU order (as `create` and `step` do, so no
 *    deadlock with them) and read which of its order ids and carts have an order already.
 * 2. Allocate here, in the batch's order (`allocate`): an order whose lines fit what is left takes
 *    them, one that does not fails `OutOfStock` with what was left at its turn. The row locks keep
 *    what was read true until the commit.
 * 3. One statement records each order's decision in `order_ids` (taken, or refused with its short
 *    lines: refused for good, as `create` does), inserts the orders that took stock, with their
 *    reservations, payments, audit entries and events, and adds their lines to `reserved`; then
 *    the commit.
 *
 * An order whose id was decided before or whose cart has an order (a replay, a late copy of a
 * refused create, a second order of a cart, a repeat within the batch) takes nothing: after the
 * commit it goes through `create` alone, which answers the stored order, the refusal or
 * `CartNotActive` as for a single call. So does one whose insert was skipped (`ON CONFLICT`: a
 * single create of its id or cart, without these locks, committed in between).
 * The database's CHECK constraints still hold `reserved <= on_hand` if this code were wrong.
 */
import type { PgClient } from "@effect/sql-pg"
import { Errors, type Order, type OrderStore } from "@till/core"
import { Effect, Result } from "effect"
import type { SqlClient } from "effect/sql"
import type * as PaymentCipher from "../PaymentCipher.js"
import { orderArgs } from "./orderColumns.js"
import { paymentRow } from "./sealedRows.js"
import type { gatedStatements } from "./sqlErrors.js"

type Unavailable = typeof Errors.Unavailable.Type
type Answer = Result.Result<Order.Order, Errors.OutOfStock | Errors.CartNotActive | Errors.StoreUnavailable>

/** What an order of the batch gets at its turn. */
export type Allotment =
  | { readonly _tag: "take" }
  | { readonly _tag: "short"; readonly unavailable: ReadonlyArray<Unavailable> }
  | { readonly _tag: "alone" }

/** An order's lines summed per SKU, in the order their SKUs first come. */
const needOf = (order: Order.Order): Map<string, number> => {
  const need = new Map<string, number>()
  for (const item of order.items) need.set(item.sku, (need.get(item.sku) ?? 0) + item.quantity)
  return need
}

/**
 * Each order's turn, in the batch's order, over the `available` units per SKU (a SKU absent has
 * none), the order ids and the carts that have an order already.
 */
export const allocate = (
  orders: ReadonlyArray<Order.Order>,
  available: ReadonlyMap<string, number>,
  existingOrders: ReadonlySet<string>,
  orderedCarts: ReadonlySet<string>
): ReadonlyArray<Allotment> => {
  const left = new Map(available)
  const ids = new Set(existingOrders)
  const carts = new Set(orderedCarts)
  return orders.map((order): Allotment => {
    if (ids.has(order.order_id) || carts.has(order.cart_id)) return { _tag: "alone" }
    const need = needOf(order)
    const unavailable: Array<Unavailable> = []
    for (const [sku, requested] of need) {
      const have = left.get(sku) ?? 0
      if (have < requested) unavailable.push({ sku, requested, available: have })
    }
    if (unavailable.length > 0) return { _tag: "short", unavailable }
    for (const [sku, requested] of need) left.set(sku, (left.get(sku) ?? 0) - requested)
    ids.add(order.order_id)
    carts.add(order.cart_id)
    return { _tag: "take" }
  })
}

interface LockedRow {
  readonly available: { readonly [sku: string]: number }
  readonly orders: ReadonlyArray<string>
  readonly carts: ReadonlyArray<string>
}

interface InsertedRow {
  readonly inserted: ReadonlyArray<string>
  readonly refused: ReadonlyArray<string>
  readonly held: bigint
  readonly skus: bigint
}

/** `createMany` over the transaction-capable client, falling back to `create` as said above. */
export const makeCreateMany = (deps: {
  readonly sql: SqlClient.SqlClient
  readonly pg: PgClient.PgClient
  readonly cipher: PaymentCipher.PaymentCipher
  readonly unavailable: Effect.Success<ReturnType<typeof gatedStatements>>
  readonly create: OrderStore.OrderStore["Service"]["create"]
  readonly requireNew: (order: Order.Order) => Effect.Effect<void>
}): OrderStore.OrderStore["Service"]["createMany"] => {
  const { sql, pg, cipher } = deps

  const lock = (orders: ReadonlyArray<Order.Order>) => {
    const skus = [...new Set(orders.flatMap((o) => o.items.map((i) => i.sku)))]
    return sql<LockedRow>`
      WITH locked AS MATERIALIZED (
        SELECT s.sku, s.on_hand - s.reserved AS available
        FROM stock s WHERE s.sku = ANY(${skus}::text[])
        ORDER BY s.sku
        FOR NO KEY UPDATE
      )
      SELECT (SELECT coalesce(jsonb_object_agg(sku, available), '{}'::jsonb) FROM locked) AS available,
             ARRAY(SELECT order_id FROM order_ids WHERE order_id = ANY(${orders.map((o) => o.order_id)}::text[])) AS orders,
             ARRAY(SELECT cart_id FROM orders WHERE cart_id = ANY(${orders.map((o) => o.cart_id)}::text[])) AS carts`
  }

  /**
   * One record per order for `jsonb_to_recordset`: the values `create`'s statement takes
   * (`orderArgs`, whose keys name the record's columns), the sealed token as base64 text, and
   * the lines it is refused with (null when it takes stock).
   */
  const recordOf = (
    { order, events }: OrderStore.NewOrder,
    n: number,
    refused: ReadonlyArray<Unavailable> | null
  ) => {
    const method = cipher.seal(order.payment_method_id, paymentRow(order.order_id, order.payment_attempt))
    return {
      ...orderArgs(order, order, method, events),
      n,
      createdAt: order.created_at,
      sealed: Buffer.from(method.sealed).toString("base64"),
      refused
    }
  }

  const insert = (entries: ReadonlyArray<ReturnType<typeof recordOf>>) => sql<InsertedRow>`
    WITH b AS MATERIALIZED (
      SELECT * FROM jsonb_to_recordset(${pg.json(entries)}) AS b(
        n int, "orderId" text, "userId" text, "cartId" text, status text, attempt int,
        "totalMinor" bigint, currency text, "createdAt" timestamptz, "updatedAt" timestamptz, doc jsonb,
        "holdExpiresAt" bigint, lines jsonb, "paymentStatus" text, "chargeId" text, brand text,
        last4 text, "keyId" text, sealed text, events jsonb, refused jsonb)
    ),
    decided AS (
      INSERT INTO order_ids (order_id, outcome, unavailable)
      SELECT "orderId", CASE WHEN refused IS NULL THEN 'taken' ELSE 'out_of_stock' END, refused
      FROM b ORDER BY n
      ON CONFLICT DO NOTHING
      RETURNING order_id, outcome = 'taken' AS taking
    ),
    inserted AS (
      INSERT INTO orders (order_id, user_id, cart_id, status, version, payment_attempt,
                          total_minor, currency, created_at, updated_at, doc)
      SELECT "orderId", "userId", "cartId", status, 1, attempt, "totalMinor", currency, "createdAt",
             "updatedAt", doc
      FROM b JOIN decided d ON d.order_id = b."orderId" AND d.taking ORDER BY n
      ON CONFLICT DO NOTHING
      RETURNING order_id
    ),
    ins AS MATERIALIZED (SELECT b.* FROM b JOIN inserted i ON i.order_id = b."orderId"),
    need AS MATERIALIZED (
      SELECT l.sku, sum(l.quantity)::int AS quantity
      FROM ins, jsonb_to_recordset(ins.lines) AS l(sku text, quantity int)
      GROUP BY l.sku
    ),
    held AS (
      UPDATE stock s SET reserved = s.reserved + need.quantity
      FROM need WHERE s.sku = need.sku AND s.sku = ANY(ARRAY(SELECT sku FROM need))
      RETURNING s.sku
    ),
    reserved AS (
      INSERT INTO reservations (order_id, attempt, status, hold_expires_at, lines)
      SELECT "orderId", attempt, 'held', "holdExpiresAt", lines FROM ins
      RETURNING 1
    ),
    paid AS (
      INSERT INTO payments (order_id, attempt, status, charge_id, brand, last4, key_id, method_sealed, updated_at)
      SELECT "orderId", attempt, "paymentStatus", "chargeId", brand, last4, "keyId", decode(sealed, 'base64'),
             "updatedAt"
      FROM ins
      RETURNING 1
    ),
    audited AS (
      INSERT INTO order_audit (order_id, from_status, to_status, version, at)
      SELECT "orderId", NULL, status, 1, "updatedAt" FROM ins
      RETURNING 1
    ),
    evented AS (
      INSERT INTO outbox (event_id, aggregate_id, type, event)
      SELECT e.value ->> 'event_id', e.value ->> 'aggregate_id', e.value ->> 'type', e.value
      FROM ins, jsonb_array_elements(ins.events) WITH ORDINALITY AS e(value, k)
      ORDER BY ins.n, e.k
      RETURNING 1
    )
    SELECT ARRAY(SELECT order_id FROM inserted) AS inserted,
           ARRAY(SELECT order_id FROM decided WHERE NOT taking) AS refused,
           (SELECT count(*) FROM held) AS held,
           (SELECT count(*) FROM need) AS skus`

  /** Steps 1-3 in one transaction: what each order got, and the ids inserted. */
  const transaction = (batch: ReadonlyArray<OrderStore.NewOrder>) =>
    sql.withTransaction(
      Effect.gen(function* () {
        const orders = batch.map((entry) => entry.order)
        const locked = (yield* lock(orders))[0]!
        const allotments = allocate(
          orders,
          new Map(Object.entries(locked.available)),
          new Set(locked.orders),
          new Set(locked.carts)
        )
        const deciding = batch.flatMap((entry, i) => {
          const allotment = allotments[i]!
          if (allotment._tag === "alone") return []
          return [recordOf(entry, i, allotment._tag === "short" ? allotment.unavailable : null)]
        })
        if (deciding.length === 0)
          return { allotments, inserted: new Set<string>(), refused: new Set<string>() }
        const row = (yield* insert(deciding))[0]!
        if (row.held !== row.skus)
          return yield* Effect.die(new Error(`order batch: held ${row.held} of ${row.skus} SKUs`))
        return { allotments, inserted: new Set(row.inserted), refused: new Set(row.refused) }
      })
    )

  return Effect.fn("PostgresOrderStore.createMany")(function* (batch: ReadonlyArray<OrderStore.NewOrder>) {
    if (batch.length === 0) return []
    for (const { order } of batch) yield* deps.requireNew(order)
    const { allotments, inserted, refused } = yield* deps.unavailable(transaction(batch))
    const answers: Array<Answer> = []
    for (const [i, { order, events }] of batch.entries()) {
      const allotment = allotments[i]!
      if (allotment._tag === "short" && refused.has(order.order_id))
        answers.push(Result.fail(new Errors.OutOfStock({ unavailable: allotment.unavailable })))
      else if (allotment._tag === "take" && inserted.has(order.order_id)) answers.push(Result.succeed(order))
      else answers.push(yield* Effect.result(deps.create(order, events)))
    }
    return answers
  })
}
