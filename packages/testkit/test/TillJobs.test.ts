/**
 * `Till.layerJobs`: the background work runs by itself, so a 202 completes without a manual drain,
 * and a capture no order keeps is refunded without a manual reconciliation.
 */
import { describe, expect, it } from "@effect/vitest"
import { Checkout, Money, PaymentGateway, Till } from "@till/core"
import { FakePaymentGateway, InMemoryEventPublisher, TestTill } from "@till/testkit"
import { Effect, Fiber, Layer } from "effect"
import { TestClock } from "effect/testing"
import { cartWith, place } from "./fixtures.js"

const journey = Effect.gen(function* () {
  yield* TestTill.stock("mug", "Mug", 1_500, 5)
  const { cartId, paymentMethodId } = yield* cartWith("alice", [["mug", 1]])
  yield* (yield* FakePaymentGateway.Control).unavailableBetween(0, 30_000)
  const placing = yield* Effect.forkChild(place("alice", "k1", cartId, paymentMethodId))
  yield* TestClock.adjust("10 seconds")
  const placed = yield* Fiber.join(placing)
  expect(placed.status).toBe(202)
  // The gateway is back at 30 s; the drainer's backoff (1 s doubling) finds it within a minute.
  for (let i = 0; i < 60; i++) yield* TestClock.adjust("1 second")
  return yield* (yield* Checkout.Checkout).getOrder("alice", placed.order.order_id)
})

describe("Till.layerJobs", () => {
  it.effect(
    "with the jobs layer, a 202 order is confirmed once the gateway is back, and its events published",
    () =>
      Effect.gen(function* () {
        const order = yield* journey
        expect(order.status).toBe("confirmed")
        const published = yield* (yield* InMemoryEventPublisher.Inspector).published
        expect(published.map((e) => e.type)).toContain("order.confirmed")
      }).pipe(Effect.provide(Till.layerJobs.pipe(Layer.provideMerge(TestTill.layer({ seed: 11 })))))
  )

  it.effect(
    "with the jobs layer, a capture no order keeps is refunded once it is older than the saga could be",
    () =>
      Effect.gen(function* () {
        yield* TestTill.stock("mug", "Mug", 1_500, 5)
        const { cartId, paymentMethodId } = yield* cartWith("alice", [["mug", 1]])
        const placed = yield* place("alice", "k1", cartId, paymentMethodId)
        expect(placed.status).toBe(201)
        // Money taken under a key that is no order's (the gateway account is Till's alone).
        const gateway = yield* PaymentGateway.PaymentGateway
        yield* gateway.charge({
          idempotencyKey: "ord_nobody",
          amount: Money.make(999, "USD"),
          paymentMethodId
        })
        const inspector = yield* FakePaymentGateway.Inspector
        expect(yield* inspector.capturedTotal("USD")).toEqual(
          Money.make(placed.order.total.amount + 999, "USD")
        )
        // The runs of the first two minutes leave it: as young, it may be a checkout's still in flight.
        yield* TestClock.adjust("61 seconds")
        expect((yield* inspector.chargesFor("ord_nobody")).map((c) => c.status)).toEqual(["succeeded"])
        yield* TestClock.adjust("2 minutes") // the run three minutes in
        expect((yield* inspector.chargesFor("ord_nobody")).map((c) => c.status)).toEqual(["refunded"])
        expect(yield* inspector.capturedTotal("USD")).toEqual(placed.order.total)
        expect(yield* inspector.refundCount).toBe(1)
      }).pipe(Effect.provide(Till.layerJobs.pipe(Layer.provideMerge(TestTill.layer({ seed: 12 })))))
  )

  it.effect("without it, the order waits for someone to drain the queue", () =>
    Effect.gen(function* () {
      expect((yield* journey).status).toBe("payment_pending")
    }).pipe(Effect.provide(TestTill.layer({ seed: 11 })))
  )
})
