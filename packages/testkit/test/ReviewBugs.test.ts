/**
 * Three races the code review found in the checkout core, each reproduced deterministically
 * under TestClock. Every test asserts the correct behaviour; all three failed on the code before
 * the one-transaction order steps (569f5e5, with the old ports: `update` and `release` were the
 * slow methods, hence those names below beside today's `step`).
 *
 * Store latency is injected by `slow`, a generic wrapper over whatever methods a port has (the
 * store ports are about to change shape): `{ name: ms, "*": ms }` delays each call before it
 * runs, so a compare-and-set or a release takes effect at the END of its delay. Names a port
 * does not have are ignored. Outcomes are read only through the checkout service, stock levels,
 * the fake gateway's money and the order store's Inspector.
 */
import { describe, expect, it } from "@effect/vitest"
import { Checkout, InventoryStore, OrderStore, Payments, Recovery, RetryDrainer, Sku } from "@till/core"
import { Context, Effect, Fiber, Layer, Option, Result } from "effect"
import { TestClock } from "effect/testing"
import { FakePaymentGateway, InMemoryInventoryStore, InMemoryOrderStore, TestTill } from "@till/testkit"
import { cartWith, place } from "./fixtures.js"

type Delays = { readonly [method: string]: number }

/** `service` with every function-valued property answering `delays[name] ?? delays["*"]` ms later. */
const slow = <S extends object>(service: S, delays: Delays): S =>
  new Proxy(service, {
    get(target, prop, receiver) {
      const value: unknown = Reflect.get(target, prop, receiver)
      if (typeof value !== "function" || typeof prop !== "string") return value
      const ms = (Object.hasOwn(delays, prop) ? delays[prop] : delays["*"]) ?? 0
      if (ms <= 0) return value
      return (...args: Array<unknown>) =>
        Effect.delay(
          Effect.suspend(() => value.apply(target, args) as Effect.Effect<unknown, unknown>),
          ms
        )
    }
  })

/**
 * A TestTill world whose order and inventory stores are slow. Each store is built once; the
 * core sees the slow port, the test's Inspector the same store without delay.
 */
const world = (seed: number, delays: { readonly orders?: Delays; readonly inventory?: Delays }) => {
  const inventory = Layer.effectContext(
    Effect.sync(() => {
      const stock = InMemoryInventoryStore.book()
      const store = InMemoryInventoryStore.make(stock)
      return Context.make(InventoryStore.InventoryStore, slow(store, delays.inventory ?? {})).pipe(
        Context.add(InMemoryInventoryStore.Inspector, store),
        Context.add(InMemoryInventoryStore.Stock, stock)
      )
    })
  )
  const orders = Layer.effectContext(
    Effect.gen(function* () {
      const store = yield* InMemoryOrderStore.make(yield* InMemoryInventoryStore.Stock)
      return Context.make(OrderStore.OrderStore, slow(store, delays.orders ?? {})).pipe(
        Context.add(InMemoryOrderStore.Inspector, store)
      )
    })
  )
  return Layer.fresh(
    TestTill.services().pipe(
      Layer.provideMerge(TestTill.ports({ seed, inventoryStore: inventory, orderStore: orders }))
    )
  )
}

const level = (sku: string) =>
  Effect.flatMap(InventoryStore.InventoryStore, (s) => s.level(Sku.make(sku))).pipe(
    Effect.map(Option.getOrThrow)
  )

/** The order's status as stored (the Inspector reads past the injected latency). */
const statusOf = (orderId: string) =>
  Effect.flatMap(InMemoryOrderStore.Inspector, (i) =>
    Effect.map(i.orders, (orders) => orders.find((o) => o.order_id === orderId)?.status)
  )

/** Moves the clock 10 ms at a time until `done` holds (at most `maxMs`). */
const advanceUntil = <E, R>(done: Effect.Effect<boolean, E, R>, maxMs = 10_000) =>
  Effect.gen(function* () {
    for (let waited = 0; waited < maxMs && !(yield* done); waited += 10) yield* TestClock.adjust(10)
    expect(yield* done).toBe(true)
  })

/** Runs `effect` to its end while the clock moves on (its store calls sleep under TestClock). */
const settled = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function* () {
    const fiber = yield* Effect.forkChild(effect)
    yield* TestClock.adjust("10 seconds")
    return yield* Fiber.join(fiber)
  })

const tagOf = <A, E extends { readonly _tag: string }>(result: Result.Result<A, E>) =>
  Result.isFailure(result) ? result.failure._tag : "succeeded"

const tokenize = (number: string) =>
  Effect.flatMap(Payments.Payments, (p) =>
    Effect.map(p.tokenize(FakePaymentGateway.card(number)), (m) => m.payment_method_id)
  )

const payAgain = (userId: string, orderId: string, key: string, paymentMethodId: string) =>
  Effect.flatMap(Checkout.Checkout, (c) =>
    c.retryPayment({
      userId,
      orderId,
      idempotencyKey: key,
      request: new Checkout.PaymentRetryRequest({ payment_method_id: paymentMethodId })
    })
  )

/** u1 checks out one `sku` with a declining card while the gateway is down: 202, queued for retry. */
const placeQueued = (sku: string) =>
  Effect.gen(function* () {
    const control = yield* FakePaymentGateway.Control
    const { cartId, paymentMethodId } = yield* cartWith("u1", [[sku, 1]], FakePaymentGateway.declineCard)
    yield* control.setFaults({ unavailableRate: 1 })
    // The payment policy tries 3 times (1 s, 3 s backoff); the retry entry is due 1 s after.
    const placed = yield* settled(place("u1", "checkout-1", cartId, paymentMethodId))
    yield* control.reset
    expect(placed.status).toBe(202)
    expect(placed.order.status).toBe("payment_pending")
    return placed.order.order_id
  })

describe("review bugs (each fails until fixed)", () => {
  it.effect("bug 1: a drainer's late release does not free the unit a confirmed retry sold", () =>
    Effect.gen(function* () {
      yield* TestTill.stock("mug", "Till mug", 1_500, 1)
      const checkout = yield* Checkout.Checkout
      const orderId = yield* placeQueued("mug")
      const good = yield* tokenize(FakePaymentGateway.successCard)

      // T0: the drainer re-charges attempt 1: declined. Its move to payment_failed lands at
      // T0+200; then its compensating release of the hold is in flight until T0+500.
      const drainer = yield* Effect.forkChild(RetryDrainer.drainOnce(checkout.resume))
      yield* advanceUntil(Effect.map(statusOf(orderId), (s) => s === "payment_failed"))

      // T0+200: the buyer pays again at once. Its reserve finds the hold still "held" (the
      // release has not landed) and keeps it; attempt 2 is pending at T0+400, charged, and
      // ensureHeld still sees the hold. T0+500: the drainer's release lands on attempt 2's
      // hold. T0+600: confirmed, and the commit finds a released hold: nothing leaves on_hand.
      const answer = yield* settled(Effect.result(payAgain("u1", orderId, "pay-2", good)))
      yield* Fiber.join(drainer)
      expect(tagOf(answer)).toBe("succeeded")

      // A confirmed order has sold its unit: it left on_hand and no one else can buy it.
      // (Should a fix refuse the retry instead, the unit must still be on the shelf.)
      const confirmed = (yield* statusOf(orderId)) === "confirmed"
      expect(yield* level("mug")).toMatchObject({ on_hand: confirmed ? 0 : 1, reserved: 0 })
      const second = yield* cartWith("u2", [["mug", 1]])
      const other = yield* settled(
        Effect.result(place("u2", "checkout-2", second.cartId, second.paymentMethodId))
      )
      expect(tagOf(other)).toBe(confirmed ? "OutOfStock" : "succeeded")
    }).pipe(Effect.provide(world(101, { orders: { update: 200, step: 200 }, inventory: { release: 300 } })))
  )

  it.effect("bug 2: one cart, two Idempotency-Keys in flight: one order, one charge", () =>
    Effect.gen(function* () {
      yield* TestTill.stock("mug", "Till mug", 1_500, 10)
      const { cartId, paymentMethodId } = yield* cartWith("u1", [["mug", 1]])

      // Each request claims its own key, finds the cart active and reserves a unit; every order
      // store call takes 50 ms, so both orders are created (T+100) before either request marks
      // the cart checked out, and both are charged.
      const answers = yield* settled(
        Effect.all(
          [
            Effect.result(place("u1", "key-a", cartId, paymentMethodId)),
            Effect.result(place("u1", "key-b", cartId, paymentMethodId))
          ],
          { concurrency: 2 }
        )
      )

      const orders = yield* Effect.flatMap(InMemoryOrderStore.Inspector, (i) => i.orders)
      const charges = yield* Effect.flatMap(FakePaymentGateway.Inspector, (i) => i.allCharges)
      expect(answers.map(tagOf).filter((tag) => tag === "succeeded")).toHaveLength(1)
      expect(orders.filter((o) => o.cart_id === cartId).length).toBeLessThanOrEqual(1)
      expect(charges.length).toBeLessThanOrEqual(1)
    }).pipe(Effect.provide(world(102, { orders: { "*": 50 } })))
  )

  it.effect("bug 3: a stale decline of attempt 1 does not land on the buyer's attempt 2", () =>
    Effect.gen(function* () {
      yield* TestTill.stock("mug", "Till mug", 1_500, 5)
      const checkout = yield* Checkout.Checkout
      const orderId = yield* placeQueued("mug")
      const good = yield* tokenize(FakePaymentGateway.successCard)
      const control = yield* FakePaymentGateway.Control
      // Every gateway call takes 100 ms; the next charge also hangs 450 ms before it is processed.
      yield* control.setFaults({ latencyMs: 100, hangMs: 450 })
      yield* control.hangNextCharges(1)

      // T0: two processes resume attempt 1 at once. On the old code two drainers did (both read
      // the same due entry); the claimed queue now hands an entry to one drainer only, so the
      // second is a recovery sweeper, which resumes stuck orders whatever the queue holds. Both
      // find nothing for attempt 1 (T0+100) and charge it (T0+200): one is declined at once and
      // its payment_failed lands at T0+400; the other's charge hangs until T0+650.
      const drainers = yield* Effect.forkChild(
        Effect.all([RetryDrainer.drainOnce(checkout.resume), Recovery.recoverOrders({ staleAfterMs: 0 })], {
          concurrency: 2
        })
      )
      yield* advanceUntil(Effect.map(statusOf(orderId), (s) => s === "payment_failed"))

      // T0+400: the buyer pays again with a good card: attempt 2 is pending at T0+600 and charged
      // at T0+700. T0+650: B gets attempt 1's stored decline; its decline step loads the order,
      // now attempt 2 pending, and moves it to payment_failed (lands T0+850, hold released).
      // T0+900: the buyer's confirm loses its compare-and-set; the good card is refunded.
      const answer = yield* settled(Effect.result(payAgain("u1", orderId, "pay-2", good)))
      yield* Fiber.join(drainers)

      expect(Result.isSuccess(answer) ? answer.success.status : answer.failure._tag).toBe(201)
      expect(yield* statusOf(orderId)).toBe("confirmed")
      const gateway = yield* FakePaymentGateway.Inspector
      expect((yield* gateway.allCharges).map((c) => c.status)).toEqual(["succeeded"])
      expect(yield* gateway.refundCount).toBe(0)
    }).pipe(Effect.provide(world(103, { orders: { update: 200, step: 200 } })))
  )
})
