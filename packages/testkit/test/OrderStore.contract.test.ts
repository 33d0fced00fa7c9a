import { describe, expect, it } from "@effect/vitest"
import { Address, Event, Money, Order, OrderStore } from "@till/core"
import { InMemoryOrderStore } from "@till/testkit"
import { orderStoreContract } from "@till/testkit/contracts"
import { Effect, Option } from "effect"

orderStoreContract("in-memory", InMemoryOrderStore.layer)

const order = (orderId: string) =>
  new Order.Order({
    order_id: orderId,
    user_id: "user_1",
    cart_id: "cart_1",
    status: "pending",
    items: [],
    subtotal: Money.zero("USD"),
    tax: Money.zero("USD"),
    shipping: Money.zero("USD"),
    total: Money.zero("USD"),
    shipping_address: new Address.Address({
      name: "A",
      line1: "1 Main St",
      city: "X",
      postal_code: "1",
      country: "US"
    }),
    payment: null,
    payment_method_id: "pm_1",
    payment_attempt: 1,
    hold_expires_at: 0,
    retry_until: 0,
    created_at: "2030-01-01T00:00:00.000Z",
    updated_at: "2030-01-01T00:00:00.000Z"
  })

const event = (eventId: string, aggregateId: string) =>
  new Event.Event({
    event_id: eventId,
    type: "order.created",
    occurred_at: "",
    aggregate_id: aggregateId,
    data: {}
  })

describe("InMemoryOrderStore", () => {
  it.effect("Inspector sees every order and the outbox of the same store", () =>
    Effect.gen(function* () {
      const inspector = yield* InMemoryOrderStore.Inspector
      const store = yield* OrderStore.OrderStore
      yield* store.create(order("o1"), [event("e1", "o1")])
      yield* store.create(order("o2"), [event("e2", "o2")])
      yield* store.markPublished(["e1"])
      expect((yield* inspector.orders).map((o) => o.order_id)).toEqual(["o1", "o2"])
      expect((yield* inspector.outbox).map((e) => [e.event.event_id, e.published])).toEqual([["e2", false]])
      // local: a store of this case's own, never one an enclosing provide already built.
    }).pipe(Effect.provide(InMemoryOrderStore.layer, { local: true }))
  )

  it.effect("the outbox has a limit: a write beyond it fails StoreUnavailable and writes nothing", () =>
    Effect.gen(function* () {
      const store = yield* InMemoryOrderStore.make({ maxPendingEvents: 1 })
      yield* store.create(order("o1"), [event("e1", "o1")])
      const error = yield* Effect.flip(store.create(order("o2"), [event("e2", "o2")]))
      expect(error._tag).toBe("StoreUnavailable")
      expect(Option.isNone(yield* store.get("o2"))).toBe(true)
      yield* store.markPublished(["e1"])
      yield* store.create(order("o2"), [event("e2", "o2")])
      expect((yield* store.pendingEvents(10)).map((e) => e.event_id)).toEqual(["e2"])
    })
  )

  it.effect("compaction of a long published prefix keeps the pending tail in order", () =>
    Effect.gen(function* () {
      const store = yield* InMemoryOrderStore.make()
      for (let i = 0; i < 3_000; i++) yield* store.create(order(`o${i}`), [event(`e${i}`, `o${i}`)])
      yield* store.markPublished(Array.from({ length: 2_500 }, (_, i) => `e${i}`))
      expect((yield* store.pendingEvents(3)).map((e) => e.event_id)).toEqual(["e2500", "e2501", "e2502"])
      yield* store.markPublished(["e2501"])
      expect((yield* store.pendingEvents(2)).map((e) => e.event_id)).toEqual(["e2500", "e2502"])
    })
  )
})
