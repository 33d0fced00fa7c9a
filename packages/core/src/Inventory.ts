/**
 * Inventory: the InventoryStore's operations under the "inventory" policy (2 s timeout,
 * 3 retries at 100 ms / 500 ms / 1 s, breaker 50 calls / 30 % / 30 s). Its fallback is the
 * seed's: the checkout is rejected (the error surfaces); stock is never guessed.
 */
import { Context, Effect, Layer, type Option } from "effect"
import type { CallNotPermitted, OperationTimedOut, OutOfStock, StoreUnavailable } from "./Errors.js"
import { InventoryStore, type Reservation, type ReservationLine, type StockLevel } from "./InventoryStore.js"
import { Resilience } from "./Resilience.js"
import type { Sku } from "./Sku.js"

type Unavailable = StoreUnavailable | CallNotPermitted | OperationTimedOut

export class Inventory extends Context.Service<
  Inventory,
  {
    readonly reserve: (
      orderId: string,
      lines: ReadonlyArray<ReservationLine>,
      holdExpiresAt: number
    ) => Effect.Effect<Reservation, OutOfStock | Unavailable>
    readonly commit: (orderId: string) => Effect.Effect<Option.Option<Reservation>, Unavailable>
    readonly release: (orderId: string) => Effect.Effect<Option.Option<Reservation>, Unavailable>
    readonly get: (orderId: string) => Effect.Effect<Option.Option<Reservation>, Unavailable>
    readonly level: (sku: Sku) => Effect.Effect<Option.Option<StockLevel>, Unavailable>
    readonly setOnHand: (sku: Sku, onHand: number) => Effect.Effect<StockLevel, OutOfStock | Unavailable>
    readonly restock: (sku: Sku, delta: number) => Effect.Effect<StockLevel, OutOfStock | Unavailable>
  }
>()("@till/core/Inventory") {}

export const make = Effect.gen(function* () {
  const store = yield* InventoryStore
  const resilience = yield* Resilience
  const guarded = <A, E>(effect: Effect.Effect<A, E>) => resilience.withPolicy("inventory", effect)
  return Inventory.of({
    reserve: Effect.fn("Inventory.reserve")(
      (orderId: string, lines: ReadonlyArray<ReservationLine>, holdExpiresAt: number) =>
        guarded(store.reserve(orderId, lines, holdExpiresAt))
    ),
    commit: Effect.fn("Inventory.commit")((orderId: string) => guarded(store.commit(orderId))),
    release: Effect.fn("Inventory.release")((orderId: string) => guarded(store.release(orderId))),
    get: Effect.fn("Inventory.get")((orderId: string) => guarded(store.get(orderId))),
    level: Effect.fn("Inventory.level")((sku: Sku) => guarded(store.level(sku))),
    setOnHand: Effect.fn("Inventory.setOnHand")((sku: Sku, onHand: number) =>
      guarded(store.setOnHand(sku, onHand))
    ),
    restock: Effect.fn("Inventory.restock")((sku: Sku, delta: number) => guarded(store.restock(sku, delta)))
  })
})

export const layer: Layer.Layer<Inventory, never, InventoryStore | Resilience> = Layer.effect(Inventory, make)
