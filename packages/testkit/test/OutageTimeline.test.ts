/**
 * The seed's outage timeline on the full saga: the gateway answers 503 from T+0 to T+30 s
 * while checkouts keep arriving. The payment breaker opens, checkouts answer "payment
 * queued" (202, never an error), the breaker goes half-open and closes once the gateway is
 * back, the retry queue drains, every order ends confirmed and charged exactly once, and
 * carts keep working throughout.
 */
import { expect, it } from "@effect/vitest"
import { Carts, Checkout, PaymentRetryQueue, Resilience, RetryDrainer, Sku } from "@till/core"
import { Effect, Fiber, PubSub, Result } from "effect"
import { TestClock } from "effect/testing"
import { FakePaymentGateway, TestTill } from "@till/testkit"
import { cartWith, place } from "./fixtures.js"

it.effect(
  "outage timeline: 503s for 30 s, breaker opens, 202s, half-open, closed, queue drains, all confirmed once",
  () =>
    Effect.gen(function* () {
      yield* TestTill.stock("mug", "Till mug", 1_500, 1_000)
      const shoppers = 40
      const prepared = yield* Effect.forEach(
        Array.from({ length: shoppers }, (_, i) => `shopper-${i}`),
        (user) => Effect.map(cartWith(user, [["mug", 1]]), (cart) => ({ user, ...cart }))
      )
      const browsing = yield* cartWith("browser", [["mug", 1]])
      const resilience = yield* Resilience.Resilience
      const transitions = yield* resilience.breaker("payment").subscribe
      const control = yield* FakePaymentGateway.Control
      yield* control.unavailableBetween(0, 30_000)

      const carts = yield* Carts.Carts
      const checkout = yield* Checkout.Checkout
      const placing: Array<Fiber.Fiber<Result.Result<Checkout.Placed, Checkout.CheckoutError>>> = []
      let cartOpsDuringOutage = 0
      // One checkout per second for the first 40 s; the drainer polls every second for 4 minutes.
      for (let second = 0; second < 240; second++) {
        if (second < shoppers) {
          const s = prepared[second]!
          placing.push(
            yield* Effect.forkChild(Effect.result(place(s.user, `k-${second}`, s.cartId, s.paymentMethodId)))
          )
          yield* carts.setQuantity("browser", browsing.cartId, Sku.make("mug"), (second % 5) + 1)
          if (second < 30) cartOpsDuringOutage++
        }
        yield* Effect.forkChild(RetryDrainer.drainOnce((orderId) => checkout.resume(orderId)))
        yield* TestClock.adjust("1 second")
      }

      const answers = yield* Effect.forEach(placing, Fiber.join)
      expect(answers.every(Result.isSuccess)).toBe(true)
      const placed = answers.map((a) => Result.getOrThrow(a))
      // Everything placed while the gateway was down was queued, not refused.
      expect(placed.slice(0, 25).every((p) => p.status === 202)).toBe(true)
      expect(cartOpsDuringOutage).toBe(30)

      const seen = Array.from(yield* PubSub.takeUpTo(transitions, Number.POSITIVE_INFINITY)).map(
        (t) => `${t.from}->${t.to}`
      )
      expect(seen.slice(0, 3)).toEqual(["closed->open", "open->halfOpen", "halfOpen->closed"])
      expect(yield* resilience.breaker("payment").state).toBe("closed")

      const queue = yield* PaymentRetryQueue.PaymentRetryQueue
      expect(yield* queue.size).toBe(0)
      const gateway = yield* FakePaymentGateway.Inspector
      for (const { order } of placed) {
        expect((yield* checkout.getOrder(order.user_id, order.order_id)).status).toBe("confirmed")
        expect(yield* gateway.chargesFor(order.order_id)).toHaveLength(1)
      }
    }).pipe(Effect.provide(TestTill.layer({ seed: 30 })))
)
