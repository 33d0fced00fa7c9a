/**
 * The shop's "buy now" on the testkit's in-memory ports (`TestTill.layer`): no server, no
 * network, every id from the seed. What the team relies on: a paid order takes its stock and
 * charges once; a declined card or a sold-out product leaves nothing behind; a double click is one
 * order and one charge.
 */
import { describe, expect, it } from "@effect/vitest"
import { Checkout, InventoryStore, Outbox, Sku } from "@till/core"
import { FakePaymentGateway, InMemoryEventPublisher, InMemoryOrderStore, TestTill } from "@till/testkit"
import { Effect, Option } from "effect"
import { buy } from "../shop.js"

const stockOf = (sku: string) =>
  Effect.flatMap(InventoryStore.InventoryStore, (store) => store.level(Sku.make(sku))).pipe(
    Effect.map(Option.getOrThrow)
  )

/** The events the outbox relay publishes for one order, in order. */
const eventsOf = (orderId: string) =>
  Effect.gen(function* () {
    yield* Outbox.drain()
    const published = yield* (yield* InMemoryEventPublisher.Inspector).published
    return published.filter((e) => e.aggregate_id === orderId).map((e) => e.type)
  })

describe("buy now", () => {
  it.effect("a good card: 201 confirmed, stock taken, charged once, events in saga order", () =>
    Effect.gen(function* () {
      yield* TestTill.stock("mug", "Till mug", 1_500, 10)
      const placed = yield* buy({
        userId: "alice",
        key: "k1",
        lines: [["mug", 2]],
        cardNumber: FakePaymentGateway.successCard
      })
      expect(placed.status).toBe(201)
      expect(placed.order.status).toBe("confirmed")
      expect(placed.order.subtotal.amount).toBe(3_000)
      expect(placed.order.payment).toMatchObject({ status: "succeeded", last4: "4242" })
      expect(yield* stockOf("mug")).toEqual({ sku: "mug", on_hand: 8, reserved: 0, available: 8 })
      const gateway = yield* FakePaymentGateway.Inspector
      const charges = yield* gateway.chargesFor(placed.order.order_id)
      expect(charges.map((c) => c.amount)).toEqual([placed.order.total])
      expect(yield* eventsOf(placed.order.order_id)).toEqual([
        "order.created",
        "inventory.reserved",
        "order.confirmed",
        "payment.succeeded"
      ])
    }).pipe(Effect.provide(TestTill.layer({ seed: 1 })))
  )

  it.effect("a declined card: PaymentDeclined (402), the stock given back, nothing captured", () =>
    Effect.gen(function* () {
      yield* TestTill.stock("lamp", "Desk lamp", 4_000, 3)
      const error = yield* Effect.flip(
        buy({ userId: "bob", key: "k1", lines: [["lamp", 2]], cardNumber: FakePaymentGateway.declineCard })
      )
      expect(error).toMatchObject({ _tag: "PaymentDeclined", declineCode: "card_declined" })
      expect(yield* stockOf("lamp")).toEqual({ sku: "lamp", on_hand: 3, reserved: 0, available: 3 })
      const orderId = (error as { readonly orderId: string }).orderId
      expect((yield* (yield* Checkout.Checkout).getOrder("bob", orderId)).status).toBe("payment_failed")
      const gateway = yield* FakePaymentGateway.Inspector
      expect((yield* gateway.capturedTotal("USD")).amount).toBe(0)
    }).pipe(Effect.provide(TestTill.layer({ seed: 2 })))
  )

  it.effect("the last unit, two buyers at once: one confirmed, one OutOfStock with what is left", () =>
    Effect.gen(function* () {
      yield* TestTill.stock("print", "Signed print", 9_900, 1)
      const [first, second] = yield* Effect.all(
        ["carol", "dave"].map((userId) =>
          Effect.result(
            buy({ userId, key: "k1", lines: [["print", 1]], cardNumber: FakePaymentGateway.successCard })
          )
        ),
        { concurrency: "unbounded" }
      )
      const outcomes = [first, second].map((r) =>
        r?._tag === "Success" ? r.success.status : r?.failure._tag
      )
      expect(outcomes.sort()).toEqual([201, "OutOfStock"])
      const refused = [first, second].find((r) => r?._tag === "Failure")
      expect(refused?._tag === "Failure" && refused.failure).toMatchObject({
        unavailable: [{ sku: "print", requested: 1, available: 0 }]
      })
      expect(yield* stockOf("print")).toEqual({ sku: "print", on_hand: 0, reserved: 0, available: 0 })
      // The refused buyer left no order behind.
      expect(yield* (yield* InMemoryOrderStore.Inspector).orders).toHaveLength(1)
    }).pipe(Effect.provide(TestTill.layer({ seed: 3 })))
  )

  it.effect("a double click (the same key twice): the same order, one charge", () =>
    Effect.gen(function* () {
      yield* TestTill.stock("mug", "Till mug", 1_500, 10)
      const checkout = yield* Checkout.Checkout
      const first = yield* buy({
        userId: "erin",
        key: "click",
        lines: [["mug", 1]],
        cardNumber: FakePaymentGateway.successCard
      })
      // The second click replays the first request: same cart, same body, same key.
      const again = yield* checkout.place({
        userId: "erin",
        idempotencyKey: "click",
        request: new Checkout.CheckoutRequest({
          cart_id: first.order.cart_id,
          shipping_address: first.order.shipping_address,
          payment_method_id: first.order.payment_method_id
        })
      })
      expect(again.status).toBe(201)
      expect(again.order.order_id).toBe(first.order.order_id)
      const gateway = yield* FakePaymentGateway.Inspector
      expect(yield* gateway.allCharges).toHaveLength(1)
      expect(yield* stockOf("mug")).toMatchObject({ on_hand: 9 })
    }).pipe(Effect.provide(TestTill.layer({ seed: 4 })))
  )
})
