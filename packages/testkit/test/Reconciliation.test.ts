/**
 * Reconciliation against the fake gateway's late captures (review bug 10: "An expired order whose
 * charge lands late is never refunded. Expiry trusts the gateway's silence after a grace period
 * and nothing looks again.").
 */
import { describe, expect, it } from "@effect/vitest"
import { Checkout, Money, Order, PaymentGateway, Reconciliation, Recovery } from "@till/core"
import { Effect, Fiber, Schedule } from "effect"
import { TestClock } from "effect/testing"
import { FakePaymentGateway, InMemoryOrderStore, TestTill } from "@till/testkit"
import { cartWith, place } from "./fixtures.js"

const minutes = (n: number) => n * 60 * 1000

/** The gateway calls of a run retry on the clock: run it while TestClock moves 30 s. */
const whileTimeMoves = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function* () {
    const fiber = yield* Effect.forkChild(effect)
    yield* TestClock.adjust("30 seconds")
    return yield* Fiber.join(fiber)
  })

const reconcile = (sinceMs = 0) => whileTimeMoves(Reconciliation.reconcileOnce(sinceMs))

const orderOf = (orderId: string) =>
  Effect.flatMap(InMemoryOrderStore.Inspector, (inspector) =>
    Effect.map(inspector.orders, (orders) => orders.find((o) => o.order_id === orderId)!)
  )

const eventTypesOf = (orderId: string) =>
  Effect.flatMap(InMemoryOrderStore.Inspector, (inspector) =>
    Effect.map(inspector.outbox, (outbox) =>
      outbox.filter(({ event }) => event.aggregate_id === orderId).map(({ event }) => event.type)
    )
  )

/** A capture the saga never made: a charge straight at the gateway under `key`. */
const strayCharge = (key: string, paymentMethodId: string) =>
  Effect.flatMap(PaymentGateway.PaymentGateway, (gateway) =>
    gateway.charge({ idempotencyKey: key, amount: Money.make(999, "USD"), paymentMethodId })
  )

describe("Reconciliation", () => {
  it.effect("bug 10: an order expired while the gateway was silent; its late capture is refunded", () =>
    Effect.gen(function* () {
      yield* TestTill.stock("mug", "Till mug", 1_500, 10)
      const { cartId, paymentMethodId } = yield* cartWith("u", [["mug", 2]])
      const control = yield* FakePaymentGateway.Control
      const gateway = yield* FakePaymentGateway.Inspector
      // The charge is answered "unavailable" and captured 20 minutes later: after the hold
      // (15 min) and the settle grace (60 s) have passed with the gateway silent.
      yield* control.setFaults({ lateCaptureMs: minutes(20) })
      yield* control.captureNextLate(1)
      const placed = yield* whileTimeMoves(place("u", "k", cartId, paymentMethodId))
      expect(placed).toMatchObject({ status: 202, order: { status: "payment_pending" } })
      const orderId = placed.order.order_id

      yield* TestClock.adjust(minutes(16))
      expect((yield* whileTimeMoves(Recovery.recoverOrders())).ordersResumed).toBe(1)
      expect((yield* orderOf(orderId)).status).toBe("expired")
      expect(yield* gateway.chargesFor(orderId)).toEqual([])

      // The capture lands. Recovery has nothing in flight to look at: without reconciliation the
      // money stays taken for an expired order.
      yield* TestClock.adjust(minutes(3))
      const [charge] = yield* gateway.chargesFor(orderId)
      expect(charge).toMatchObject({ status: "succeeded", captured_at_ms: minutes(20) })
      expect(yield* whileTimeMoves(Recovery.recoverOrders())).toMatchObject({ ordersResumed: 0 })
      expect((yield* orderOf(orderId)).payment?.status).not.toBe("refunded")
      expect(yield* gateway.capturedTotal("USD")).toEqual(placed.order.total)

      expect(yield* reconcile()).toEqual({
        capturesRead: 1,
        capturesSettled: 0,
        ordersResumed: 1,
        strayCapturesRefunded: 0,
        capturesLeftForLater: 0,
        capturesTooRecent: 0,
        cursor: null
      } satisfies Reconciliation.Report)
      const order = yield* orderOf(orderId)
      expect(order.status).toBe("expired")
      expect(order.payment).toMatchObject({ status: "refunded", charge_id: charge!.charge_id })
      expect(yield* eventTypesOf(orderId)).toContain("payment.refunded")
      expect(yield* gateway.capturedTotal("USD")).toEqual(Money.zero("USD"))
      expect(yield* gateway.refundCount).toBe(1)

      // A second scan over the same capture finds it settled and moves nothing.
      expect(yield* reconcile()).toMatchObject({ capturesRead: 1, capturesSettled: 1, ordersResumed: 0 })
      expect(yield* gateway.refundCount).toBe(1)
    }).pipe(Effect.provide(TestTill.layer({ seed: 41 })))
  )

  it.effect("a late capture of an order still in flight confirms it", () =>
    Effect.gen(function* () {
      yield* TestTill.stock("mug", "Till mug", 1_500, 10)
      const { cartId, paymentMethodId } = yield* cartWith("u", [["mug", 1]])
      const control = yield* FakePaymentGateway.Control
      yield* control.setFaults({ lateCaptureMs: minutes(2) })
      yield* control.captureNextLate(1)
      const placed = yield* whileTimeMoves(place("u", "k", cartId, paymentMethodId))
      expect(placed.order.status).toBe("payment_pending")
      yield* TestClock.adjust(minutes(2))
      expect(yield* reconcile()).toMatchObject({ capturesRead: 1, ordersResumed: 1 })
      const order = yield* orderOf(placed.order.order_id)
      expect(order.status).toBe("confirmed")
      const [charge] = yield* (yield* FakePaymentGateway.Inspector).chargesFor(placed.order.order_id)
      expect(order.payment).toMatchObject({ status: "succeeded", charge_id: charge!.charge_id })
    }).pipe(Effect.provide(TestTill.layer({ seed: 42 })))
  )

  it.effect(
    "a capture made at or after capturedBeforeMs is left to its checkout, counted as too recent",
    () =>
      Effect.gen(function* () {
        yield* TestTill.stock("mug", "Till mug", 1_500, 10)
        const { paymentMethodId } = yield* cartWith("u", [["mug", 1]])
        yield* TestClock.adjust(minutes(5))
        const stray = yield* strayCharge("ord_nobody", paymentMethodId)
        const at = minutes(5)
        expect(stray.captured_at_ms).toBe(at)
        const young = yield* whileTimeMoves(Reconciliation.reconcileOnce(0, { capturedBeforeMs: at }))
        expect(young).toMatchObject({ capturesRead: 1, capturesTooRecent: 1, strayCapturesRefunded: 0 })
        const gateway = yield* FakePaymentGateway.Inspector
        expect((yield* gateway.chargesFor("ord_nobody"))[0]!.status).toBe("succeeded")
        const old = yield* whileTimeMoves(Reconciliation.reconcileOnce(0, { capturedBeforeMs: at + 1 }))
        expect(old).toMatchObject({ capturesRead: 1, capturesTooRecent: 0, strayCapturesRefunded: 1 })
        expect((yield* gateway.chargesFor("ord_nobody"))[0]!.status).toBe("refunded")
      }).pipe(Effect.provide(TestTill.layer({ seed: 44 })))
  )

  it.effect("a confirmed order's capture is left alone; a capture under an unknown key is refunded", () =>
    Effect.gen(function* () {
      yield* TestTill.stock("mug", "Till mug", 1_500, 10)
      const { cartId, paymentMethodId } = yield* cartWith("u", [["mug", 1]])
      const placed = yield* place("u", "k", cartId, paymentMethodId)
      expect(placed.status).toBe(201)
      const stray = yield* strayCharge("ord_nobody", paymentMethodId)

      expect(yield* reconcile()).toMatchObject({
        capturesRead: 2,
        capturesSettled: 1,
        ordersResumed: 0,
        strayCapturesRefunded: 1,
        capturesLeftForLater: 0
      })
      const order = yield* orderOf(placed.order.order_id)
      expect(order).toEqual(placed.order)
      const gateway = yield* FakePaymentGateway.Inspector
      expect((yield* gateway.chargesFor(placed.order.order_id)).map((c) => c.status)).toEqual(["succeeded"])
      expect((yield* gateway.chargesFor("ord_nobody")).map((c) => c.charge_id)).toEqual([stray.charge_id])
      expect((yield* gateway.chargesFor("ord_nobody"))[0]!.status).toBe("refunded")
      expect(yield* gateway.capturedTotal("USD")).toEqual(placed.order.total)
    }).pipe(Effect.provide(TestTill.layer({ seed: 43 })))
  )

  it.effect("a capture under an older payment attempt's key is refunded; the order keeps its own", () =>
    Effect.gen(function* () {
      yield* TestTill.stock("mug", "Till mug", 1_500, 10)
      const { cartId, paymentMethodId: declining } = yield* cartWith(
        "u",
        [["mug", 1]],
        FakePaymentGateway.declineCard
      )
      const first = yield* Effect.flip(place("u", "k", cartId, declining))
      expect(first._tag).toBe("PaymentDeclined")
      const orderId = (first as { orderId: string }).orderId
      const { paymentMethodId: good } = yield* cartWith("u2", [], FakePaymentGateway.successCard)
      const checkout = yield* Checkout.Checkout
      const retried = yield* checkout.retryPayment({
        userId: "u",
        orderId,
        idempotencyKey: "k2",
        request: new Checkout.PaymentRetryRequest({ payment_method_id: good })
      })
      expect(retried.order).toMatchObject({ status: "confirmed", payment_attempt: 2 })
      // Attempt 1 was declined, so its key never captures: only a gateway that breaks its own
      // keys (the planted switch, for this one call) can leave a capture under it.
      expect(Order.paymentKey({ order_id: orderId, payment_attempt: 1 })).toBe(orderId)
      const control = yield* FakePaymentGateway.Control
      yield* control.setFaults({ ignoreIdempotencyKey: true })
      const stray = yield* strayCharge(orderId, good)
      yield* control.reset

      expect(yield* reconcile()).toMatchObject({
        capturesRead: 2,
        capturesSettled: 1,
        strayCapturesRefunded: 1
      })
      const gateway = yield* FakePaymentGateway.Inspector
      expect((yield* gateway.chargesFor(orderId)).map((c) => [c.charge_id, c.status])).toEqual([
        [stray.charge_id, "refunded"]
      ])
      const kept = yield* gateway.chargesFor(`${orderId}:2`)
      expect(kept.map((c) => c.status)).toEqual(["succeeded"])
      expect(yield* orderOf(orderId)).toEqual(retried.order)
    }).pipe(Effect.provide(TestTill.layer({ seed: 44 })))
  )

  it.effect("runEvery keeps its cursor: a page at a time, every capture is reached", () =>
    Effect.gen(function* () {
      yield* TestTill.stock("mug", "Till mug", 1_500, 10)
      const { paymentMethodId } = yield* cartWith("u", [])
      for (const key of ["x1", "x2", "x3"]) {
        yield* strayCharge(key, paymentMethodId)
        yield* TestClock.adjust("1 second")
      }
      const runs = yield* Effect.forkChild(
        Reconciliation.runEvery(Schedule.spaced("1 minute"), { limit: 1, pagesPerRun: 1, minAgeMs: 0 })
      )
      const gateway = yield* FakePaymentGateway.Inspector
      const refunded = Effect.map(
        gateway.allCharges,
        (all) => all.filter((c) => c.status === "refunded").length
      )
      yield* TestClock.adjust("1 second")
      expect(yield* refunded).toBe(1)
      yield* TestClock.adjust("1 minute")
      expect(yield* refunded).toBe(2)
      yield* TestClock.adjust("1 minute")
      expect(yield* refunded).toBe(3)
      yield* Fiber.interrupt(runs)
    }).pipe(Effect.provide(TestTill.layer({ seed: 45 })))
  )

  it("parsePaymentKey inverts paymentKey", () => {
    for (const attempt of [1, 2, 17]) {
      const key = Order.paymentKey({ order_id: "ord_abc", payment_attempt: attempt })
      expect(Order.parsePaymentKey(key)).toEqual({ orderId: "ord_abc", attempt })
    }
    expect(Order.parsePaymentKey("ord_abc:1")).toEqual({ orderId: "ord_abc:1", attempt: 1 })
    expect(Order.parsePaymentKey("weird:key")).toEqual({ orderId: "weird:key", attempt: 1 })
  })
})
