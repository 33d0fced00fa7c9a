/**
 * Till's core services (`Till.layer`) end to end on the Postgres stores: orders, stock, catalog,
 * idempotency keys, the payment retry queue and dead letters on one fresh, migrated schema; the
 * rest (carts, rate limits, shipping, tax, events, notifier, the fake gateway, ids) in memory.
 * The journeys run in order on one world (one schema), then every column of every table is
 * scanned for the card numbers they used: "after a full run, no card number in any column of
 * any table", and for the payment method tokens (sealed in `payments`, never in the clear). The live clock throughout (the pool, the stores' leases and the policies'
 * timeouts are real time).
 */
import { layer } from "@effect/vitest"
import {
  PostgresCatalog,
  PostgresDeadLetterStore,
  PostgresIdempotencyStore,
  PostgresInventoryStore,
  PostgresOrderStore,
  PostgresPaymentRetryQueue
} from "@till/adapters/postgres"
import { Carts, Checkout, Ids, OrderStore, Outbox, Payments, Sku, Till } from "@till/core"
import {
  FakePaymentGateway,
  InMemoryCartStore,
  InMemoryEventPublisher,
  InMemoryNotifier,
  InMemoryRateLimitStore,
  InMemoryShippingQuoter,
  InMemoryTaxCalculator,
  TestTill
} from "@till/testkit"
import { Effect, Layer, Option, Result, Schema } from "effect"
import { SqlClient } from "effect/sql"
import { expect } from "vitest"
import { onFreshSchema } from "./support/postgres.js"
import { describeService } from "./support/services.js"

/** Every card number a journey tokenizes: none may reach a column. */
const cards = {
  success: FakePaymentGateway.successCard,
  decline: FakePaymentGateway.declineCard,
  mastercard: "5555555555554444",
  amex: "378282246310005",
  discover: "6011111111111117"
} as const
const cardNumbers: ReadonlyArray<string> = Object.values(cards)

const seed = 20_250_101

/** The Postgres stores, replacing the in-memory ones, on a fresh migrated schema (named to `schemaName`). */
let schemaName: string | undefined
const postgresStores = onFreshSchema(
  Layer.mergeAll(
    PostgresOrderStore.layer,
    PostgresInventoryStore.layer,
    PostgresCatalog.layer,
    PostgresIdempotencyStore.layer,
    PostgresPaymentRetryQueue.layer,
    PostgresDeadLetterStore.layer
  ),
  {
    maxConnections: 10,
    onSchema: (schema) => {
      schemaName = schema
    }
  }
)

/** The other ports, in memory (as `TestTill.ports` builds them), with the fake gateway's handles. */
const inMemoryRest = Layer.mergeAll(
  InMemoryCartStore.layer,
  InMemoryRateLimitStore.layer,
  InMemoryShippingQuoter.layer,
  InMemoryTaxCalculator.layer,
  InMemoryEventPublisher.layer,
  InMemoryNotifier.layer,
  FakePaymentGateway.layerWith({ seed }),
  Ids.layerSeeded(seed)
)

const world = Till.layer.pipe(Layer.provideMerge(Layer.mergeAll(postgresStores, inMemoryRest)))

// ---------------------------------------------------------------------------------------------
// Journey helpers (as packages/testkit/test/fixtures.ts)

const address = {
  name: "Ada Lovelace",
  line1: "12 St James's Square",
  city: "London",
  postal_code: "SW1Y 4JH",
  country: "GB"
}

const cartWith = (userId: string, lines: ReadonlyArray<readonly [string, number]>, cardNumber: string) =>
  Effect.gen(function* () {
    const carts = yield* Carts.Carts
    const payments = yield* Payments.Payments
    const cart = yield* carts.create(userId)
    for (const [sku, quantity] of lines) yield* carts.addItem(userId, cart.cart_id, Sku.make(sku), quantity)
    const method = yield* payments.tokenize(FakePaymentGateway.card(cardNumber))
    return { cartId: cart.cart_id, paymentMethodId: method.payment_method_id }
  })

const checkoutRequest = (cartId: string, paymentMethodId: string) =>
  Schema.decodeUnknownSync(Checkout.CheckoutRequest)({
    cart_id: cartId,
    shipping_address: address,
    payment_method_id: paymentMethodId
  })

const place = (userId: string, key: string, cartId: string, paymentMethodId: string) =>
  Effect.flatMap(Checkout.Checkout, (checkout) =>
    checkout.place({ userId, idempotencyKey: key, request: checkoutRequest(cartId, paymentMethodId) })
  )

const failureOf = <A, E, R>(self: Effect.Effect<A, E, R>) =>
  Effect.map(Effect.result(self), (result) => Option.getOrThrow(Result.getFailure(result)))

// ---------------------------------------------------------------------------------------------
// What the database holds

interface StockRow {
  readonly sku: string
  readonly on_hand: number
  readonly reserved: number
}

const stockRow = (sku: string) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const rows = yield* sql<StockRow>`SELECT sku, on_hand, reserved FROM stock WHERE sku = ${sku}`
    expect(rows).toHaveLength(1)
    return rows[0]!
  })

const orderRow = (orderId: string) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const rows = yield* sql<{ status: string; payment_attempt: number; cart_id: string; doc_status: string }>`
      SELECT status, payment_attempt, cart_id, doc->>'status' AS doc_status FROM orders WHERE order_id = ${orderId}`
    expect(rows).toHaveLength(1)
    return rows[0]!
  })

const reservationsOf = (orderId: string) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const rows = yield* sql<{ attempt: number; status: string }>`
      SELECT attempt, status FROM reservations WHERE order_id = ${orderId} ORDER BY attempt`
    return rows.map((r) => [r.attempt, r.status] as const)
  })

const outboxTypes = (orderId: string) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const rows = yield* sql<{ type: string }>`
      SELECT type FROM outbox WHERE aggregate_id = ${orderId} ORDER BY seq`
    return rows.map((r) => r.type)
  })

/** Rows per table the journeys write, to show a refused checkout wrote none. */
const rowCounts = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  const [counts] = yield* sql<Record<string, bigint>>`
    SELECT (SELECT count(*) FROM orders) AS orders,
           (SELECT count(*) FROM reservations) AS reservations,
           (SELECT count(*) FROM outbox) AS outbox,
           (SELECT count(*) FROM order_audit) AS audit,
           (SELECT count(*) FROM payment_retry_queue) AS retry_queue,
           (SELECT count(*) FROM dead_letters) AS dead_letters,
           (SELECT count(*) FROM stock_movements) AS stock_movements,
           (SELECT count(*) FROM idempotency_keys) AS idempotency_keys`
  return counts!
})

const chargesOf = (orderId: string) =>
  Effect.gen(function* () {
    const gateway = yield* FakePaymentGateway.Inspector
    return (yield* gateway.allCharges).filter((c) => c.idempotency_key.startsWith(orderId))
  })

// ---------------------------------------------------------------------------------------------
// The card scan

/** Luhn's check on a string of digits. */
const luhn = (digits: string): boolean => {
  let sum = 0
  for (let i = 0; i < digits.length; i++) {
    let d = digits.charCodeAt(digits.length - 1 - i) - 48
    if (i % 2 === 1) {
      d *= 2
      if (d > 9) d -= 9
    }
    sum += d
  }
  return sum % 10 === 0
}

/**
 * A 13-digit run that is an epoch-millisecond time within a year of now (the orders' and keys'
 * times, e.g. `hold_expires_at`: 1.7e12 to 1.9e12 until 2030) is a time, not a card: a 13-digit
 * card is an old Visa, starting with 4. One in ten such times passes Luhn.
 */
const isNearbyEpochMs = (digits: string): boolean =>
  digits.length === 13 && Math.abs(Number(digits) - Date.now()) < 366 * 24 * 60 * 60 * 1000

/**
 * Every maximal run of 13-19 digits in `text` that passes Luhn (times of the run aside), and
 * every card number used, plain or in groups of four.
 */
const cardLike = (text: string): ReadonlyArray<string> => {
  const found: Array<string> = []
  for (const match of text.matchAll(/(?<!\d)\d{13,19}(?!\d)/g)) {
    if (luhn(match[0]) && !isNearbyEpochMs(match[0])) found.push(match[0])
  }
  for (const number of cardNumbers) {
    const groups = number.match(/.{1,4}/g)!
    for (const form of [number, groups.join(" "), groups.join("-")]) if (text.includes(form)) found.push(form)
  }
  return found
}

const textTypes = new Set(["text", "character varying", "character", "json", "jsonb"])

interface ColumnValue {
  readonly table: string
  readonly column: string
  readonly dataType: string
  readonly value: string
}

/** Every non-null value of every column of every table of `schema`, cast to text. */
const everyValue = (schema: string) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const columns = yield* sql<{ table_name: string; column_name: string; data_type: string }>`
      SELECT c.table_name, c.column_name, c.data_type
      FROM information_schema.columns c
      JOIN information_schema.tables t USING (table_schema, table_name)
      WHERE c.table_schema = ${schema} AND t.table_type = 'BASE TABLE'
      ORDER BY c.table_name, c.ordinal_position`
    const values: Array<ColumnValue> = []
    for (const { table_name, column_name, data_type } of columns) {
      const rows = yield* sql<{ v: string }>`
        SELECT ${sql(column_name)}::text AS v FROM ${sql(schema)}.${sql(table_name)}
        WHERE ${sql(column_name)} IS NOT NULL`
      for (const { v } of rows)
        values.push({ table: table_name, column: column_name, dataType: data_type, value: v })
    }
    return { tables: new Set(columns.map((c) => c.table_name)), values }
  })

await describeService("postgres", "Till checkout end to end on the Postgres stores", () => {
  layer(world, { excludeTestServices: true, timeout: "60 seconds" })(
    "one schema, journeys in order",
    (it) => {
      it.effect(
        "a confirmed checkout: stock committed in the stock table, order confirmed, outbox rows",
        () =>
          Effect.gen(function* () {
            yield* TestTill.stock("mug", "Till mug", 1_500, 10)
            yield* TestTill.stock("tee", "Till tee", 2_500, 5)
            const { cartId, paymentMethodId } = yield* cartWith(
              "alice",
              [
                ["mug", 2],
                ["tee", 1]
              ],
              cards.success
            )

            const placed = yield* place("alice", "alice-1", cartId, paymentMethodId)

            expect(placed.status).toBe(201)
            expect(placed.order.status).toBe("confirmed")
            expect(placed.order.subtotal.amount).toBe(2 * 1_500 + 2_500)
            expect(placed.order.payment).toMatchObject({ status: "succeeded", brand: "visa", last4: "4242" })
            const orderId = placed.order.order_id
            expect(yield* orderRow(orderId)).toEqual({
              status: "confirmed",
              payment_attempt: 1,
              cart_id: cartId,
              doc_status: "confirmed"
            })
            expect(yield* stockRow("mug")).toEqual({ sku: "mug", on_hand: 8, reserved: 0 })
            expect(yield* stockRow("tee")).toEqual({ sku: "tee", on_hand: 4, reserved: 0 })
            expect(yield* reservationsOf(orderId)).toEqual([[1, "committed"]])
            expect(yield* outboxTypes(orderId)).toEqual([
              "order.created",
              "inventory.reserved",
              "order.confirmed",
              "payment.succeeded"
            ])
            expect(yield* chargesOf(orderId)).toHaveLength(1)

            // The relay moves those rows to the (in-memory) publisher and marks them published.
            yield* Outbox.drain()
            const published = yield* Effect.flatMap(InMemoryEventPublisher.Inspector, (i) => i.published)
            expect(published.filter((e) => e.aggregate_id === orderId).map((e) => e.type)).toEqual([
              "order.created",
              "inventory.reserved",
              "order.confirmed",
              "payment.succeeded"
            ])
            const sql = yield* SqlClient.SqlClient
            const [unsent] = yield* sql<{ n: bigint }>`
          SELECT count(*) AS n FROM outbox WHERE aggregate_id = ${orderId} AND NOT published`
            expect(unsent!.n).toBe(0n)
          })
      )

      it.effect(
        "a declined card: PaymentDeclined, stock released; paid again with a good card: confirmed",
        () =>
          Effect.gen(function* () {
            yield* TestTill.stock("lamp", "Desk lamp", 4_000, 3)
            const { cartId, paymentMethodId } = yield* cartWith("bob", [["lamp", 2]], cards.decline)

            const error = yield* failureOf(place("bob", "bob-1", cartId, paymentMethodId))
            expect(error).toMatchObject({ _tag: "PaymentDeclined", declineCode: "card_declined" })
            const orderId = (error as { orderId: string }).orderId
            expect(yield* stockRow("lamp")).toEqual({ sku: "lamp", on_hand: 3, reserved: 0 })
            expect(yield* reservationsOf(orderId)).toEqual([[1, "released"]])
            expect((yield* orderRow(orderId)).status).toBe("payment_failed")

            const { paymentMethodId: goodCard } = yield* cartWith("bob", [], cards.mastercard)
            const checkout = yield* Checkout.Checkout
            const retried = yield* checkout.retryPayment({
              userId: "bob",
              orderId,
              idempotencyKey: "bob-retry-1",
              request: new Checkout.PaymentRetryRequest({ payment_method_id: goodCard })
            })
            expect(retried.status).toBe(201)
            expect(retried.order.status).toBe("confirmed")
            expect(retried.order.payment_attempt).toBe(2)
            expect(retried.order.payment).toMatchObject({ status: "succeeded", last4: "4444" })
            expect(yield* orderRow(orderId)).toMatchObject({
              status: "confirmed",
              payment_attempt: 2,
              doc_status: "confirmed"
            })
            expect(yield* stockRow("lamp")).toEqual({ sku: "lamp", on_hand: 1, reserved: 0 })
            expect(yield* reservationsOf(orderId)).toEqual([
              [1, "released"],
              [2, "committed"]
            ])
            expect(yield* outboxTypes(orderId)).toEqual([
              "order.created",
              "inventory.reserved",
              "order.payment_failed",
              "payment.failed",
              "inventory.released",
              "inventory.reserved",
              "order.confirmed",
              "payment.succeeded"
            ])
            expect((yield* chargesOf(orderId)).map((c) => c.status)).toEqual(["succeeded"])
          })
      )

      it.effect("a replay of the same Idempotency-Key answers the same order, charged and stocked once", () =>
        Effect.gen(function* () {
          yield* TestTill.stock("pen", "Till pen", 300, 4)
          const { cartId, paymentMethodId } = yield* cartWith("carol", [["pen", 3]], cards.amex)

          const first = yield* place("carol", "carol-1", cartId, paymentMethodId)
          const before = yield* rowCounts
          const replay = yield* place("carol", "carol-1", cartId, paymentMethodId)

          expect(first.status).toBe(201)
          expect(replay.status).toBe(first.status)
          expect(replay.order.order_id).toBe(first.order.order_id)
          expect(replay.order.status).toBe("confirmed")
          expect(replay.order.total).toEqual(first.order.total)
          expect(yield* rowCounts).toEqual(before)
          expect(yield* stockRow("pen")).toEqual({ sku: "pen", on_hand: 1, reserved: 0 })
          expect(yield* chargesOf(first.order.order_id)).toHaveLength(1)
          const sql = yield* SqlClient.SqlClient
          const orders = yield* sql<{
            order_id: string
          }>`SELECT order_id FROM orders WHERE cart_id = ${cartId}`
          expect(orders.map((o) => o.order_id)).toEqual([first.order.order_id])
          const keys = yield* sql<{ state: string; resource_id: string }>`
          SELECT state, resource_id FROM idempotency_keys WHERE key = 'carol-1'`
          expect(keys).toEqual([{ state: "completed", resource_id: first.order.order_id }])
        })
      )

      it.effect(
        "out of stock: OutOfStock with requested/available, and no order, hold, event or stock change",
        () =>
          Effect.gen(function* () {
            yield* TestTill.stock("rare", "Rare print", 9_900, 1)
            yield* TestTill.stock("cup", "Till cup", 900, 10)
            const { cartId, paymentMethodId } = yield* cartWith(
              "dave",
              [
                ["rare", 2],
                ["cup", 1]
              ],
              cards.success
            )
            const before = yield* rowCounts

            const error = yield* failureOf(place("dave", "dave-1", cartId, paymentMethodId))

            expect(error).toMatchObject({
              _tag: "OutOfStock",
              unavailable: [{ sku: "rare", requested: 2, available: 1 }]
            })
            expect(yield* stockRow("rare")).toEqual({ sku: "rare", on_hand: 1, reserved: 0 })
            expect(yield* stockRow("cup")).toEqual({ sku: "cup", on_hand: 10, reserved: 0 })
            const sql = yield* SqlClient.SqlClient
            expect(yield* sql`SELECT 1 FROM orders WHERE cart_id = ${cartId}`).toHaveLength(0)
            // The only row written is the key's stored answer (Stripe semantics: a final domain error
            // is answered again to a replay), by design of Idempotency.ts.
            expect(yield* rowCounts).toEqual({
              ...before,
              idempotency_keys: before["idempotency_keys"]! + 1n
            })
            // Stored sealed: nothing of the answer in the clear; the replay below shows it opens.
            const keys = yield* sql<{ state: string; clear: string | null; sealed: boolean }>`
          SELECT state, outcome::text AS clear, outcome_sealed IS NOT NULL AS sealed
          FROM idempotency_keys WHERE key = 'dave-1'`
            expect(keys).toEqual([{ state: "completed", clear: null, sealed: true }])
            const replay = yield* failureOf(place("dave", "dave-1", cartId, paymentMethodId))
            expect(replay).toMatchObject({ _tag: "OutOfStock" })
            expect(yield* rowCounts).toEqual({
              ...before,
              idempotency_keys: before["idempotency_keys"]! + 1n
            })
          })
      )

      it.effect(
        "20 concurrent checkouts of 20 carts for a SKU of 5 units: exactly 5 confirmed, stock exact",
        () =>
          Effect.gen(function* () {
            yield* TestTill.stock("hot", "Hot drop", 5_000, 5)
            const shoppers = Array.from({ length: 20 }, (_, i) => `shopper-${i}`)
            const round = [cards.success, cards.mastercard, cards.amex, cards.discover]
            const carts = yield* Effect.forEach(shoppers, (user, i) =>
              Effect.map(cartWith(user, [["hot", 1]], round[i % round.length]!), (cart) => ({
                user,
                ...cart
              }))
            )
            const before = yield* rowCounts

            const results = yield* Effect.forEach(
              carts,
              ({ user, cartId, paymentMethodId }) =>
                Effect.result(place(user, `${user}-1`, cartId, paymentMethodId)),
              { concurrency: "unbounded" }
            )

            const confirmed = results.filter(Result.isSuccess).map((r) => r.success)
            const refused = results.filter(Result.isFailure).map((r) => r.failure)
            expect(confirmed.map((p) => [p.status, p.order.status])).toEqual(
              Array.from({ length: 5 }, () => [201, "confirmed"])
            )
            expect(refused.map((e) => e._tag)).toEqual(Array.from({ length: 15 }, () => "OutOfStock"))
            expect(yield* stockRow("hot")).toEqual({ sku: "hot", on_hand: 0, reserved: 0 })

            const sql = yield* SqlClient.SqlClient
            const ids = confirmed.map((p) => p.order.order_id)
            const rows = yield* sql<{ order_id: string; status: string }>`
            SELECT order_id, status FROM orders WHERE cart_id IN ${sql.in(carts.map((c) => c.cartId))}`
            expect(rows.map((r) => r.order_id).sort()).toEqual([...ids].sort())
            expect(rows.every((r) => r.status === "confirmed")).toBe(true)
            const [held] = yield* sql<{ committed: bigint; other: bigint; units: bigint }>`
            SELECT count(*) FILTER (WHERE status = 'committed') AS committed,
                   count(*) FILTER (WHERE status <> 'committed') AS other,
                   coalesce(sum((line->>'quantity')::int) FILTER (WHERE status = 'committed'), 0) AS units
            FROM reservations, jsonb_array_elements(lines) AS line
            WHERE order_id IN ${sql.in(ids)} AND line->>'sku' = 'hot'`
            expect(held).toEqual({ committed: 5n, other: 0n, units: 5n })
            const after = yield* rowCounts
            expect(after["orders"]! - before["orders"]!).toBe(5n)
            expect(after["reservations"]! - before["reservations"]!).toBe(5n)
            expect(after["outbox"]! - before["outbox"]!).toBe(20n)
            for (const id of ids) expect(yield* chargesOf(id)).toHaveLength(1)
          }),
        60_000
      )

      it.effect("after the full run, no card number in any column of any table of the schema", () =>
        Effect.gen(function* () {
          const { tables, values } = yield* everyValue(schemaName!)
          const hits: Array<string> = []
          const scanned: Record<string, number> = {}
          for (const { table, column, dataType, value } of values) {
            const isText = textTypes.has(dataType)
            scanned[`${table}.${column}`] = (scanned[`${table}.${column}`] ?? 0) + 1
            // Text and JSON: any Luhn-valid 13-19 digit run or card number. Every other column
            // (numbers, times, bytes) cast to text: the card numbers themselves (a 16-digit number
            // fits a bigint), not Luhn, which epoch milliseconds pass one time in ten.
            const found = isText ? cardLike(value) : cardNumbers.filter((n) => value.includes(n))
            for (const f of found)
              hits.push(`${table}.${column} (${dataType}): ${f} in ${value.slice(0, 200)}`)
          }
          expect(hits).toEqual([])

          // The scan saw what the journeys wrote: every table, and the columns that carry the orders,
          // their events, the payments and the stored answers.
          for (const t of [
            "catalog",
            "stock",
            "orders",
            "reservations",
            "order_audit",
            "outbox",
            "idempotency_keys",
            "payment_retry_queue",
            "dead_letters",
            "payments",
            "till_migrations"
          ])
            expect(tables.has(t)).toBe(true)
          expect(scanned["orders.doc"]).toBeGreaterThanOrEqual(5 + 3)
          expect(scanned["outbox.event"]).toBeGreaterThanOrEqual(20 + 12)
          expect(scanned["idempotency_keys.outcome_sealed"]).toBeGreaterThanOrEqual(20)
          expect(scanned["payments.method_sealed"]).toBeGreaterThanOrEqual(5 + 3)
          expect(scanned["reservations.lines"]).toBeGreaterThanOrEqual(8)
        })
      )

      it.effect(
        "no payment method token in the clear: each sealed in its payment row, and opened on read",
        () =>
          Effect.gen(function* () {
            const sql = yield* SqlClient.SqlClient
            const orders = yield* OrderStore.OrderStore
            const ids = yield* sql<{ order_id: string }>`SELECT order_id FROM orders`
            const tokens = new Set<string>()
            for (const { order_id } of ids)
              tokens.add(Option.getOrThrow(yield* orders.get(order_id)).payment_method_id)
            expect(tokens.size).toBeGreaterThanOrEqual(5)
            const { values } = yield* everyValue(schemaName!)
            const hits = values.flatMap(({ table, column, value }) =>
              [...tokens].filter((t) => value.includes(t)).map((t) => `${table}.${column}: ${t}`)
            )
            expect(hits).toEqual([])
            const [payments] = yield* sql<{
              orders: bigint
              charged: bigint
              confirmed: bigint
              keys: bigint
            }>`
            SELECT (SELECT count(DISTINCT order_id) FROM payments) AS orders,
                   (SELECT count(*) FROM payments p JOIN orders o ON o.order_id = p.order_id
                    WHERE p.status = 'succeeded' AND p.charge_id IS NOT NULL AND p.brand IS NOT NULL
                      AND p.last4 ~ '^[0-9]{4}$') AS charged,
                   (SELECT count(*) FROM orders WHERE status = 'confirmed') AS confirmed,
                   (SELECT count(DISTINCT key_id) FROM payments) AS keys`
            expect(payments!.orders).toBe(BigInt(ids.length))
            expect(payments!.charged).toBeGreaterThanOrEqual(payments!.confirmed)
            expect(payments!.keys).toBe(1n)
          })
      )

      it.effect("the scanner finds a card number when one is there (its own control)", () =>
        Effect.sync(() => {
          for (const number of cardNumbers) {
            expect(cardLike(`{"pan":"${number}"}`)).toContain(number)
            expect(cardLike(`card ${number.match(/.{1,4}/g)!.join(" ")} end`).length).toBeGreaterThan(0)
          }
          expect(cardLike("4000056655665556")).toEqual(["4000056655665556"])
          expect(cardLike("4222222222222")).toEqual(["4222222222222"])
          expect(cardLike("ord_4242abc 4242424242424241 1234")).toEqual([])
          // A time of the run passing Luhn is not a card: find one and check it is let through.
          let time = Date.now()
          while (!luhn(String(time))) time++
          expect(cardLike(`{"hold_expires_at": ${time}}`)).toEqual([])
        })
      )
    }
  )
})
