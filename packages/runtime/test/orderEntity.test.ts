/**
 * The order entity (src/OrderEntity.ts) in a one-process cluster (`TestRunner`) over the
 * in-memory Till: the jobs' resumes of an order go through its entity, concurrent resumes of one
 * order are applied in turn (one charge, one confirmation), and the drainer and sweeper, given the
 * routed `Checkout`, finish a checkout whose payment answer was lost.
 */
import { it } from "@effect/vitest"
import { Checkout, Recovery, Sku } from "@till/core"
import { FakePaymentGateway, TestTill } from "@till/testkit"
import { Address, Carts, Payments } from "@till/core"
import { Effect, Fiber, Layer, Schema } from "effect"
import { Entity, Sharding, TestRunner } from "effect/cluster"
import { TestClock } from "effect/testing"
import { expect } from "vitest"
import * as OrderEntity from "../src/OrderEntity.js"
import { address as httpAddress } from "./support/http.js"

/** The HTTP tests' shipping address, as core's type. */
const address = Schema.decodeUnknownSync(Address.Address)(httpAddress)

/** Where each resume that reached the Checkout below the entity ran: the entity's address, or none. */
const resumedIn: Array<string> = []
const spied = Layer.effect(
  Checkout.Checkout,
  Effect.map(Checkout.Checkout, (checkout) =>
    Checkout.Checkout.of({
      ...checkout,
      resume: (orderId) =>
        Effect.flatMap(Effect.serviceOption(Entity.CurrentAddress), (address) => {
          resumedIn.push(
            address._tag === "Some" ? `${address.value.entityType}/${address.value.entityId}` : "none"
          )
          return checkout.resume(orderId)
        })
    })
  )
)

const world = (seed: number) =>
  OrderEntity.layer().pipe(
    Layer.provideMerge(TestRunner.layer),
    Layer.provideMerge(spied),
    Layer.provideMerge(TestTill.layer({ seed }))
  )

/**
 * A checkout whose every payment answer is lost (the gateway charged, the answer never came):
 * the order is left `payment_pending`, with one charge made. Answers the order id.
 */
const lostAnswers = Effect.gen(function* () {
  yield* TestTill.stock("mug", "Till mug", 1_500, 10)
  const carts = yield* Carts.Carts
  const payments = yield* Payments.Payments
  const cart = yield* carts.create("u")
  yield* carts.addItem("u", cart.cart_id, Sku.make("mug"), 2)
  const method = yield* payments.tokenize(FakePaymentGateway.card(FakePaymentGateway.successCard))
  const control = yield* FakePaymentGateway.Control
  yield* control.loseNextResponses(3)
  const checkout = yield* Checkout.Checkout
  const fiber = yield* Effect.forkChild(
    checkout.place({
      userId: "u",
      idempotencyKey: "k",
      request: new Checkout.CheckoutRequest({
        cart_id: cart.cart_id,
        shipping_address: address,
        payment_method_id: method.payment_method_id
      })
    })
  )
  yield* TestClock.adjust("1 minute")
  const placed = yield* Fiber.join(fiber)
  expect(placed.order.status).toBe("payment_pending")
  return placed.order.order_id
})

it.effect("10 concurrent resumes of one order through its entity: confirmed once, charged once", () =>
  Effect.gen(function* () {
    const orderId = yield* lostAnswers
    const sharding = yield* Sharding.Sharding
    const before = yield* sharding.activeEntityCount
    const checkout = yield* Checkout.Checkout
    const outcomes = yield* Effect.forEach(Array.from({ length: 10 }), () => checkout.resume(orderId), {
      concurrency: "unbounded"
    })
    expect(outcomes).toEqual(Array.from({ length: 10 }, () => "done"))
    expect((yield* sharding.activeEntityCount) - before).toBe(1)
    expect((yield* checkout.getOrder("u", orderId)).status).toBe("confirmed")
    const gateway = yield* FakePaymentGateway.Inspector
    expect((yield* gateway.allCharges).filter((c) => c.status === "succeeded")).toHaveLength(1)
  }).pipe(Effect.provide(world(31)))
)

it.effect("the recovery sweep, given the routed Checkout, confirms the order through its entity", () =>
  Effect.gen(function* () {
    const orderId = yield* lostAnswers
    resumedIn.length = 0
    yield* TestClock.adjust("5 minutes")
    const fiber = yield* Effect.forkChild(Recovery.recoverOrders({ staleAfterMs: 60_000 }))
    yield* TestClock.adjust("30 seconds")
    expect(yield* Fiber.join(fiber)).toMatchObject({ ordersResumed: 1 })
    expect(resumedIn).toEqual([`till/order/${orderId}`])
    expect((yield* (yield* Checkout.Checkout).getOrder("u", orderId)).status).toBe("confirmed")
  }).pipe(Effect.provide(world(32)))
)
