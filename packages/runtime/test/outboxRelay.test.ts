/**
 * The outbox relay `till start` runs (src/OutboxRelay.ts): on Postgres a commit that adds events
 * wakes it; embedded it polls.
 */
import { it } from "@effect/vitest"
import * as PostgresAdapters from "@till/adapters/postgres"
import { InventoryStore, OrderStore, Resilience, Sku } from "@till/core"
import { InMemoryEventPublisher, InMemoryInventoryStore, InMemoryOrderStore } from "@till/testkit"
import { Effect, Fiber, Layer } from "effect"
import { TestClock } from "effect/testing"
import { expect } from "vitest"
import { eventOf, newOrder } from "../../adapters/test/support/orders.js"
import { onFreshSchema, orderAndStockStores } from "../../adapters/test/support/postgres.js"
import * as OutboxRelay from "../src/OutboxRelay.js"
import { describeServices } from "./support/services.js"

/** Places an order of one unit with an `order.created` event; answers the event's id. */
const placed = Effect.gen(function* () {
  const orders = yield* OrderStore.OrderStore
  yield* (yield* InventoryStore.InventoryStore).setOnHand(Sku.make("relayed"), 10)
  const order = yield* newOrder([[Sku.make("relayed"), 1]])
  const event = yield* eventOf(order, "order.created")
  yield* orders.create(order, [event])
  return event.event_id
})

const publishedIds = Effect.map(
  Effect.flatMap(InMemoryEventPublisher.Inspector, (inspector) => inspector.published),
  (events) => events.map((e) => e.event_id)
)

it.effect("embedded: the relay publishes on its 200 ms poll", () =>
  Effect.gen(function* () {
    const relay = yield* Effect.forkChild((yield* OutboxRelay.OutboxRelay).run)
    yield* Effect.yieldNow // its first round, on an empty outbox
    const id = yield* placed
    yield* TestClock.adjust(199)
    yield* Effect.yieldNow
    expect(yield* publishedIds).not.toContain(id)
    yield* TestClock.adjust(1)
    yield* Effect.yieldNow
    expect(yield* publishedIds).toContain(id)
    yield* Fiber.interrupt(relay)
  }).pipe(
    Effect.provide(
      Layer.mergeAll(
        OutboxRelay.polling(),
        InMemoryOrderStore.layer.pipe(Layer.provideMerge(InMemoryInventoryStore.layer)),
        InMemoryEventPublisher.layer,
        Resilience.layer
      )
    )
  )
)

await describeServices(["postgres"], "the relay of till start on Postgres", () => {
  it.live("a commit that adds events wakes it: they are out long before its idle look (here a minute)", () =>
    Effect.gen(function* () {
      const relay = yield* Effect.forkChild((yield* OutboxRelay.OutboxRelay).run)
      yield* Effect.sleep(500) // its first round ran; the listener is up
      for (let round = 0; round < 3; round++) {
        const id = yield* placed
        let seen: ReadonlyArray<string> = []
        for (let wait = 0; wait < 50 && !seen.includes(id); wait++) {
          yield* Effect.sleep(100)
          seen = yield* publishedIds
        }
        expect(seen).toContain(id)
      }
      yield* Fiber.interrupt(relay)
    }).pipe(
      Effect.provide(
        OutboxRelay.postgres(PostgresAdapters, { maxIdleMs: 60_000 }).pipe(
          Layer.provideMerge(
            Layer.mergeAll(onFreshSchema(orderAndStockStores), InMemoryEventPublisher.layer, Resilience.layer)
          )
        )
      )
    )
  )
})
