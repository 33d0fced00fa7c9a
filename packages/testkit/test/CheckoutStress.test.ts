/**
 * The two stress properties of the checkout, each over many seeds under TestClock:
 * 1,000 concurrent buyers for 100 units never oversell, and a lost charge response never
 * charges twice. `TILL_STRESS_SEEDS` sets how many seeds (default 100, as the issue asks).
 */
import { afterEach, describe, expect, it } from "@effect/vitest"
import { Checkout, InventoryStore, Recovery, Sku } from "@till/core"
import { Effect, Fiber, Option, Result } from "effect"
import { TestClock } from "effect/testing"
import { FakePaymentGateway, TestTill } from "@till/testkit"
import { cartWith, place } from "./fixtures.js"

const seeds = Number(process.env["TILL_STRESS_SEEDS"] ?? 100)

const hotSkuRun = (seed: number) =>
  Effect.gen(function* () {
    yield* TestTill.stock("hot", "Limited sneaker", 12_000, 100)
    const buyers = Array.from({ length: 1_000 }, (_, i) => `buyer-${seed}-${i}`)
    const carts = yield* Effect.forEach(buyers, (user) => cartWith(user, [["hot", 1]]))
    const store = yield* InventoryStore.InventoryStore
    let lowestAvailable = Number.POSITIVE_INFINITY
    const watcher = yield* Effect.forkChild(
      Effect.forever(
        Effect.flatMap(store.level(Sku.make("hot")), (l) =>
          Effect.sync(() => {
            const level = Option.getOrThrow(l)
            lowestAvailable = Math.min(lowestAvailable, level.available)
            if (level.available < 0 || level.reserved > level.on_hand)
              throw new Error(`oversold: ${JSON.stringify(level)}`)
          })
        ).pipe(Effect.andThen(Effect.yieldNow))
      )
    )
    const results = yield* Effect.forEach(
      carts,
      (cart, i) => Effect.result(place(buyers[i]!, `key-${i}`, cart.cartId, cart.paymentMethodId)),
      { concurrency: "unbounded" }
    )
    yield* Fiber.interrupt(watcher)
    const confirmed = results.filter(
      (r) => Result.isSuccess(r) && r.success.order.status === "confirmed"
    ).length
    const outOfStock = results.filter((r) => Result.isFailure(r) && r.failure._tag === "OutOfStock").length
    const level = Option.getOrThrow(yield* store.level(Sku.make("hot")))
    return { confirmed, outOfStock, level, lowestAvailable }
  }).pipe(Effect.provide(TestTill.layer({ seed })))

const lostResponseRun = (seed: number) =>
  Effect.gen(function* () {
    yield* TestTill.stock("mug", "Till mug", 1_500, 10)
    const { cartId, paymentMethodId } = yield* cartWith(`u-${seed}`, [["mug", 1]])
    const control = yield* FakePaymentGateway.Control
    // Every attempt of the payment policy (1 + 2 retries) is charged, but no response arrives.
    yield* control.loseNextResponses(3)
    const fiber = yield* Effect.forkChild(place(`u-${seed}`, "k", cartId, paymentMethodId))
    yield* TestClock.adjust("1 minute")
    const placed = yield* Fiber.join(fiber)
    yield* TestClock.adjust("2 minutes")
    const report = yield* Recovery.recoverOrders()
    const checkout = yield* Checkout.Checkout
    const order = yield* checkout.getOrder(`u-${seed}`, placed.order.order_id)
    const gateway = yield* FakePaymentGateway.Inspector
    const charges = yield* gateway.chargesFor(placed.order.order_id)
    return { placed: placed.status, status: order.status, charges: charges.length, report }
  }).pipe(Effect.provide(TestTill.layer({ seed })))

// One test per seed, and a real macrotask turn after each: a minute of CPU-bound fibers with no
// turn of the event loop starves the worker's reports to vitest ("Timeout calling onTaskUpdate").
const seedList = Array.from({ length: seeds }, (_, i) => i + 1)
afterEach(() => new Promise<void>((resolve) => setImmediate(resolve)))

describe(`1,000 concurrent checkouts for 100 units: exactly 100 confirmed, 900 out of stock, never negative (${seeds} seeds)`, () => {
  it.effect.each(seedList)("seed %i", (seed) =>
    Effect.gen(function* () {
      const run = yield* hotSkuRun(seed)
      expect(run).toMatchObject({
        confirmed: 100,
        outOfStock: 900,
        level: { on_hand: 0, reserved: 0, available: 0 }
      })
      expect(run.lowestAvailable).toBeGreaterThanOrEqual(0)
    })
  )
})

describe(`a lost charge response: 202, then recovery confirms with exactly one charge (${seeds} seeds)`, () => {
  it.effect.each(seedList)("seed %i", (seed) =>
    Effect.gen(function* () {
      const run = yield* lostResponseRun(seed)
      expect(run).toMatchObject({ placed: 202, status: "confirmed", charges: 1 })
    })
  )
})
