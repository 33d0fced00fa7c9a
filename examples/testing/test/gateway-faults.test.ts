/**
 * The fake payment gateway's fault injection (`FakePaymentGateway.Control`) against the shop's
 * checkout: a 503 storm, declines, latency past the payment timeout, a charge whose answer is
 * lost. Time is `TestClock`'s (`it.effect` provides it): the payment policy's timeouts and
 * backoffs (10 s a try, retried after 1 s and 3 s) run on it, so a 34-second outage takes no
 * real time. A call that sleeps is forked, the clock moved, then the fiber joined.
 */
import { describe, expect, it } from "@effect/vitest"
import { Checkout, InventoryStore, Sku, Till } from "@till/core"
import { FakePaymentGateway, TestTill } from "@till/testkit"
import { type Duration, Effect, Fiber, Layer, Option } from "effect"
import { TestClock } from "effect/testing"
import { buy, pay, readyToPay } from "../shop.js"

const stockOf = (sku: string) =>
  Effect.flatMap(InventoryStore.InventoryStore, (store) => store.level(Sku.make(sku))).pipe(
    Effect.map(Option.getOrThrow)
  )

/** `effect` run while the test clock moves `by`. */
const after = <A, E, R>(by: Duration.Input, effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function* () {
    const fiber = yield* Effect.forkChild(effect)
    yield* TestClock.adjust(by)
    return yield* Fiber.join(fiber)
  })

/** The shop as it runs in production: core's services and background jobs over the ports. */
const withJobs = (seed: number) => Till.layerJobs.pipe(Layer.provideMerge(TestTill.layer({ seed })))

const mug = { userId: "alice", lines: [["mug", 1]] as const, cardNumber: FakePaymentGateway.successCard }

describe("the fake gateway's faults", () => {
  it.effect("a 503 storm: 202 with the stock held; the retry drainer confirms it once the storm ends", () =>
    Effect.gen(function* () {
      yield* TestTill.stock("mug", "Till mug", 1_500, 10)
      const ready = yield* readyToPay(mug)
      yield* (yield* FakePaymentGateway.Control).unavailableBetween(0, 60_000)

      const placed = yield* after("10 seconds", pay("alice", "k1", ready))
      expect(placed.status).toBe(202)
      expect(placed.order.status).toBe("payment_pending")
      expect(yield* stockOf("mug")).toMatchObject({ on_hand: 10, reserved: 1 })

      // Nobody calls anything: the background drainer retries as the clock passes the storm.
      yield* TestClock.adjust("5 minutes")
      const order = yield* (yield* Checkout.Checkout).getOrder("alice", placed.order.order_id)
      expect(order.status).toBe("confirmed")
      expect(yield* stockOf("mug")).toMatchObject({ on_hand: 9, reserved: 0 })
      const gateway = yield* FakePaymentGateway.Inspector
      expect(yield* gateway.chargesFor(placed.order.order_id)).toHaveLength(1)
    }).pipe(Effect.provide(withJobs(11)))
  )

  it.effect("declines by rate: a good card is declined while declineRate is 1, paid after a reset", () =>
    Effect.gen(function* () {
      yield* TestTill.stock("mug", "Till mug", 1_500, 10)
      const control = yield* FakePaymentGateway.Control
      yield* control.setFaults({ declineRate: 1 })
      const declined = yield* Effect.flip(buy({ ...mug, key: "k1" }))
      expect(declined).toMatchObject({ _tag: "PaymentDeclined", declineCode: "card_declined" })
      expect(yield* stockOf("mug")).toMatchObject({ reserved: 0, available: 10 })

      yield* control.reset
      const paid = yield* buy({ ...mug, key: "k2" })
      expect(paid.status).toBe(201)
    }).pipe(Effect.provide(TestTill.layer({ seed: 12 })))
  )

  it.effect("latency past the 10 s timeout: three tries, 202 after 34 s, no money moved", () =>
    Effect.gen(function* () {
      yield* TestTill.stock("mug", "Till mug", 1_500, 10)
      const ready = yield* readyToPay(mug)
      yield* (yield* FakePaymentGateway.Control).setFaults({ latencyMs: 11_000 })

      const fiber = yield* Effect.forkChild(pay("alice", "k1", ready))
      // 10 s + 1 s + 10 s + 3 s + 10 s: the third try times out at 34 s.
      yield* TestClock.adjust("33 seconds")
      expect(fiber.pollUnsafe()).toBeUndefined()
      yield* TestClock.adjust("1 second")
      const placed = yield* Fiber.join(fiber)
      expect(placed.status).toBe(202)
      const gateway = yield* FakePaymentGateway.Inspector
      expect((yield* gateway.callCounts).charge).toBe(3)
      expect(yield* gateway.chargesFor(placed.order.order_id)).toHaveLength(0)
    }).pipe(Effect.provide(TestTill.layer({ seed: 13 })))
  )

  it.effect("a lost response: the charge was made, the retry under the same key confirms it, once", () =>
    Effect.gen(function* () {
      yield* TestTill.stock("mug", "Till mug", 1_500, 10)
      const ready = yield* readyToPay(mug)
      yield* (yield* FakePaymentGateway.Control).loseNextResponses(1)

      const placed = yield* after("5 seconds", pay("alice", "k1", ready))
      expect(placed.status).toBe(201)
      const gateway = yield* FakePaymentGateway.Inspector
      expect((yield* gateway.callCounts).charge).toBe(2)
      expect(yield* gateway.chargesFor(placed.order.order_id)).toHaveLength(1)
      expect((yield* gateway.capturedTotal("USD")).amount).toBe(placed.order.total.amount)
    }).pipe(Effect.provide(TestTill.layer({ seed: 14 })))
  )
})
