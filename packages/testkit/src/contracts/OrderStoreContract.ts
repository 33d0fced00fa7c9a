/**
 * The OrderStore contract. What it guards (OrderStore.ts, DESIGN.md §2): each order step is one
 * transaction of the order (a compare-and-set on its version), the stock movement of its
 * current attempt, its audit entry and its events; TX1 (`create`) is all or nothing and one
 * cart is ordered once. The races (no oversell, no deadlock, one winner per version) are in
 * OrderStoreConcurrencyContract.ts, batches of creates in OrderStoreBatchContract.ts, the
 * outbox and list cases in OrderStoreOutboxContract.ts.
 *
 * Register it with a layer providing OrderStore and InventoryStore over one database:
 * `orderStoreContract("postgres", PostgresStores.layer)`. The layer is built afresh for every
 * case (a real adapter's layer should hand each build a clean schema).
 */
import { describe, expect, it } from "@effect/vitest"
import { Order } from "@till/core"
import { Effect, Option } from "effect"
import { encoded, uniqueId } from "../internal/contract.js"
import { describeBatch } from "./OrderStoreBatchContract.js"
import { describeConcurrency } from "./OrderStoreConcurrencyContract.js"
import { describeLists, describeOutbox } from "./OrderStoreOutboxContract.js"
import {
  claimedIds,
  drained,
  failed,
  holdMs,
  isolated,
  levels,
  makeEvent,
  makeOrder,
  moved,
  newSku,
  refused,
  retried,
  type StockAndOrdersLayer,
  stepped,
  stocked,
  t0,
  tagOf
} from "./OrderStoreFixtures.js"

const encode = encoded(Order.Order)

export const orderStoreContract = (name: string, storeLayer: StockAndOrdersLayer): void => {
  const run = isolated(storeLayer)
  describe(`OrderStore contract: ${name}`, () => {
    describeCreate(run)
    describeSteps(run)
    describeConcurrency(run)
    describeBatch(run)
    describeOutbox(run)
    describeLists(run)
  })
}

type Run = ReturnType<typeof isolated>

const describeCreate = (run: Run) => {
  it.effect("get of an unknown order is None", () =>
    run((orders) =>
      Effect.gen(function* () {
        expect(Option.isNone(yield* orders.get(yield* uniqueId("ord")))).toBe(true)
      })
    )
  )

  it.effect("create (TX1) stores version 1, holds its lines for attempt 1 and writes its events", () =>
    run((orders, stock) =>
      Effect.gen(function* () {
        const a = yield* stocked(stock, 10)
        const b = yield* stocked(stock, 5)
        const order = yield* makeOrder({
          lines: [
            [a, 3],
            [b, 5]
          ]
        })
        const events = [yield* makeEvent(order), yield* makeEvent(order, "inventory.reserved")]
        expect(encode(yield* orders.create(order, events))).toEqual(encode(order))
        expect(Option.map(yield* orders.get(order.order_id), encode)).toEqual(Option.some(encode(order)))
        expect(yield* levels(stock, [a, b])).toEqual([
          [10, 3],
          [5, 5]
        ])
        expect(yield* stock.reservations(order.order_id)).toEqual([
          {
            order_id: order.order_id,
            attempt: 1,
            lines: [
              { sku: a, quantity: 3 },
              { sku: b, quantity: 5 }
            ],
            status: "held",
            hold_expires_at: t0 + holdMs
          }
        ])
        expect(yield* claimedIds(orders, t0)).toEqual(events.map((e) => e.event_id))
        const audit = yield* orders.audit(order.order_id)
        expect(audit.map((e) => [e.from, e.to, e.version])).toEqual([[null, "pending", 1]])
      })
    )
  )

  it.effect("create out of stock writes nothing: no order, no hold, no event; the cart stays free", () =>
    run((orders, stock) =>
      Effect.gen(function* () {
        const a = yield* stocked(stock, 10)
        const b = yield* stocked(stock, 2)
        const unknown = yield* newSku
        const order = yield* makeOrder({
          lines: [
            [a, 3],
            [b, 4]
          ]
        })
        const error = yield* Effect.flip(orders.create(order, [yield* makeEvent(order)]))
        expect(error._tag).toBe("OutOfStock")
        if (error._tag === "OutOfStock")
          expect(error.unavailable).toEqual([{ sku: b, requested: 4, available: 2 }])
        expect(Option.isNone(yield* orders.get(order.order_id))).toBe(true)
        expect(yield* stock.reservations(order.order_id)).toEqual([])
        expect(yield* levels(stock, [a, b])).toEqual([
          [10, 0],
          [2, 0]
        ])
        expect(yield* orders.audit(order.order_id)).toEqual([])
        expect(yield* claimedIds(orders, t0)).toEqual([])
        // A SKU nobody stocked is short too.
        const never = yield* makeOrder({
          lines: [
            [a, 1],
            [unknown, 1]
          ]
        })
        expect(yield* tagOf(orders.create(never, []))).toBe("OutOfStock")
        expect(yield* levels(stock, [a])).toEqual([[10, 0]])
        // Nothing claimed the cart: a smaller order of it goes through.
        const smaller = yield* makeOrder({ lines: [[b, 2]], cartId: order.cart_id })
        yield* orders.create(smaller, [])
        expect(yield* levels(stock, [b])).toEqual([[2, 2]])
      })
    )
  )

  it.effect("an order id refused out of stock stays refused: a late copy of its create writes nothing", () =>
    run((orders, stock) =>
      Effect.gen(function* () {
        // The race this rules out: a create is in flight (a retry after a timeout, a crashed
        // process's request), another create of the same id is refused and its caller gives the
        // cart back; then stock comes back and the first create lands, an order of a cart that
        // is active again. The refusal must win over every later create of its id.
        const sku = yield* stocked(stock, 2)
        const other = yield* orders.create(yield* makeOrder({ lines: [[sku, 2]] }), [])
        const order = yield* makeOrder({ lines: [[sku, 1]] })
        const first = yield* Effect.flip(orders.create(order, [yield* makeEvent(order)]))
        expect(first).toMatchObject({
          _tag: "OutOfStock",
          unavailable: [{ sku, requested: 1, available: 0 }]
        })
        yield* failed(orders, other)
        expect(yield* levels(stock, [sku])).toEqual([[2, 0]])
        const late = yield* Effect.flip(orders.create(order, [yield* makeEvent(order)]))
        expect(late).toMatchObject({ _tag: "OutOfStock", unavailable: [{ sku, requested: 1, available: 0 }] })
        expect(Option.isNone(yield* orders.get(order.order_id))).toBe(true)
        expect(yield* levels(stock, [sku])).toEqual([[2, 0]])
        expect(yield* stock.reservations(order.order_id)).toEqual([])
        expect(yield* orders.audit(order.order_id)).toEqual([])
        // The refusal is the id's, not the cart's: a new order of the same cart goes through.
        const again = yield* makeOrder({ lines: [[sku, 1]], cartId: order.cart_id })
        yield* orders.create(again, [])
        expect(yield* levels(stock, [sku])).toEqual([[2, 1]])
      })
    )
  )

  it.effect("refuseUnmade: an id without an order is refused for good; one with an order is answered", () =>
    run((orders, stock) =>
      Effect.gen(function* () {
        const sku = yield* stocked(stock, 5)
        const made = yield* orders.create(yield* makeOrder({ lines: [[sku, 1]] }), [])
        expect(Option.map(yield* orders.refuseUnmade(made.order_id), encode)).toEqual(
          Option.some(encode(made))
        )
        expect(Option.map(yield* orders.get(made.order_id), encode)).toEqual(Option.some(encode(made)))
        // Never made: refused, and a create of it landing later makes nothing.
        const late = yield* makeOrder({ lines: [[sku, 1]] })
        expect(Option.isNone(yield* orders.refuseUnmade(late.order_id))).toBe(true)
        expect(Option.isNone(yield* orders.refuseUnmade(late.order_id))).toBe(true)
        expect(yield* Effect.flip(orders.create(late, [yield* makeEvent(late)]))).toMatchObject({
          _tag: "CartNotActive",
          cartId: late.cart_id
        })
        expect(Option.isNone(yield* orders.get(late.order_id))).toBe(true)
        expect(yield* levels(stock, [sku])).toEqual([[5, 1]])
        expect(yield* stock.reservations(late.order_id)).toEqual([])
        // Its cart is free for another order.
        yield* orders.create(yield* makeOrder({ lines: [[sku, 1]], cartId: late.cart_id }), [])
        // An id refused out of stock keeps that answer.
        const short = yield* makeOrder({ lines: [[sku, 9]] })
        expect(yield* tagOf(orders.create(short, []))).toBe("OutOfStock")
        expect(Option.isNone(yield* orders.refuseUnmade(short.order_id))).toBe(true)
        expect(yield* tagOf(orders.create(short, []))).toBe("OutOfStock")
      })
    )
  )

  it.effect(
    "one order per cart: another order of the cart is CartNotActive naming the first, nothing written",
    () =>
      run((orders, stock) =>
        Effect.gen(function* () {
          const sku = yield* stocked(stock, 10)
          const first = yield* makeOrder({ lines: [[sku, 1]] })
          yield* orders.create(first, [yield* makeEvent(first)])
          yield* drained(orders)
          const second = yield* makeOrder({ lines: [[sku, 2]], cartId: first.cart_id, userId: first.user_id })
          const error = yield* Effect.flip(orders.create(second, [yield* makeEvent(second)]))
          expect(error._tag).toBe("CartNotActive")
          if (error._tag === "CartNotActive") {
            expect(error.cartId).toBe(first.cart_id)
            expect(error.orderId).toBe(first.order_id)
          }
          expect(Option.isNone(yield* orders.get(second.order_id))).toBe(true)
          expect(yield* stock.reservations(second.order_id)).toEqual([])
          expect(yield* levels(stock, [sku])).toEqual([[10, 1]])
          expect(yield* claimedIds(orders, t0)).toEqual([])
        })
      )
  )

  it.effect("create of an existing id answers the stored order and writes nothing", () =>
    run((orders, stock) =>
      Effect.gen(function* () {
        const sku = yield* stocked(stock, 10)
        const order = yield* makeOrder({ lines: [[sku, 2]] })
        const first = yield* makeEvent(order)
        yield* orders.create(order, [first])
        const imposter = yield* makeOrder({ lines: [[sku, 5]], orderId: order.order_id })
        const second = yield* makeEvent(imposter)
        expect(encode(yield* orders.create(imposter, [second]))).toEqual(encode(order))
        expect(encode(yield* orders.create(order, [second]))).toEqual(encode(order))
        expect(yield* levels(stock, [sku])).toEqual([[10, 2]])
        expect((yield* stock.reservations(order.order_id)).length).toBe(1)
        expect(yield* claimedIds(orders, t0)).toEqual([first.event_id])
        expect((yield* orders.audit(order.order_id)).length).toBe(1)
      })
    )
  )
}

const describeSteps = (run: Run) => {
  it.effect(
    "step is a compare-and-set on the version: stored at expectedVersion + 1 with its audit entry",
    () =>
      run((orders, stock) =>
        Effect.gen(function* () {
          const sku = yield* stocked(stock, 10)
          const order = yield* orders.create(yield* makeOrder({ lines: [[sku, 2]] }), [])
          const queued = moved(order, "payment_pending")
          const stored = Option.getOrThrow(yield* orders.step(queued, 1, null, []))
          expect(encode(stored)).toEqual(encode(new Order.Order({ ...queued, version: 2 })))
          // Keeping the status (payment details) is a step too.
          const paying = new Order.Order({
            ...stored,
            payment: { status: "pending", brand: "visa", last4: "4242" }
          })
          const again = Option.getOrThrow(yield* orders.step(paying, 2, null, []))
          expect(again.version).toBe(3)
          expect(Option.map(yield* orders.get(order.order_id), encode)).toEqual(Option.some(encode(again)))
          const audit = yield* orders.audit(order.order_id)
          expect(audit.map((e) => [e.from, e.to, e.version])).toEqual([
            [null, "pending", 1],
            ["pending", "payment_pending", 2],
            ["payment_pending", "payment_pending", 3]
          ])
          expect(audit.map((e) => e.at)).toEqual([order.updated_at, queued.updated_at, paying.updated_at])
          expect(yield* levels(stock, [sku])).toEqual([[10, 2]])
        })
      )
  )

  it.effect(
    "a stale expectedVersion writes nothing: no order change, no stock move, no event, no audit",
    () =>
      run((orders, stock) =>
        Effect.gen(function* () {
          const sku = yield* stocked(stock, 10)
          const order = yield* orders.create(yield* makeOrder({ lines: [[sku, 2]] }), [])
          const queued = yield* stepped(orders, order, "payment_pending", null)
          const late = moved(order, "confirmed")
          expect(yield* orders.step(late, 1, "commit", [yield* makeEvent(late, "order.confirmed")])).toEqual(
            Option.none()
          )
          expect(yield* orders.step(late, 3, "commit", [yield* makeEvent(late, "order.confirmed")])).toEqual(
            Option.none()
          )
          expect(Option.map(yield* orders.get(order.order_id), encode)).toEqual(Option.some(encode(queued)))
          expect(yield* levels(stock, [sku])).toEqual([[10, 2]])
          expect((yield* stock.reservations(order.order_id)).map((r) => r.status)).toEqual(["held"])
          expect(yield* claimedIds(orders, t0)).toEqual([])
          expect((yield* orders.audit(order.order_id)).length).toBe(2)
          // An unknown order: None, nothing created.
          const ghost = yield* makeOrder({ lines: [[sku, 1]] })
          expect(yield* orders.step(moved(ghost, "confirmed"), 1, "commit", [])).toEqual(Option.none())
          expect(Option.isNone(yield* orders.get(ghost.order_id))).toBe(true)
        })
      )
  )

  it.effect(
    "ABA: after payment_failed -> pending -> payment_failed, a step with the old version is refused",
    () =>
      run((orders, stock) =>
        Effect.gen(function* () {
          const sku = yield* stocked(stock, 10)
          const order = yield* orders.create(yield* makeOrder({ lines: [[sku, 2]] }), [])
          const declined = yield* failed(orders, order)
          const retry = Option.getOrThrow(yield* retried(orders, declined))
          const declinedAgain = yield* failed(orders, retry)
          expect([declined.version, retry.version, declinedAgain.version]).toEqual([2, 3, 4])
          // Same status as when the stale process read it (payment_failed), older version.
          const cancel = moved(declined, "cancelled")
          expect(yield* orders.step(cancel, declined.version, null, [yield* makeEvent(cancel)])).toEqual(
            Option.none()
          )
          const stored = Option.getOrThrow(yield* orders.get(order.order_id))
          expect([stored.status, stored.version, stored.payment_attempt]).toEqual(["payment_failed", 4, 2])
          expect(yield* claimedIds(orders, t0)).toEqual([])
          expect((yield* orders.audit(order.order_id)).map((e) => e.version)).toEqual([1, 2, 3, 4])
          expect(yield* levels(stock, [sku])).toEqual([[10, 0]])
        })
      )
  )

  it.effect("commit and release move the current attempt's hold only", () =>
    run((orders, stock) =>
      Effect.gen(function* () {
        const sku = yield* stocked(stock, 10)
        const order = yield* orders.create(yield* makeOrder({ lines: [[sku, 3]] }), [])
        const declined = yield* failed(orders, order)
        expect(yield* levels(stock, [sku])).toEqual([[10, 0]])
        const retry = Option.getOrThrow(yield* retried(orders, declined))
        expect(yield* levels(stock, [sku])).toEqual([[10, 3]])
        yield* stepped(orders, retry, "confirmed", "commit")
        expect(yield* levels(stock, [sku])).toEqual([[7, 0]])
        const holds = yield* stock.reservations(order.order_id)
        expect(holds.map((r) => [r.attempt, r.status])).toEqual([
          [1, "released"],
          [2, "committed"]
        ])
        expect(holds[1]!.hold_expires_at).toBe(retry.hold_expires_at)
      })
    )
  )

  it.effect("a new attempt's hold is OutOfStock when the units went meanwhile, and writes nothing", () =>
    run((orders, stock) =>
      Effect.gen(function* () {
        const sku = yield* stocked(stock, 5)
        const order = yield* orders.create(yield* makeOrder({ lines: [[sku, 3]] }), [])
        const declined = yield* failed(orders, order)
        yield* orders.create(yield* makeOrder({ lines: [[sku, 4]] }), [])
        yield* drained(orders)
        const retry = moved(declined, "pending", 1_000, 2)
        const error = yield* Effect.flip(
          orders.step(retry, declined.version, "hold", [yield* makeEvent(retry)])
        )
        expect(error._tag).toBe("OutOfStock")
        if (error._tag === "OutOfStock")
          expect(error.unavailable).toEqual([{ sku, requested: 3, available: 1 }])
        expect(Option.map(yield* orders.get(order.order_id), encode)).toEqual(Option.some(encode(declined)))
        expect((yield* stock.reservations(order.order_id)).map((r) => [r.attempt, r.status])).toEqual([
          [1, "released"]
        ])
        expect(yield* levels(stock, [sku])).toEqual([[5, 4]])
        expect(yield* claimedIds(orders, t0)).toEqual([])
      })
    )
  )

  it.effect("moving a hold that is not held is never a success and writes nothing", () =>
    run((orders, stock) =>
      Effect.gen(function* () {
        const sku = yield* stocked(stock, 10)
        const order = yield* orders.create(yield* makeOrder({ lines: [[sku, 2]] }), [])
        const declined = yield* failed(orders, order)
        const cancel = moved(declined, "cancelled")
        expect(
          yield* refused(orders.step(cancel, declined.version, "release", [yield* makeEvent(cancel)]))
        ).toBe(true)
        expect(Option.map(yield* orders.get(order.order_id), encode)).toEqual(Option.some(encode(declined)))
        expect((yield* stock.reservations(order.order_id)).map((r) => r.status)).toEqual(["released"])
        expect(yield* levels(stock, [sku])).toEqual([[10, 0]])
        expect((yield* orders.audit(order.order_id)).length).toBe(2)
        expect(yield* claimedIds(orders, t0)).toEqual([])
      })
    )
  )

  it.effect("a status change the state machine forbids is never written", () =>
    run((orders, stock) =>
      Effect.gen(function* () {
        const sku = yield* stocked(stock, 10)
        const order = yield* orders.create(yield* makeOrder({ lines: [[sku, 2]] }), [])
        const confirmed = yield* stepped(orders, order, "confirmed", "commit")
        const back = moved(confirmed, "pending", 1_000, 2)
        expect(yield* refused(orders.step(back, confirmed.version, "hold", [yield* makeEvent(back)]))).toBe(
          true
        )
        expect(Option.map(yield* orders.get(order.order_id), encode)).toEqual(Option.some(encode(confirmed)))
        expect(yield* levels(stock, [sku])).toEqual([[8, 0]])
        expect(yield* claimedIds(orders, t0)).toEqual([])
      })
    )
  )
}
