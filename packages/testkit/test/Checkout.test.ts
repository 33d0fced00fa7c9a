import { describe, expect, it } from "@effect/vitest"
import { Checkout, InventoryStore, Outbox, Sku } from "@till/core"
import { Effect, Fiber, Option, Result } from "effect"
import { TestClock } from "effect/testing"
import { FakePaymentGateway, InMemoryEventPublisher, InMemoryOrderStore, TestTill } from "@till/testkit"
import { cartWith, place } from "./fixtures.js"

const level = (sku: string) =>
  Effect.flatMap(InventoryStore.InventoryStore, (s) => s.level(Sku.make(sku))).pipe(
    Effect.map(Option.getOrThrow)
  )

const publishedTypes = (aggregateId: string) =>
  Effect.gen(function* () {
    yield* Outbox.drain()
    const events = yield* Effect.flatMap(InMemoryEventPublisher.Inspector, (i) => i.published)
    return events.filter((e) => e.aggregate_id === aggregateId).map((e) => e.type)
  })

describe("Checkout saga", () => {
  it.effect("journey 1: add items, check out, confirmed; stock committed; events emitted", () =>
    Effect.gen(function* () {
      yield* TestTill.stock("mug", "Till mug", 1_500, 10)
      yield* TestTill.stock("tee", "Till tee", 2_500, 5)
      const { cartId, paymentMethodId } = yield* cartWith("alice", [
        ["mug", 2],
        ["tee", 1]
      ])

      const placed = yield* place("alice", "key-1", cartId, paymentMethodId)

      expect(placed.status).toBe(201)
      expect(placed.order.status).toBe("confirmed")
      expect(placed.order.subtotal.amount).toBe(2 * 1_500 + 2_500)
      expect(placed.order.total.amount).toBe(
        placed.order.subtotal.amount + placed.order.tax.amount + placed.order.shipping.amount
      )
      expect(placed.order.payment).toMatchObject({ status: "succeeded", brand: "visa", last4: "4242" })
      expect(yield* level("mug")).toEqual({ sku: "mug", on_hand: 8, reserved: 0, available: 8 })
      expect(yield* level("tee")).toEqual({ sku: "tee", on_hand: 4, reserved: 0, available: 4 })
      expect(yield* publishedTypes(placed.order.order_id)).toEqual([
        "order.created",
        "inventory.reserved",
        "order.confirmed",
        "payment.succeeded"
      ])
      const gateway = yield* FakePaymentGateway.Inspector
      expect(yield* gateway.chargesFor(placed.order.order_id)).toHaveLength(1)
    }).pipe(Effect.provide(TestTill.layer({ seed: 1 })))
  )

  it.effect("journey 2: declined, stock released, retried with another card, confirmed", () =>
    Effect.gen(function* () {
      yield* TestTill.stock("lamp", "Desk lamp", 4_000, 3)
      const { cartId, paymentMethodId } = yield* cartWith(
        "bob",
        [["lamp", 2]],
        FakePaymentGateway.declineCard
      )

      const declined = yield* Effect.result(place("bob", "key-1", cartId, paymentMethodId))
      expect(Result.isFailure(declined)).toBe(true)
      const error = Result.getFailure(declined).pipe(Option.getOrThrow)
      expect(error._tag).toBe("PaymentDeclined")
      const orderId = (error as { orderId: string }).orderId
      expect(error).toMatchObject({ declineCode: "card_declined" })
      expect(yield* level("lamp")).toEqual({ sku: "lamp", on_hand: 3, reserved: 0, available: 3 })

      const checkout = yield* Checkout.Checkout
      expect((yield* checkout.getOrder("bob", orderId)).status).toBe("payment_failed")

      const { paymentMethodId: goodCard } = yield* cartWith("bob", [], FakePaymentGateway.successCard)
      const retried = yield* checkout.retryPayment({
        userId: "bob",
        orderId,
        idempotencyKey: "retry-1",
        request: new Checkout.PaymentRetryRequest({ payment_method_id: goodCard })
      })
      expect(retried.status).toBe(201)
      expect(retried.order.status).toBe("confirmed")
      expect(retried.order.payment_attempt).toBe(2)
      expect(yield* level("lamp")).toEqual({ sku: "lamp", on_hand: 1, reserved: 0, available: 1 })
      expect(yield* publishedTypes(orderId)).toEqual([
        "order.created",
        "inventory.reserved",
        "order.payment_failed",
        "payment.failed",
        "inventory.released",
        "inventory.reserved",
        "order.confirmed",
        "payment.succeeded"
      ])
      const gateway = yield* FakePaymentGateway.Inspector
      const charges = yield* gateway.allCharges
      expect(charges.filter((c) => c.idempotency_key.startsWith(orderId))).toHaveLength(1)
    }).pipe(Effect.provide(TestTill.layer({ seed: 2 })))
  )

  it.effect(
    "out of stock: 409 with per-SKU requested/available, nothing reserved, no order, cart still active",
    () =>
      Effect.gen(function* () {
        yield* TestTill.stock("rare", "Rare print", 9_900, 1)
        yield* TestTill.stock("mug", "Till mug", 1_500, 10)
        const { cartId, paymentMethodId } = yield* cartWith("carol", [
          ["rare", 2],
          ["mug", 1]
        ])
        const result = yield* Effect.result(place("carol", "k", cartId, paymentMethodId))
        expect(Result.getFailure(result).pipe(Option.getOrThrow)).toMatchObject({
          _tag: "OutOfStock",
          unavailable: [{ sku: "rare", requested: 2, available: 1 }]
        })
        expect(yield* level("rare")).toMatchObject({ reserved: 0, available: 1 })
        expect(yield* level("mug")).toMatchObject({ reserved: 0, available: 10 })
        const orders = yield* InMemoryOrderStore.Inspector
        expect(yield* orders.orders).toHaveLength(0)
      }).pipe(Effect.provide(TestTill.layer({ seed: 3 })))
  )

  it.effect(
    "gateway unavailable: 202 payment_pending with stock held, then the retry drainer confirms it",
    () =>
      Effect.gen(function* () {
        yield* TestTill.stock("mug", "Till mug", 1_500, 10)
        const { cartId, paymentMethodId } = yield* cartWith("dave", [["mug", 1]])
        const control = yield* FakePaymentGateway.Control
        yield* control.unavailableBetween(0, 60_000)
        const fiber = yield* Effect.forkChild(place("dave", "k", cartId, paymentMethodId))
        yield* TestClock.adjust("10 seconds")
        const placed = yield* Fiber.join(fiber)
        expect(placed.status).toBe(202)
        expect(placed.order.status).toBe("payment_pending")
        expect(yield* level("mug")).toMatchObject({ reserved: 1, available: 9 })

        yield* TestClock.adjust("2 minutes")
        const checkout = yield* Checkout.Checkout
        expect(yield* checkout.resume(placed.order.order_id)).toBe("done")
        expect((yield* checkout.getOrder("dave", placed.order.order_id)).status).toBe("confirmed")
        expect(yield* level("mug")).toEqual({ sku: "mug", on_hand: 9, reserved: 0, available: 9 })
      }).pipe(Effect.provide(TestTill.layer({ seed: 4 })))
  )

  it.effect("another user's cart and order answer not found; empty and checked-out carts are refused", () =>
    Effect.gen(function* () {
      yield* TestTill.stock("mug", "Till mug", 1_500, 10)
      const { cartId, paymentMethodId } = yield* cartWith("erin", [["mug", 1]])
      const stranger = yield* Effect.result(place("mallory", "k", cartId, paymentMethodId))
      expect(Result.getFailure(stranger).pipe(Option.getOrThrow)._tag).toBe("CartNotFound")

      const empty = yield* cartWith("erin", [])
      const none = yield* Effect.result(place("erin", "k-empty", empty.cartId, empty.paymentMethodId))
      expect(Result.getFailure(none).pipe(Option.getOrThrow)._tag).toBe("EmptyCart")

      const placed = yield* place("erin", "k1", cartId, paymentMethodId)
      const again = yield* Effect.result(place("erin", "k2", cartId, paymentMethodId))
      expect(Result.getFailure(again).pipe(Option.getOrThrow)._tag).toBe("CartNotActive")
      const checkout = yield* Checkout.Checkout
      const peek = yield* Effect.result(checkout.getOrder("mallory", placed.order.order_id))
      expect(Result.getFailure(peek).pipe(Option.getOrThrow)._tag).toBe("OrderNotFound")
    }).pipe(Effect.provide(TestTill.layer({ seed: 5 })))
  )
})
