import { describe, expect, it } from "@effect/vitest"
import { Checkout, InventoryStore, Sku } from "@till/core"
import { Effect, Fiber, Option, Result } from "effect"
import { TestClock } from "effect/testing"
import { FakePaymentGateway, InMemoryOrderStore, TestTill } from "@till/testkit"
import { cartWith, place } from "./fixtures.js"

const failure = <A, E>(result: Result.Result<A, E>) => Result.getFailure(result).pipe(Option.getOrThrow)

describe("Checkout idempotency (Stripe semantics)", () => {
  it.effect("the same key and body answer the first answer, and nothing happens twice", () =>
    Effect.gen(function* () {
      yield* TestTill.stock("mug", "Till mug", 1_500, 10)
      const { cartId, paymentMethodId } = yield* cartWith("u1", [["mug", 3]])
      const first = yield* place("u1", "same-key", cartId, paymentMethodId)
      const second = yield* place("u1", "same-key", cartId, paymentMethodId)
      expect(second).toEqual(first)
      const orders = yield* InMemoryOrderStore.Inspector
      expect(yield* orders.orders).toHaveLength(1)
      const gateway = yield* FakePaymentGateway.Inspector
      expect((yield* gateway.callCounts).charge).toBe(1)
      const level = yield* Effect.flatMap(InventoryStore.InventoryStore, (s) => s.level(Sku.make("mug")))
      expect(Option.getOrThrow(level)).toMatchObject({ on_hand: 7, reserved: 0 })
      const events = (yield* orders.outbox).map((e) => e.event.event_id)
      expect(new Set(events).size).toBe(events.length)
    }).pipe(Effect.provide(TestTill.layer({ seed: 11 })))
  )

  it.effect("a replayed decline answers the same decline (402) without charging again", () =>
    Effect.gen(function* () {
      yield* TestTill.stock("mug", "Till mug", 1_500, 10)
      const { cartId, paymentMethodId } = yield* cartWith("u1", [["mug", 1]], FakePaymentGateway.declineCard)
      const first = failure(yield* Effect.result(place("u1", "k", cartId, paymentMethodId)))
      const second = failure(yield* Effect.result(place("u1", "k", cartId, paymentMethodId)))
      expect(first._tag).toBe("PaymentDeclined")
      expect(second).toEqual(first)
      const gateway = yield* FakePaymentGateway.Inspector
      expect((yield* gateway.callCounts).charge).toBe(1)
    }).pipe(Effect.provide(TestTill.layer({ seed: 12 })))
  )

  it.effect("the same key with a different body is a conflict, and changes nothing", () =>
    Effect.gen(function* () {
      yield* TestTill.stock("mug", "Till mug", 1_500, 10)
      const a = yield* cartWith("u1", [["mug", 1]])
      const b = yield* cartWith("u1", [["mug", 2]])
      yield* place("u1", "k", a.cartId, a.paymentMethodId)
      const conflict = failure(yield* Effect.result(place("u1", "k", b.cartId, b.paymentMethodId)))
      expect(conflict._tag).toBe("IdempotencyConflict")
      const orders = yield* InMemoryOrderStore.Inspector
      expect(yield* orders.orders).toHaveLength(1)
    }).pipe(Effect.provide(TestTill.layer({ seed: 13 })))
  )

  it.effect(
    "a second request while the first is in flight gets RequestInFlight; afterwards the first answer",
    () =>
      Effect.gen(function* () {
        yield* TestTill.stock("mug", "Till mug", 1_500, 10)
        const { cartId, paymentMethodId } = yield* cartWith("u1", [["mug", 1]])
        const control = yield* FakePaymentGateway.Control
        yield* control.setFaults({ latencyMs: 2_000 })
        const first = yield* Effect.forkChild(place("u1", "k", cartId, paymentMethodId))
        yield* TestClock.adjust("1 second")
        const during = failure(yield* Effect.result(place("u1", "k", cartId, paymentMethodId)))
        expect(during._tag).toBe("RequestInFlight")
        yield* TestClock.adjust("5 seconds")
        const answer = yield* Fiber.join(first)
        expect(answer.status).toBe(201)
        yield* control.reset
        expect(yield* place("u1", "k", cartId, paymentMethodId)).toEqual(answer)
      }).pipe(Effect.provide(TestTill.layer({ seed: 14 })))
  )

  it.effect("keys are scoped per user", () =>
    Effect.gen(function* () {
      yield* TestTill.stock("mug", "Till mug", 1_500, 10)
      const a = yield* cartWith("u1", [["mug", 1]])
      const b = yield* cartWith("u2", [["mug", 1]])
      const one = yield* place("u1", "shared", a.cartId, a.paymentMethodId)
      const two = yield* place("u2", "shared", b.cartId, b.paymentMethodId)
      expect(one.order.order_id).not.toBe(two.order.order_id)
      expect(two.order.user_id).toBe("u2")
    }).pipe(Effect.provide(TestTill.layer({ seed: 15 })))
  )

  it.effect("a key longer than 255 characters is refused before anything happens", () =>
    Effect.gen(function* () {
      yield* TestTill.stock("mug", "Till mug", 1_500, 10)
      const { cartId, paymentMethodId } = yield* cartWith("u1", [["mug", 1]])
      const tooLong = failure(yield* Effect.result(place("u1", "k".repeat(256), cartId, paymentMethodId)))
      expect(tooLong._tag).toBe("ValidationError")
      const empty = failure(yield* Effect.result(place("u1", "", cartId, paymentMethodId)))
      expect(empty._tag).toBe("ValidationError")
    }).pipe(Effect.provide(TestTill.layer({ seed: 16 })))
  )

  it.effect("a transient failure leaves the key retryable, and the retry reuses the first order id", () =>
    Effect.gen(function* () {
      yield* TestTill.stock("mug", "Till mug", 1_500, 10)
      const { cartId, paymentMethodId } = yield* cartWith("u1", [["mug", 1]])
      const control = yield* FakePaymentGateway.Control
      // Interrupt the first request mid-charge (a crash): the lease is abandoned.
      yield* control.hangNextCharges(1)
      const first = yield* Effect.forkChild(place("u1", "k", cartId, paymentMethodId))
      yield* TestClock.adjust("100 millis")
      yield* Fiber.interrupt(first)
      const orders = yield* InMemoryOrderStore.Inspector
      const [created] = yield* orders.orders
      expect(created?.status).toBe("pending")
      yield* control.reset
      const retried = yield* place("u1", "k", cartId, paymentMethodId)
      expect(retried.order.order_id).toBe(created?.order_id)
      expect(retried.status).toBe(201)
      expect(yield* orders.orders).toHaveLength(1)
      const gateway = yield* FakePaymentGateway.Inspector
      expect(yield* gateway.chargesFor(retried.order.order_id)).toHaveLength(1)
      const checkout = yield* Checkout.Checkout
      expect((yield* checkout.getOrder("u1", retried.order.order_id)).status).toBe("confirmed")
    }).pipe(Effect.provide(TestTill.layer({ seed: 17 })))
  )
})
