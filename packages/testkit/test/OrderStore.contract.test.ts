import { describe, expect, it } from "@effect/vitest"
import { Event, InventoryStore, OrderStore, Sku } from "@till/core"
import { InMemoryInventoryStore, InMemoryOrderStore } from "@till/testkit"
import { orderStoreContract } from "@till/testkit/contracts"
import { makeOrder } from "../src/contracts/OrderStoreFixtures.js"
import { Effect, Layer, Option } from "effect"

// One set of stock tables behind both ports, as TestTill.ports builds them.
const stores = InMemoryOrderStore.layer.pipe(Layer.provideMerge(InMemoryInventoryStore.layer))

orderStoreContract("in-memory", stores)

const mug = Sku.make("mug")

/** An order of one mug (the contracts' own fixture). */
const order = (orderId: string) => makeOrder({ orderId, lines: [[mug, 1]] })

const event = (eventId: string, aggregateId: string) =>
  new Event.Event({
    event_id: eventId,
    type: "order.created",
    occurred_at: "",
    aggregate_id: aggregateId,
    data: {}
  })

/** An order store over a book with `units` mugs. */
const storeWith = (units: number, options: InMemoryOrderStore.Options = {}) =>
  Effect.gen(function* () {
    const book = InMemoryInventoryStore.book()
    book.setOnHand(mug, units)
    return yield* InMemoryOrderStore.make(book, options)
  })

const publishAll = (store: OrderStore.OrderStore["Service"], nowMs: number) =>
  Effect.gen(function* () {
    const claim = yield* store.claimEvents(nowMs, 1_000, 1_000)
    yield* store.markPublished(
      claim.token,
      claim.events.map((e) => e.event_id)
    )
  })

describe("InMemoryOrderStore", () => {
  it.effect("Inspector sees every order and the outbox of the same store", () =>
    Effect.gen(function* () {
      const inspector = yield* InMemoryOrderStore.Inspector
      const store = yield* OrderStore.OrderStore
      yield* (yield* InventoryStore.InventoryStore).setOnHand(mug, 10)
      yield* store.create(yield* order("o1"), [event("e1", "o1")])
      yield* store.create(yield* order("o2"), [event("e2", "o2")])
      const claim = yield* store.claimEvents(0, 1, 1_000)
      yield* store.markPublished(claim.token, ["e1"])
      expect((yield* inspector.orders).map((o) => o.order_id)).toEqual(["o1", "o2"])
      expect((yield* inspector.outbox).map((e) => [e.event.event_id, e.published])).toEqual([["e2", false]])
      // local: a store of this case's own, never one an enclosing provide already built.
    }).pipe(Effect.provide(stores, { local: true }))
  )

  it.effect("the outbox has a limit: a write beyond it fails StoreUnavailable and writes nothing", () =>
    Effect.gen(function* () {
      const store = yield* storeWith(10, { maxPendingEvents: 1 })
      yield* store.create(yield* order("o1"), [event("e1", "o1")])
      const error = yield* Effect.flip(store.create(yield* order("o2"), [event("e2", "o2")]))
      expect(error._tag).toBe("StoreUnavailable")
      expect(Option.isNone(yield* store.get("o2"))).toBe(true)
      yield* publishAll(store, 0)
      yield* store.create(yield* order("o2"), [event("e2", "o2")])
      expect((yield* store.claimEvents(0, 10, 1_000)).events.map((e) => e.event_id)).toEqual(["e2"])
    })
  )

  it.effect("compaction of a long published prefix keeps the pending tail in order", () =>
    Effect.gen(function* () {
      const store = yield* storeWith(3_000)
      for (let i = 0; i < 3_000; i++) yield* store.create(yield* order(`o${i}`), [event(`e${i}`, `o${i}`)])
      const first = yield* store.claimEvents(0, 1_000, 1_000)
      const second = yield* store.claimEvents(0, 1_000, 1_000)
      const third = yield* store.claimEvents(0, 500, 1_000)
      for (const claim of [first, second, third])
        yield* store.markPublished(
          claim.token,
          claim.events.map((e) => e.event_id)
        )
      const tail = yield* store.claimEvents(0, 3, 1_000)
      expect(tail.events.map((e) => e.event_id)).toEqual(["e2500", "e2501", "e2502"])
      yield* store.markPublished(tail.token, ["e2501"])
      expect((yield* store.claimEvents(2_000, 2, 1_000)).events.map((e) => e.event_id)).toEqual([
        "e2500",
        "e2502"
      ])
    })
  )
})
