import { describe, expect, it } from "@effect/vitest"
import { InventoryStore, Order, OrderStore, Sku } from "@till/core"
import { InMemoryInventoryStore, InMemoryOrderStore } from "@till/testkit"
import { inventoryStoreContract } from "@till/testkit/contracts"
import { makeOrder } from "../src/contracts/OrderStoreFixtures.js"
import { Effect, Exit, Layer, Option } from "effect"

// One set of stock tables behind both ports, as TestTill.ports builds them.
inventoryStoreContract(
  "in-memory",
  InMemoryOrderStore.layer.pipe(Layer.provideMerge(InMemoryInventoryStore.layer))
)

/** An order of `quantity` units of `sku` (the contracts' own fixture). */
const order = (orderId: string, sku: Sku.Sku, quantity: number) =>
  makeOrder({ orderId, lines: [[sku, quantity]] })

const moved = (o: Order.Order, status: Order.OrderStatus) => new Order.Order({ ...o, status })

describe("InMemoryInventoryStore.layerUnconditional (planted bug)", () => {
  it.effect("oversells: order steps hold beyond what is available", () =>
    Effect.gen(function* () {
      const stock = yield* InventoryStore.InventoryStore
      const orders = yield* OrderStore.OrderStore
      const mug = Sku.make("mug")
      yield* stock.setOnHand(mug, 1)
      yield* orders.create(yield* order("o1", mug, 1), [])
      expect(Exit.isSuccess(yield* Effect.exit(orders.create(yield* order("o2", mug, 1), [])))).toBe(true)
      expect(Option.getOrThrow(yield* stock.level(mug)).available).toBe(-1)
      // local: a store of this case's own, never one an enclosing provide already built.
    }).pipe(
      Effect.provide(
        InMemoryOrderStore.layer.pipe(Layer.provideMerge(InMemoryInventoryStore.layerUnconditional)),
        {
          local: true
        }
      )
    )
  )
})

describe("InMemoryInventoryStore.Inspector", () => {
  it.effect("reads every level and every reservation of the store behind the port, at once", () =>
    Effect.gen(function* () {
      const stock = yield* InventoryStore.InventoryStore
      const orders = yield* OrderStore.OrderStore
      const inspector = yield* InMemoryInventoryStore.Inspector
      const mug = Sku.make("mug")
      const cap = Sku.make("cap")
      expect(yield* inspector.levels).toEqual([])
      yield* stock.setOnHand(mug, 5)
      yield* stock.setOnHand(cap, 2)
      const o1 = yield* orders.create(yield* order("o1", mug, 2), [])
      const o2 = yield* orders.create(yield* order("o2", cap, 1), [])
      yield* orders.step(moved(o1, "confirmed"), 1, "commit", [])
      yield* orders.step(moved(o2, "cancelled"), 1, "release", [])
      expect(yield* inspector.levels).toEqual([
        { sku: mug, on_hand: 3, reserved: 0, available: 3 },
        { sku: cap, on_hand: 2, reserved: 0, available: 2 }
      ])
      expect((yield* inspector.allReservations).map((r) => [r.order_id, r.attempt, r.status])).toEqual([
        ["o1", 1, "committed"],
        ["o2", 1, "released"]
      ])
    }).pipe(
      Effect.provide(InMemoryOrderStore.layer.pipe(Layer.provideMerge(InMemoryInventoryStore.layer)), {
        local: true
      })
    )
  )
})
