/**
 * Time with `TestClock`: a stock hold that runs out while the gateway is down, the payment
 * breaker opening and half-opening after its wait, and the team's own breaker around its
 * recommendation service. Minutes pass in milliseconds, and always the same way.
 */
import { describe, expect, it } from "@effect/vitest"
import { Checkout, InventoryStore, Outbox, Resilience, Sku, Till } from "@till/core"
import { FakePaymentGateway, InMemoryEventPublisher, TestTill } from "@till/testkit"
import { Effect, Fiber, Layer, Option, Ref } from "effect"
import { TestClock } from "effect/testing"
import { cartWith, pay, recommendations, recommendationsBreaker, saveCard } from "../shop.js"

const stockOf = (sku: string) =>
  Effect.flatMap(InventoryStore.InventoryStore, (store) => store.level(Sku.make(sku))).pipe(
    Effect.map(Option.getOrThrow)
  )

const minutes = (n: number) => n * 60_000

/**
 * A checkout of one mug with a saved card while the test clock moves 10 s: the payment policy's
 * backoffs (1 s, 3 s) pass. The card is saved before a storm starts (tokenizing calls the gateway).
 */
const payOver10Seconds = (userId: string, paymentMethodId: string) =>
  Effect.gen(function* () {
    const cartId = yield* cartWith(userId, [["mug", 1]])
    const fiber = yield* Effect.forkChild(pay(userId, "k", { cartId, paymentMethodId }))
    yield* TestClock.adjust("10 seconds")
    return yield* Fiber.join(fiber)
  })

describe("time, on TestClock", () => {
  it.effect(
    "a hold runs out while the gateway is down: the order expires, its stock comes back, no charge",
    () =>
      Effect.gen(function* () {
        yield* TestTill.stock("mug", "Till mug", 1_500, 5)
        const card = yield* saveCard(FakePaymentGateway.successCard)
        yield* (yield* FakePaymentGateway.Control).unavailableBetween(0, minutes(20))
        const placed = yield* payOver10Seconds("alice", card)
        expect(placed.status).toBe(202)
        // The hold is the checkout's holdMs (15 minutes by default), from the order's creation.
        expect(placed.order.hold_expires_at - Date.parse(placed.order.created_at)).toBe(minutes(15))

        const checkout = yield* Checkout.Checkout
        yield* TestClock.adjust(minutes(14))
        expect((yield* checkout.getOrder("alice", placed.order.order_id)).status).toBe("payment_pending")
        expect(yield* stockOf("mug")).toMatchObject({ reserved: 1, available: 4 })

        // Past the hold, its settle grace and the storm: the jobs (drainer, recovery) find no charge
        // for the order's key and expire it; nothing was charged and nothing will be.
        yield* TestClock.adjust(minutes(10))
        expect((yield* checkout.getOrder("alice", placed.order.order_id)).status).toBe("expired")
        expect(yield* stockOf("mug")).toEqual({ sku: "mug", on_hand: 5, reserved: 0, available: 5 })
        const gateway = yield* FakePaymentGateway.Inspector
        expect(yield* gateway.chargesFor(placed.order.order_id)).toHaveLength(0)
        yield* Outbox.drain()
        const events = yield* (yield* InMemoryEventPublisher.Inspector).published
        expect(events.filter((e) => e.aggregate_id === placed.order.order_id).map((e) => e.type)).toContain(
          "order.expired"
        )
      }).pipe(Effect.provide(Till.layerJobs.pipe(Layer.provideMerge(TestTill.layer({ seed: 21 })))))
  )

  it.effect(
    "the payment breaker opens in a storm, stops calling the gateway, half-opens after 60 s, closes",
    () =>
      Effect.gen(function* () {
        yield* TestTill.stock("mug", "Till mug", 1_500, 100)
        const card = yield* saveCard(FakePaymentGateway.successCard)
        yield* (yield* FakePaymentGateway.Control).unavailableBetween(0, minutes(5))
        const breaker = (yield* Resilience.Resilience).breaker("payment")
        const gateway = yield* FakePaymentGateway.Inspector

        // Each checkout in the storm tries the charge 3 times. The window is judged from its 20th call
        // (saving the card was the first, a success): 19 of 20 failed, over the 50 % threshold, so
        // the 7th checkout opens it. Every checkout still answers 202: the payment is queued.
        let checkouts = 0
        while ((yield* breaker.state) === "closed" && checkouts < 20) {
          checkouts++
          expect((yield* payOver10Seconds(`storm-${checkouts}`, card)).status).toBe(202)
        }
        expect(yield* breaker.state).toBe("open")
        expect(checkouts).toBe(7)

        // Open: a checkout is queued at once, without a call to the gateway.
        const calls = (yield* gateway.callCounts).charge
        expect((yield* payOver10Seconds("while-open", card)).status).toBe(202)
        expect((yield* gateway.callCounts).charge).toBe(calls)

        // After the storm and the breaker's 60 s wait, the next call is let through as a probe.
        yield* TestClock.adjust(minutes(5))
        expect((yield* payOver10Seconds("probe-1", card)).status).toBe(201)
        expect(yield* breaker.state).toBe("halfOpen")
        // Ten successful probes (permittedNumberOfCallsInHalfOpenState) close it.
        for (let i = 2; i <= 10; i++) expect((yield* payOver10Seconds(`probe-${i}`, card)).status).toBe(201)
        expect(yield* breaker.state).toBe("closed")
      }).pipe(Effect.provide(TestTill.layer({ seed: 22 })))
  )

  it.effect("our recommendations: the breaker opens after 5 failures, waits 30 s, two probes close it", () =>
    Effect.gen(function* () {
      const breaker = yield* recommendationsBreaker
      const calls = yield* Ref.make(0)
      const up = yield* Ref.make(false)
      const service = (sku: string) =>
        Effect.gen(function* () {
          yield* Ref.update(calls, (n) => n + 1)
          if (!(yield* Ref.get(up))) return yield* Effect.fail(new Error("recommendations: 500"))
          return [`${sku}-saucer`, `${sku}-spoon`]
        })
      const shown = () => recommendations(breaker, service, "mug")

      for (let i = 0; i < 5; i++) expect(yield* shown()).toEqual([])
      expect(yield* breaker.state).toBe("open")
      expect(yield* Ref.get(calls)).toBe(5)

      // Open: the page renders without recommendations and the service is left alone.
      yield* Ref.set(up, true)
      yield* TestClock.adjust("29 seconds")
      expect(yield* shown()).toEqual([])
      expect(yield* Ref.get(calls)).toBe(5)

      // After the 30 s wait the next call is a probe; two good probes close the breaker.
      yield* TestClock.adjust("1 second")
      expect(yield* shown()).toEqual(["mug-saucer", "mug-spoon"])
      expect(yield* breaker.state).toBe("halfOpen")
      expect(yield* shown()).toEqual(["mug-saucer", "mug-spoon"])
      expect(yield* breaker.state).toBe("closed")
      expect(yield* Ref.get(calls)).toBe(7)
    })
  )
})
