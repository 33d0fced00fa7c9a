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
    }).pipe(Effect.provide(InMemoryInventoryStore.layerUnconditional))
  )
})
