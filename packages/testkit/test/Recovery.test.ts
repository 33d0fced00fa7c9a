import { describe, expect, it } from "@effect/vitest"
import { Checkout, InventoryStore, Order, OrderStore, Recovery, Sku } from "@till/core"
import { Effect, Fiber, Option, Result } from "effect"
import { TestClock } from "effect/testing"
import { FakePaymentGateway, TestTill } from "@till/testkit"
import { cartWith, place } from "./fixtures.js"

const level = (sku: string) =>
  Effect.flatMap(InventoryStore.InventoryStore, (s) => s.level(Sku.make(sku))).pipe(
    Effect.map(Option.getOrThrow)
  )

/** Recovery's gateway calls retry on the clock: run it while TestClock moves 30 s. */
const recover = Effect.gen(function* () {
  const fiber = yield* Effect.forkChild(Recovery.recoverOrders())
  yield* TestClock.adjust("30 seconds")
  return yield* Fiber.join(fiber)
})

describe("Recovery.recoverOrders", () => {
  it.effect(
    "a payment_pending order whose hold expires with no charge is expired and its stock released",
    () =>
      Effect.gen(function* () {
        yield* TestTill.stock("mug", "Till mug", 1_500, 10)
        const { cartId, paymentMethodId } = yield* cartWith("u", [["mug", 4]])
        const control = yield* FakePaymentGateway.Control
        yield* control.unavailableBetween(0, 60 * 60 * 1000)
        const fiber = yield* Effect.forkChild(place("u", "k", cartId, paymentMethodId))
        yield* TestClock.adjust("1 minute")
        const placed = yield* Fiber.join(fiber)
        expect(placed.order.status).toBe("payment_pending")
        expect(yield* level("mug")).toMatchObject({ reserved: 4, available: 6 })

        // Before the hold ends, recovery leaves the order alone (the gateway is still down).
        yield* TestClock.adjust("5 minutes")
        const early = yield* recover
        expect(early).toMatchObject({ ordersResumed: 0, ordersLeftForLater: 1 })

        yield* control.reset
        yield* TestClock.adjust("15 minutes")
        // The gateway answers again but knows no charge for the key, and the hold plus its settle
        // grace have passed: expire.
        const report = yield* recover
        expect(report.ordersResumed).toBe(1)
        const checkout = yield* Checkout.Checkout
        expect((yield* checkout.getOrder("u", placed.order.order_id)).status).toBe("expired")
        expect(yield* level("mug")).toEqual({ sku: "mug", on_hand: 10, reserved: 0, available: 10 })
        const gateway = yield* FakePaymentGateway.Inspector
        expect(yield* gateway.chargesFor(placed.order.order_id)).toHaveLength(0)
      }).pipe(Effect.provide(TestTill.layer({ seed: 21 })))
  )

  it.effect(
    "a reservation whose order was never written (crash between TX1 steps) is released once its hold ends",
    () =>
      Effect.gen(function* () {
        yield* TestTill.stock("mug", "Till mug", 1_500, 10)
        const store = yield* InventoryStore.InventoryStore
        yield* store.reserve("ord_orphan", [{ sku: Sku.make("mug"), quantity: 3 }], 15 * 60 * 1000)
        expect(yield* level("mug")).toMatchObject({ reserved: 3 })
        yield* TestClock.adjust("16 minutes")
        // Expired, but inside the grace: its checkout may still be writing the order.
        expect((yield* Recovery.recoverOrders()).holdsSettled).toBe(0)
        expect(yield* level("mug")).toMatchObject({ reserved: 3 })
        yield* TestClock.adjust(Recovery.defaults.orphanGraceMs)
        expect((yield* Recovery.recoverOrders()).holdsSettled).toBe(1)
        expect(yield* level("mug")).toEqual({ sku: "mug", on_hand: 10, reserved: 0, available: 10 })
      }).pipe(Effect.provide(TestTill.layer({ seed: 22 })))
  )

  it.effect("an order confirmed but whose stock commit was cut off is committed, not released", () =>
    Effect.gen(function* () {
      yield* TestTill.stock("mug", "Till mug", 1_500, 10)
      const { cartId, paymentMethodId } = yield* cartWith("u", [["mug", 2]])
      const placed = yield* place("u", "k", cartId, paymentMethodId)
      // The crash window of TX2: the order row says confirmed, the reservation is still held.
      const cut = new Order.Order({ ...placed.order, order_id: "ord_cut" })
      const orders = yield* OrderStore.OrderStore
      yield* orders.create(cut, [])
      const store = yield* InventoryStore.InventoryStore
      yield* store.reserve("ord_cut", [{ sku: Sku.make("mug"), quantity: 2 }], 15 * 60 * 1000)
      expect(yield* level("mug")).toEqual({ sku: "mug", on_hand: 8, reserved: 2, available: 6 })
      yield* TestClock.adjust("20 minutes")
      expect((yield* recover).holdsSettled).toBe(1)
      expect(Option.getOrThrow(yield* store.get("ord_cut")).status).toBe("committed")
      expect(yield* level("mug")).toEqual({ sku: "mug", on_hand: 6, reserved: 0, available: 6 })
    }).pipe(Effect.provide(TestTill.layer({ seed: 23 })))
  )

  it.effect("the 11th checkout of one user within a minute is rate limited with a retry-after", () =>
    Effect.gen(function* () {
      yield* TestTill.stock("mug", "Till mug", 1_500, 100)
      const results = []
      for (let i = 0; i < 11; i++) {
        const { cartId, paymentMethodId } = yield* cartWith("busy", [["mug", 1]])
        results.push(yield* Effect.result(place("busy", `k${i}`, cartId, paymentMethodId)))
      }
      expect(results.slice(0, 10).every(Result.isSuccess)).toBe(true)
      const limited = Result.getFailure(results[10]!).pipe(Option.getOrThrow)
      expect(limited._tag).toBe("RateLimited")
      expect((limited as { retryAfterSeconds: number }).retryAfterSeconds).toBeGreaterThanOrEqual(1)
      expect((limited as { retryAfterSeconds: number }).retryAfterSeconds).toBeLessThanOrEqual(60)
    }).pipe(Effect.provide(TestTill.layer({ seed: 24 })))
  )
})
