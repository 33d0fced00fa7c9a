import { describe, expect, it } from "@effect/vitest"
import { Checkout, InventoryStore, OrderStore, Recovery, Sku } from "@till/core"
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

  it.effect("orders stuck behind a full page are reached: each run continues from the last", () =>
    Effect.gen(function* () {
      yield* TestTill.stock("mug", "Till mug", 1_500, 10)
      const carts = []
      for (const user of ["u1", "u2", "u3", "u4", "u5"])
        carts.push({ user, ...(yield* cartWith(user, [["mug", 1]])) })
      const control = yield* FakePaymentGateway.Control
      yield* control.unavailableBetween(0, 24 * 60 * 60 * 1000)
      const ids: Array<string> = []
      for (const { user, cartId, paymentMethodId } of carts) {
        const fiber = yield* Effect.forkChild(place(user, "k", cartId, paymentMethodId))
        yield* TestClock.adjust("1 minute")
        ids.push((yield* Fiber.join(fiber)).order.order_id)
      }
      yield* TestClock.adjust("2 minutes")
      // The gateway stays down: every order is left for later, and a run of 2 must not read
      // the same 2 oldest every time.
      const seen = new Set<string>()
      const orders = yield* OrderStore.OrderStore
      let cursor: string | null = null
      for (let run = 0; run < 3; run++) {
        const page = yield* orders.listByStatus(
          ["pending", "payment_pending"],
          new Date(Date.parse("1970-01-01T00:00:00Z") + 60 * 60 * 1000).toISOString(),
          2,
          cursor
        )
        for (const o of page.orders) seen.add(o.order_id)
        const fiber = yield* Effect.forkChild(Recovery.recoverOrders({ limit: 2 }, cursor))
        yield* TestClock.adjust("30 seconds")
        const report: Recovery.Report = yield* Fiber.join(fiber)
        expect(report.ordersLeftForLater).toBe(page.orders.length)
        cursor = report.cursor
      }
      expect([...seen].sort()).toEqual([...ids].sort())
      expect(cursor).toBeNull()
    }).pipe(Effect.provide(TestTill.layer({ seed: 22 })))
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
