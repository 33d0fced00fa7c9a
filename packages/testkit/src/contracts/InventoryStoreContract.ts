/**
 * The InventoryStore contract. The invariant it guards (InventoryStore.ts): for every SKU
 * 0 <= reserved <= on_hand. What is left of the port once order steps own the reservations:
 * the physical stock (setOnHand, restock idempotent by movement id) and the reads (level,
 * an order's reservations one per attempt, expired holds).
 *
 * Holds are made only by order steps, so the suite runs against a layer providing
 * InventoryStore and OrderStore over one database (as orderStoreContract does), built afresh
 * for every case. Every time is explicit (holds' ends, `nowMs`).
 */
import { describe, expect, it } from "@effect/vitest"
import { Arbitrary, Effect, Exit, Option, Schema } from "effect"
import { uniqueId } from "../internal/contract.js"
import {
  failed,
  holdMs,
  isolated,
  levelOf,
  levels,
  makeOrder,
  newSku,
  retried,
  type StockAndOrdersLayer,
  stepped,
  stocked,
  t0
} from "./OrderStoreFixtures.js"

type Run = ReturnType<typeof isolated>

export const inventoryStoreContract = (name: string, storeLayer: StockAndOrdersLayer): void => {
  const run = isolated(storeLayer)
  describe(`InventoryStore contract: ${name}`, () => {
    describeLevels(run)
    describeRestock(run)
    describeReservations(run)
  })
}

const describeLevels = (run: Run) => {
  it.effect("level of an unknown SKU is None", () =>
    run((_, stock) =>
      Effect.gen(function* () {
        expect(Option.isNone(yield* stock.level(yield* newSku))).toBe(true)
      })
    )
  )

  it.effect("setOnHand creates and sets the level", () =>
    run((_, stock) =>
      Effect.gen(function* () {
        const sku = yield* newSku
        expect(yield* stock.setOnHand(sku, 7)).toEqual({ sku, on_hand: 7, reserved: 0, available: 7 })
        yield* stock.setOnHand(sku, 3)
        expect(yield* levelOf(stock, sku)).toEqual({ sku, on_hand: 3, reserved: 0, available: 3 })
        yield* stock.setOnHand(sku, 0)
        expect(yield* levels(stock, [sku])).toEqual([[0, 0]])
      })
    )
  )

  it.effect("setOnHand below what is reserved (or below zero) is refused and changes nothing", () =>
    run((orders, stock) =>
      Effect.gen(function* () {
        const sku = yield* stocked(stock, 10)
        yield* orders.create(yield* makeOrder({ lines: [[sku, 6]] }), [])
        const refused = yield* Effect.flip(stock.setOnHand(sku, 5))
        expect(refused._tag).toBe("OutOfStock")
        if (refused._tag === "OutOfStock") expect(refused.unavailable.map((u) => u.sku)).toEqual([sku])
        expect(yield* levels(stock, [sku])).toEqual([[10, 6]])
        expect(Exit.isFailure(yield* Effect.exit(stock.setOnHand(sku, -1)))).toBe(true)
        expect(yield* levels(stock, [sku])).toEqual([[10, 6]])
        expect(yield* stock.setOnHand(sku, 6)).toEqual({ sku, on_hand: 6, reserved: 6, available: 0 })
        const fresh = yield* newSku
        expect(Exit.isFailure(yield* Effect.exit(stock.setOnHand(fresh, -1)))).toBe(true)
        expect(
          Option.getOrElse(
            Option.map(yield* stock.level(fresh), (l) => l.on_hand),
            () => 0
          )
        ).toBe(0)
      })
    )
  )

  it.effect("committed units leave on_hand and reserved; released ones return to available", () =>
    run((orders, stock) =>
      Effect.gen(function* () {
        const sku = yield* stocked(stock, 10)
        const sold = yield* orders.create(yield* makeOrder({ lines: [[sku, 3]] }), [])
        const declined = yield* orders.create(yield* makeOrder({ lines: [[sku, 4]] }), [])
        expect(yield* levelOf(stock, sku)).toEqual({ sku, on_hand: 10, reserved: 7, available: 3 })
        yield* stepped(orders, sold, "confirmed", "commit")
        yield* failed(orders, declined)
        expect(yield* levelOf(stock, sku)).toEqual({ sku, on_hand: 7, reserved: 0, available: 7 })
      })
    )
  )
}

const describeRestock = (run: Run) => {
  it.effect("restock adds and removes stock, never below what is reserved", () =>
    run((orders, stock) =>
      Effect.gen(function* () {
        const sku = yield* stocked(stock, 10)
        yield* orders.create(yield* makeOrder({ lines: [[sku, 4]] }), [])
        expect((yield* stock.restock(sku, 5, yield* uniqueId("mv"))).on_hand).toBe(15)
        expect((yield* stock.restock(sku, -11, yield* uniqueId("mv"))).on_hand).toBe(4)
        const refused = yield* Effect.flip(stock.restock(sku, -1, yield* uniqueId("mv")))
        expect(refused._tag).toBe("OutOfStock")
        expect(yield* levels(stock, [sku])).toEqual([[4, 4]])
        const fresh = yield* newSku
        expect(yield* stock.restock(fresh, 3, yield* uniqueId("mv"))).toEqual({
          sku: fresh,
          on_hand: 3,
          reserved: 0,
          available: 3
        })
      })
    )
  )

  it.effect("restock is idempotent by movementId: a replay answers the level and changes nothing", () =>
    run((orders, stock) =>
      Effect.gen(function* () {
        const sku = yield* stocked(stock, 10)
        const movement = yield* uniqueId("mv")
        expect((yield* stock.restock(sku, 5, movement)).on_hand).toBe(15)
        yield* orders.create(yield* makeOrder({ lines: [[sku, 2]] }), [])
        expect(yield* stock.restock(sku, 5, movement)).toEqual({
          sku,
          on_hand: 15,
          reserved: 2,
          available: 13
        })
        // Concurrent replays of one new movement apply it once.
        const burst = yield* uniqueId("mv")
        yield* Effect.all(
          Array.from({ length: 20 }, () => stock.restock(sku, 1, burst)),
          { concurrency: "unbounded" }
        )
        expect(yield* levels(stock, [sku])).toEqual([[16, 2]])
      })
    )
  )

  const movement = Arbitrary.all({
    id: Arbitrary.schema(Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 7 }))),
    delta: Arbitrary.schema(Schema.Int.check(Schema.isBetween({ minimum: -5, maximum: 10 })))
  })

  it.effect.prop(
    "restock: on_hand is the sum of the first application of each movement that kept it >= 0",
    { movements: Arbitrary.array(movement, { maxLength: 40 }) },
    ({ movements }) =>
      run((_, stock) =>
        Effect.gen(function* () {
          const sku = yield* stocked(stock, 0)
          const prefix = yield* uniqueId("mv")
          const applied = new Set<number>()
          let onHand = 0
          for (const { id, delta } of movements) {
            const exit = yield* Effect.exit(stock.restock(sku, delta, `${prefix}-${id}`))
            if (applied.has(id)) {
              expect(Exit.isSuccess(exit)).toBe(true)
            } else if (onHand + delta < 0) {
              expect(Exit.isFailure(exit)).toBe(true)
            } else {
              expect(Exit.isSuccess(exit)).toBe(true)
              applied.add(id)
              onHand += delta
            }
            expect(yield* levels(stock, [sku])).toEqual([[onHand, 0]])
          }
        })
      ),
    { arbitrary: { size: 40, runs: 50 } }
  )
}

const describeReservations = (run: Run) => {
  it.effect(
    "reservations lists one per attempt that held stock, oldest first; none for an unknown order",
    () =>
      run((orders, stock) =>
        Effect.gen(function* () {
          const a = yield* stocked(stock, 10)
          const b = yield* stocked(stock, 10)
          const order = yield* orders.create(
            yield* makeOrder({
              lines: [
                [a, 2],
                [b, 1]
              ]
            }),
            []
          )
          const declined = yield* failed(orders, order)
          const retry = Option.getOrThrow(yield* retried(orders, declined))
          const lines = [
            { sku: a, quantity: 2 },
            { sku: b, quantity: 1 }
          ]
          expect(yield* stock.reservations(order.order_id)).toEqual([
            { order_id: order.order_id, attempt: 1, lines, status: "released", hold_expires_at: t0 + holdMs },
            {
              order_id: order.order_id,
              attempt: 2,
              lines,
              status: "held",
              hold_expires_at: retry.hold_expires_at
            }
          ])
          expect(yield* stock.reservations(yield* uniqueId("ord"))).toEqual([])
        })
      )
  )

  it.effect("expiredHolds lists held reservations whose hold ended at or before nowMs, oldest first", () =>
    run((orders, stock) =>
      Effect.gen(function* () {
        const sku = yield* stocked(stock, 100)
        // Created at t0 + n minutes: held until t0 + n minutes + holdMs.
        const at = (minutes: number) => makeOrder({ lines: [[sku, 1]], createdAtMs: t0 + minutes * 60_000 })
        const late = yield* orders.create(yield* at(5), [])
        const early = yield* orders.create(yield* at(1), [])
        const notYet = yield* orders.create(yield* at(6), [])
        const committed = yield* orders.create(yield* at(0), [])
        const released = yield* orders.create(yield* at(0), [])
        yield* stepped(orders, committed, "confirmed", "commit")
        yield* failed(orders, released)

        const nowMs = t0 + 5 * 60_000 + holdMs
        const expired = yield* stock.expiredHolds(nowMs, 1_000)
        expect(expired.map((r) => [r.order_id, r.attempt, r.status])).toEqual([
          [early.order_id, 1, "held"],
          [late.order_id, 1, "held"]
        ])
        expect(expired.map((r) => r.hold_expires_at)).toEqual([early.hold_expires_at, late.hold_expires_at])
        expect((yield* stock.expiredHolds(nowMs, 1)).map((r) => r.order_id)).toEqual([early.order_id])
        expect(yield* stock.expiredHolds(nowMs, 0)).toEqual([])
        expect(yield* stock.expiredHolds(t0, 1_000)).toEqual([])
        expect((yield* stock.expiredHolds(notYet.hold_expires_at, 1_000)).length).toBe(3)
      })
    )
  )
}
