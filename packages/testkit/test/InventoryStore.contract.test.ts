import { describe, expect, it } from "@effect/vitest"
import { InventoryStore, Sku } from "@till/core"
import { InMemoryInventoryStore } from "@till/testkit"
import { inventoryStoreContract } from "@till/testkit/contracts"
import { Effect, Exit, Option } from "effect"

inventoryStoreContract("in-memory", InMemoryInventoryStore.layer)

describe("InMemoryInventoryStore.makeUnconditional (planted bug)", () => {
  it.effect("oversells: reserves beyond what is available", () =>
    Effect.gen(function* () {
      const store = yield* InMemoryInventoryStore.makeUnconditional()
      const sku = Sku.make("mug")
      yield* store.setOnHand(sku, 1)
      yield* store.reserve("o1", [{ sku, quantity: 1 }], 0)
      const second = yield* Effect.exit(store.reserve("o2", [{ sku, quantity: 1 }], 0))
      expect(Exit.isSuccess(second)).toBe(true)
      expect(Option.getOrThrow(yield* store.level(sku)).available).toBe(-1)
    })
  )

  it.effect("the layer variant is the same bug", () =>
    Effect.gen(function* () {
      const store = yield* InventoryStore.InventoryStore
      const sku = Sku.make("mug")
      yield* store.reserve("o1", [{ sku, quantity: 3 }], 0)
      expect(Option.getOrThrow(yield* store.level(sku)).reserved).toBe(3)
      // local: a store of this case's own, never one an enclosing provide already built.
    }).pipe(Effect.provide(InMemoryInventoryStore.layerUnconditional, { local: true }))
  )
})

describe("InMemoryInventoryStore.Inspector", () => {
  it.effect("reads every level and every reservation of the store behind the port, at once", () =>
    Effect.gen(function* () {
      const store = yield* InventoryStore.InventoryStore
      const inspector = yield* InMemoryInventoryStore.Inspector
      const mug = Sku.make("mug")
      const cap = Sku.make("cap")
      expect(yield* inspector.levels).toEqual([])
      yield* store.setOnHand(mug, 5)
      yield* store.setOnHand(cap, 2)
      yield* store.reserve("o1", [{ sku: mug, quantity: 2 }], 1_000)
      yield* store.reserve("o2", [{ sku: cap, quantity: 1 }], 1_000)
      yield* store.commit("o1")
      yield* store.release("o2")
      expect(yield* inspector.levels).toEqual([
        { sku: mug, on_hand: 3, reserved: 0, available: 3 },
        { sku: cap, on_hand: 2, reserved: 0, available: 2 }
      ])
      expect((yield* inspector.reservations).map((r) => [r.order_id, r.status])).toEqual([
        ["o1", "committed"],
        ["o2", "released"]
      ])
    }).pipe(Effect.provide(InMemoryInventoryStore.layer, { local: true }))
  )
})
