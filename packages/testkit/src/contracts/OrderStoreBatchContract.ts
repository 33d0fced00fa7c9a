/**
 * The OrderStore contract, part four: `createMany`, a batch of creates in one transaction (the
 * hot-SKU entity's). Each answer is what `create` of that order alone would answer at its turn
 * in the batch: the stock a short order did not take stays for the orders after it, replays and
 * second orders of a cart are answered as `create` answers them, and a batch racing single
 * creates on the same SKU oversells nothing. Registered by `orderStoreContract`.
 */
import { expect, it } from "@effect/vitest"
import { Order } from "@till/core"
import { Effect, Option, Result } from "effect"
import { encoded } from "../internal/contract.js"
import {
  claimedIds,
  failed,
  type isolated,
  levels,
  makeEvent,
  makeOrder,
  stocked,
  t0
} from "./OrderStoreFixtures.js"

type Run = ReturnType<typeof isolated>

const encode = encoded(Order.Order)

/** Each answer as the order it made (encoded) or the tag it failed with. */
const outcomes = (answers: ReadonlyArray<Result.Result<Order.Order, { readonly _tag: string }>>) =>
  answers.map((answer) => (Result.isSuccess(answer) ? encode(answer.success) : answer.failure._tag))

export const describeBatch = (run: Run) => {
  it.effect("createMany refuses for good as create does: a refused id makes no order later, either way", () =>
    run((orders, stock) =>
      Effect.gen(function* () {
        const sku = yield* stocked(stock, 1)
        const holder = yield* orders.create(yield* makeOrder({ lines: [[sku, 1]] }), [])
        const inBatch = yield* makeOrder({ lines: [[sku, 1]] })
        const alone = yield* makeOrder({ lines: [[sku, 1]] })
        expect(yield* Effect.flip(orders.create(alone, []))).toMatchObject({ _tag: "OutOfStock" })
        const first = yield* orders.createMany([{ order: inBatch, events: [] }])
        expect(outcomes(first)).toEqual(["OutOfStock"])
        yield* failed(orders, holder)
        // Stock is back; neither id may take it, by a batch or alone.
        expect(
          outcomes(
            yield* orders.createMany([
              { order: inBatch, events: [] },
              { order: alone, events: [] }
            ])
          )
        ).toEqual(["OutOfStock", "OutOfStock"])
        expect(yield* Effect.flip(orders.create(inBatch, []))).toMatchObject({
          _tag: "OutOfStock",
          unavailable: [{ sku, requested: 1, available: 0 }]
        })
        expect(yield* levels(stock, [sku])).toEqual([[1, 0]])
        expect(Option.isNone(yield* orders.get(inBatch.order_id))).toBe(true)
        expect(Option.isNone(yield* orders.get(alone.order_id))).toBe(true)
      })
    )
  )

  it.effect("createMany in turn: 3 orders of 1 for 2 on hand make 2 orders and 1 OutOfStock", () =>
    run((orders, stock) =>
      Effect.gen(function* () {
        const sku = yield* stocked(stock, 2)
        const batch = yield* Effect.forEach([1, 2, 3], () =>
          Effect.flatMap(makeOrder({ lines: [[sku, 1]] }), (order) =>
            Effect.map(makeEvent(order), (event) => ({ order, events: [event] }))
          )
        )
        const answers = yield* orders.createMany(batch)
        expect(outcomes(answers)).toEqual([encode(batch[0]!.order), encode(batch[1]!.order), "OutOfStock"])
        const third = answers[2]!
        expect(
          Result.isFailure(third) && third.failure._tag === "OutOfStock" && third.failure.unavailable
        ).toEqual([{ sku, requested: 1, available: 0 }])
        expect(yield* levels(stock, [sku])).toEqual([[2, 2]])
        // Read back whole, the payment method's token included (sealed apart on Postgres).
        for (const { order } of batch.slice(0, 2))
          expect(Option.map(yield* orders.get(order.order_id), encode)).toEqual(Option.some(encode(order)))
        for (const { order } of batch.slice(0, 2))
          expect(yield* stock.reservations(order.order_id)).toEqual([
            {
              order_id: order.order_id,
              attempt: 1,
              lines: [{ sku, quantity: 1 }],
              status: "held",
              hold_expires_at: order.hold_expires_at
            }
          ])
        expect(yield* stock.reservations(batch[2]!.order.order_id)).toEqual([])
        // The made orders' events, in the batch's order; none of the refused one's.
        expect(yield* claimedIds(orders, t0 + 1)).toEqual([
          batch[0]!.events[0]!.event_id,
          batch[1]!.events[0]!.event_id
        ])
        const audit = yield* orders.audit(batch[0]!.order.order_id)
        expect(audit.map((a) => [a.from, a.to, a.version])).toEqual([[null, "pending", 1]])
      })
    )
  )

  it.effect("createMany: a short order takes nothing, so a smaller one after it still gets the stock", () =>
    run((orders, stock) =>
      Effect.gen(function* () {
        const a = yield* stocked(stock, 2)
        const b = yield* stocked(stock, 5)
        const big = yield* makeOrder({
          lines: [
            [b, 1],
            [a, 3]
          ]
        })
        const small = yield* makeOrder({
          lines: [
            [a, 2],
            [b, 4]
          ]
        })
        const answers = yield* orders.createMany([
          { order: big, events: [] },
          { order: small, events: [] }
        ])
        expect(outcomes(answers)).toEqual(["OutOfStock", encode(small)])
        const short = answers[0]!
        expect(
          Result.isFailure(short) && short.failure._tag === "OutOfStock" && short.failure.unavailable
        ).toEqual([{ sku: a, requested: 3, available: 2 }])
        expect(yield* levels(stock, [a, b])).toEqual([
          [2, 2],
          [5, 4]
        ])
      })
    )
  )

  it.effect(
    "createMany answers a replay, a second order of a cart and a repeat within the batch as create does",
    () =>
      run((orders, stock) =>
        Effect.gen(function* () {
          const sku = yield* stocked(stock, 10)
          const first = yield* orders.create(yield* makeOrder({ lines: [[sku, 1]] }), [])
          const sameCart = yield* makeOrder({ lines: [[sku, 1]], cartId: first.cart_id })
          const fresh = yield* makeOrder({ lines: [[sku, 2]] })
          const freshCartAgain = yield* makeOrder({ lines: [[sku, 3]], cartId: fresh.cart_id })
          const answers = yield* orders.createMany([
            { order: first, events: [] },
            { order: sameCart, events: [] },
            { order: fresh, events: [] },
            { order: fresh, events: [] },
            { order: freshCartAgain, events: [] }
          ])
          expect(outcomes(answers)).toEqual([
            encode(first),
            "CartNotActive",
            encode(fresh),
            encode(fresh),
            "CartNotActive"
          ])
          // 1 (first) + 2 (fresh, once): the replays and refused orders took nothing.
          expect(yield* levels(stock, [sku])).toEqual([[10, 3]])
          expect(yield* stock.reservations(fresh.order_id)).toHaveLength(1)
        })
      )
  )

  it.effect("an empty createMany writes nothing and answers nothing", () =>
    run((orders) => Effect.map(orders.createMany([]), (answers) => expect(answers).toEqual([])))
  )

  it.effect("batches racing single creates of one SKU: exactly on-hand orders win, nothing oversold", () =>
    run((orders, stock) =>
      Effect.gen(function* () {
        const sku = yield* stocked(stock, 25)
        const make = () => Effect.map(makeOrder({ lines: [[sku, 1]] }), (order) => ({ order, events: [] }))
        const batches = yield* Effect.forEach([1, 2, 3, 4], () =>
          Effect.forEach([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], make)
        )
        const singles = yield* Effect.forEach(
          Array.from({ length: 20 }, (_, i) => i),
          make
        )
        const [batched, single] = yield* Effect.all(
          [
            Effect.forEach(batches, (batch) => orders.createMany(batch), { concurrency: "unbounded" }),
            Effect.forEach(singles, ({ order }) => Effect.result(orders.create(order, [])), {
              concurrency: "unbounded"
            })
          ],
          { concurrency: "unbounded" }
        )
        const all = [...batched.flat(), ...single]
        expect(all.filter(Result.isSuccess)).toHaveLength(25)
        expect(all.filter((a) => Result.isFailure(a) && a.failure._tag === "OutOfStock")).toHaveLength(35)
        expect(yield* levels(stock, [sku])).toEqual([[25, 25]])
      })
    )
  )
}
