/**
 * The OrderStore contract, part two: races. Concurrent steps of one order (one winner per
 * version), concurrent creates of one id, and concurrent creates competing for small stock,
 * multi-SKU and in opposite line orders, then settled: no oversell, no deadlock, and every
 * create either made its order with its hold or was refused with nothing written. Registered
 * by `orderStoreContract` (OrderStoreContract.ts), with a store built afresh for every case.
 */
import { expect, it } from "@effect/vitest"
import { Order } from "@till/core"
import { Arbitrary, Cause, Effect, Exit, Option, Predicate, Schema } from "effect"
import { encoded } from "../internal/contract.js"
import {
  claimedIds,
  failed,
  type isolated,
  levels,
  makeEvent,
  makeOrder,
  moved,
  stepped,
  stocked,
  t0
} from "./OrderStoreFixtures.js"

type Run = ReturnType<typeof isolated>

const encode = encoded(Order.Order)

export const describeConcurrency = (run: Run) => {
  it.effect("concurrent steps on one order: exactly one wins per version", () =>
    run((orders, stock) =>
      Effect.gen(function* () {
        const sku = yield* stocked(stock, 10)
        const order = yield* orders.create(yield* makeOrder({ lines: [[sku, 2]] }), [])
        const race = (
          from: Order.Order,
          targets: ReadonlyArray<readonly [Order.OrderStatus, "commit" | "release" | null]>
        ) =>
          Effect.gen(function* () {
            const attempts = yield* Effect.forEach(
              Array.from({ length: 30 }, (_, i) => i),
              (i) => {
                const [status, move] = targets[i % targets.length]!
                const next = moved(from, status, i + 1)
                return Effect.map(makeEvent(next), (event) => ({ next, move, event }))
              }
            )
            const results = yield* Effect.forEach(
              attempts,
              (a) => orders.step(a.next, from.version, a.move, [a.event]),
              { concurrency: "unbounded" }
            )
            const winners = attempts.filter((_, i) => Option.isSome(results[i]!))
            expect(winners.length).toBe(1)
            return winners[0]!
          })
        const first = yield* race(order, [["payment_pending", null]])
        const second = yield* race(new Order.Order({ ...first.next, version: 2 }), [
          ["confirmed", "commit"],
          ["payment_failed", "release"],
          ["cancelled", "release"],
          ["expired", "release"]
        ])
        const stored = Option.getOrThrow(yield* orders.get(order.order_id))
        expect(encode(stored)).toEqual(encode(new Order.Order({ ...second.next, version: 3 })))
        expect(yield* levels(stock, [sku])).toEqual(second.move === "commit" ? [[8, 0]] : [[10, 0]])
        expect(yield* claimedIds(orders, t0)).toEqual([first.event.event_id, second.event.event_id])
        expect((yield* orders.audit(order.order_id)).map((e) => [e.to, e.version])).toEqual([
          ["pending", 1],
          ["payment_pending", 2],
          [second.next.status, 3]
        ])
      })
    )
  )

  it.effect("create and refuseUnmade of one id at once: the order and its answer, or neither", () =>
    run((orders, stock) =>
      Effect.gen(function* () {
        const sku = yield* stocked(stock, 100)
        let made = 0
        for (let round = 0; round < 20; round++) {
          const order = yield* makeOrder({ lines: [[sku, 1]] })
          const [created, refused] = yield* Effect.all(
            [Effect.exit(orders.create(order, [])), orders.refuseUnmade(order.order_id)],
            { concurrency: "unbounded" }
          )
          const stored = yield* orders.get(order.order_id)
          if (Exit.isSuccess(created)) {
            made++
            expect(Option.isSome(stored)).toBe(true)
            expect(Option.isSome(refused)).toBe(true)
          } else {
            expect(Cause.squash(created.cause)).toMatchObject({ _tag: "CartNotActive" })
            expect(Option.isNone(stored)).toBe(true)
            expect(Option.isNone(refused)).toBe(true)
          }
        }
        expect(yield* levels(stock, [sku])).toEqual([[100, made]])
      })
    )
  )

  it.effect("concurrent creates of one order id: one order, one hold", () =>
    run((orders, stock) =>
      Effect.gen(function* () {
        const sku = yield* stocked(stock, 100)
        const order = yield* makeOrder({ lines: [[sku, 7]] })
        const answers = yield* Effect.all(
          Array.from({ length: 20 }, () => orders.create(order, [])),
          { concurrency: "unbounded" }
        )
        for (const answer of answers) expect(encode(answer)).toEqual(encode(order))
        expect(yield* levels(stock, [sku])).toEqual([[100, 7]])
        expect((yield* stock.reservations(order.order_id)).length).toBe(1)
      })
    )
  )

  it.effect("100 concurrent creates of 1 unit for 10 on hand: exactly 10 win, the rest OutOfStock", () =>
    run((orders, stock) =>
      Effect.gen(function* () {
        const sku = yield* stocked(stock, 10)
        const all = yield* Effect.forEach(
          Array.from({ length: 100 }, () => makeOrder({ lines: [[sku, 1]] })),
          (x) => x
        )
        const exits = yield* Effect.forEach(all, (o) => Effect.exit(orders.create(o, [])), {
          concurrency: "unbounded"
        })
        expect(exits.filter(Exit.isSuccess).length).toBe(10)
        for (const exit of exits)
          if (Exit.isFailure(exit))
            expect(Predicate.isTagged(Cause.squash(exit.cause), "OutOfStock")).toBe(true)
        expect(yield* levels(stock, [sku])).toEqual([[10, 10]])
      })
    )
  )

  const quantity = Arbitrary.schema(Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 3 })))
  const orderShape = Arbitrary.all({ a: quantity, b: quantity, reversed: Arbitrary.schema(Schema.Boolean) })

  it.effect.prop(
    "multi-SKU creates in opposite line orders, concurrent, then settled: no deadlock, no oversell",
    {
      onHandA: Arbitrary.schema(Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 20 }))),
      onHandB: Arbitrary.schema(Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 20 }))),
      shapes: Arbitrary.array(orderShape, { minLength: 1, maxLength: 50 })
    },
    ({ onHandA, onHandB, shapes }) =>
      run((orders, stock) =>
        Effect.gen(function* () {
          const a = yield* stocked(stock, onHandA)
          const b = yield* stocked(stock, onHandB)
          const placed = yield* Effect.forEach(shapes, (s) =>
            makeOrder({
              lines: s.reversed
                ? [
                    [b, s.b],
                    [a, s.a]
                  ]
                : [
                    [a, s.a],
                    [b, s.b]
                  ]
            })
          )
          const exits = yield* Effect.forEach(placed, (o) => Effect.exit(orders.create(o, [])), {
            concurrency: "unbounded"
          })
          // Every create either made its order with its hold or was refused OutOfStock with nothing.
          const won = placed.filter((_, i) => Exit.isSuccess(exits[i]!))
          for (const [i, exit] of exits.entries()) {
            const holds = yield* stock.reservations(placed[i]!.order_id)
            if (Exit.isSuccess(exit)) expect(holds.map((r) => r.status)).toEqual(["held"])
            else {
              expect(Predicate.isTagged(Cause.squash(exit.cause), "OutOfStock")).toBe(true)
              expect(holds).toEqual([])
              expect(Option.isNone(yield* orders.get(placed[i]!.order_id))).toBe(true)
            }
          }
          const held = (pick: (s: (typeof shapes)[number]) => number) =>
            won.reduce((n, o) => n + pick(shapes[placed.indexOf(o)]!), 0)
          const [heldA, heldB] = [held((s) => s.a), held((s) => s.b)]
          expect(heldA).toBeLessThanOrEqual(onHandA)
          expect(heldB).toBeLessThanOrEqual(onHandB)
          expect(yield* levels(stock, [a, b])).toEqual([
            [onHandA, heldA],
            [onHandB, heldB]
          ])
          // Settle the winners concurrently: every other one confirmed (sold), the rest released.
          yield* Effect.forEach(
            won,
            (o, i) => (i % 2 === 0 ? stepped(orders, o, "confirmed", "commit") : failed(orders, o)),
            { concurrency: "unbounded" }
          )
          const sold = (pick: (s: (typeof shapes)[number]) => number) =>
            won.reduce((n, o, i) => (i % 2 === 0 ? n + pick(shapes[placed.indexOf(o)]!) : n), 0)
          const [soldA, soldB] = [sold((s) => s.a), sold((s) => s.b)]
          expect(soldA).toBeLessThanOrEqual(onHandA)
          expect(soldB).toBeLessThanOrEqual(onHandB)
          expect(yield* levels(stock, [a, b])).toEqual([
            [onHandA - soldA, 0],
            [onHandB - soldB, 0]
          ])
        })
      ),
    { arbitrary: { size: 50, runs: 30 } }
  )
}
