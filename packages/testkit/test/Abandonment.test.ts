/**
 * The cart-abandonment job (core's Abandonment.ts) on the in-memory ports under `TestClock`: a cart
 * idle for more than an hour is reported once, with a stable event id, whichever instance runs the
 * round and however often; empty and checked-out carts are not; the jobs layer runs it hourly.
 */
import { describe, expect, it } from "@effect/vitest"
import { Abandonment, CartStore, Carts, Sku, Till } from "@till/core"
import { InMemoryCartStore, InMemoryEventPublisher, TestTill } from "@till/testkit"
import { Effect, Layer, Metric } from "effect"
import { TestClock } from "effect/testing"
import { cartWith, place } from "./fixtures.js"

const abandonedEvents = Effect.map(
  Effect.flatMap(InMemoryEventPublisher.Inspector, (inspector) => inspector.published),
  (events) => events.filter((e) => e.type === "cart.abandoned")
)

const abandonedCount = Effect.map(Metric.value(Abandonment.abandoned), (state) => state.count)

/** A CartStore whose first `forgetIdle` fails: a crash between publishing and forgetting. */
const forgetFailsOnce = Layer.effect(
  CartStore.CartStore,
  Effect.map(InMemoryCartStore.make(), (store) => {
    let failed = false
    return CartStore.CartStore.of({
      ...store,
      forgetIdle: (idle) =>
        failed
          ? store.forgetIdle(idle)
          : Effect.sync(() => (failed = true)).pipe(Effect.andThen(Effect.die("crash")))
    })
  })
)

/** A CartStore that yields after each listing, so rounds run at once all list before any forgets. */
const listingYields = Layer.effect(
  CartStore.CartStore,
  Effect.map(InMemoryCartStore.make(), (store) =>
    CartStore.CartStore.of({
      ...store,
      idleSince: (idleForMs, limit) =>
        Effect.tap(store.idleSince(idleForMs, limit), () => Effect.repeat(Effect.yieldNow, { times: 10 }))
    })
  )
)

/**
 * A CartStore that runs `afterListing.run` (once, then clears it) after a listing and before the
 * job reads the carts: a shopper's edit landing between the two, as seen in the cluster test.
 */
const afterListing: { run: Effect.Effect<void> | undefined } = { run: undefined }
const listingThen = Layer.effect(
  CartStore.CartStore,
  Effect.map(InMemoryCartStore.make(), (store) =>
    CartStore.CartStore.of({
      ...store,
      idleSince: (idleForMs, limit) =>
        Effect.tap(store.idleSince(idleForMs, limit), () =>
          Effect.suspend(() => {
            const run = afterListing.run ?? Effect.void
            afterListing.run = undefined
            return run
          })
        )
    })
  )
)

describe("Abandonment", () => {
  it.effect(
    "a cart idle for more than an hour is reported once; a fresh, empty or checked-out one is not",
    () =>
      Effect.gen(function* () {
        yield* TestTill.stock("mug", "Mug", 1_500, 5)
        const carts = yield* Carts.Carts
        const before = yield* abandonedCount
        const left = yield* cartWith("alice", [["mug", 2]])
        yield* carts.create("bob") // empty
        const bought = yield* cartWith("carol", [["mug", 1]])
        expect((yield* place("carol", "k1", bought.cartId, bought.paymentMethodId)).status).toBe(201)
        yield* TestClock.adjust("59 minutes")
        const fresh = yield* cartWith("dave", [["mug", 1]])
        expect(yield* Abandonment.runOnce()).toBe(0)
        yield* TestClock.adjust("2 minutes")
        expect(yield* Abandonment.runOnce()).toBe(1)
        const [event, ...others] = yield* abandonedEvents
        expect(others).toEqual([])
        expect(event).toMatchObject({
          event_id: `${left.cartId}/cart.abandoned/0`,
          aggregate_id: left.cartId,
          data: {
            cart_id: left.cartId,
            user_id: "alice",
            items: 1,
            subtotal: { amount: 3_000, currency: "USD" }
          }
        })
        // Reported: not again, however often the job runs.
        expect(yield* Abandonment.runOnce()).toBe(0)
        yield* TestClock.adjust("1 hour")
        expect((yield* abandonedEvents).map((e) => e.aggregate_id)).toEqual([left.cartId])
        expect(yield* Abandonment.runOnce()).toBe(1) // dave's cart, idle an hour now
        expect((yield* abandonedEvents).map((e) => e.aggregate_id)).toEqual([left.cartId, fresh.cartId])
        expect((yield* abandonedCount) - before).toBe(2)
        // Alice comes back and leaves again: a new idle period, a new reminder with a new id.
        yield* carts.addItem("alice", left.cartId, Sku.make("mug"), 1)
        yield* TestClock.adjust("61 minutes")
        expect(yield* Abandonment.runOnce()).toBe(1)
        const ids = (yield* abandonedEvents).map((e) => e.event_id)
        expect(new Set(ids).size).toBe(3)
      }).pipe(Effect.provide(TestTill.layer({ seed: 3 })))
  )

  it.effect("three instances running rounds at once report each cart under one event id", () =>
    Effect.gen(function* () {
      yield* TestTill.stock("mug", "Mug", 1_500, 50)
      const users = Array.from({ length: 12 }, (_, i) => `user${i}`)
      for (const user of users) yield* cartWith(user, [["mug", 1]])
      yield* TestClock.adjust("61 minutes")
      yield* Effect.all([Abandonment.runOnce(), Abandonment.runOnce(), Abandonment.runOnce()], {
        concurrency: "unbounded"
      })
      const events = yield* abandonedEvents
      // The rounds overlapped: each cart went out more than once ...
      expect(events.length).toBe(3 * users.length)
      // ... under one event id, so a consumer deduping by event id reminds each user once.
      expect(new Set(events.map((e) => e.event_id)).size).toBe(users.length)
      expect(new Set(events.map((e) => e.data["user_id"]))).toEqual(new Set(users))
    }).pipe(Effect.provide(TestTill.layer({ seed: 4, cartStore: listingYields })))
  )

  it.effect("a crash between publishing and forgetting reports the cart again under the same event id", () =>
    Effect.gen(function* () {
      yield* TestTill.stock("mug", "Mug", 1_500, 5)
      yield* cartWith("alice", [["mug", 1]])
      yield* TestClock.adjust("61 minutes")
      expect((yield* Effect.exit(Abandonment.runOnce()))._tag).toBe("Failure")
      expect(yield* Abandonment.runOnce()).toBe(1)
      const events = yield* abandonedEvents
      expect(events).toHaveLength(2)
      expect(events[1]!.event_id).toBe(events[0]!.event_id)
      expect(yield* Abandonment.runOnce()).toBe(0)
    }).pipe(Effect.provide(TestTill.layer({ seed: 5, cartStore: forgetFailsOnce })))
  )

  it.effect(
    "a cart edited between a round's listing and its read is reported once, after its new idle hour",
    () =>
      Effect.gen(function* () {
        yield* TestTill.stock("mug", "Mug", 1_500, 5)
        const carts = yield* Carts.Carts
        const empty = yield* carts.create("erin") // listed while empty; its first item comes late
        const full = yield* cartWith("frank", [["mug", 1]])
        yield* TestClock.adjust("61 minutes")
        afterListing.run = Effect.orDie(
          Effect.all([
            carts.addItem("erin", empty.cart_id, Sku.make("mug"), 1),
            carts.addItem("frank", full.cartId, Sku.make("mug"), 1)
          ])
        )
        // Both changed a moment ago: neither is abandoned, whatever the listing said.
        expect(yield* Abandonment.runOnce()).toBe(0)
        expect(yield* abandonedEvents).toEqual([])
        yield* TestClock.adjust("30 minutes")
        expect(yield* Abandonment.runOnce()).toBe(0)
        yield* TestClock.adjust("31 minutes")
        expect(yield* Abandonment.runOnce()).toBe(2)
        const events = yield* abandonedEvents
        expect(events.map((e) => e.event_id).sort()).toEqual(
          [
            `${empty.cart_id}/cart.abandoned/${61 * 60_000}`,
            `${full.cartId}/cart.abandoned/${61 * 60_000}`
          ].sort()
        )
        yield* TestClock.adjust("2 hours")
        expect(yield* Abandonment.runOnce()).toBe(0)
      }).pipe(Effect.provide(TestTill.layer({ seed: 7, cartStore: listingThen })))
  )

  it.effect("the jobs layer reports abandoned carts every hour by itself", () =>
    Effect.gen(function* () {
      yield* TestTill.stock("mug", "Mug", 1_500, 5)
      const left = yield* cartWith("alice", [["mug", 1]])
      yield* TestClock.adjust("61 minutes")
      expect(yield* abandonedEvents).toEqual([])
      yield* TestClock.adjust("1 hour") // the second round, two hours in
      expect((yield* abandonedEvents).map((e) => e.aggregate_id)).toEqual([left.cartId])
    }).pipe(Effect.provide(Till.layerJobs.pipe(Layer.provideMerge(TestTill.layer({ seed: 6 })))))
  )
})
