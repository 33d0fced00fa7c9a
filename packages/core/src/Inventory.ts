/**
 * Inventory: the InventoryStore's operations under the "inventory" policy (2 s timeout,
 * 3 retries at 100 ms / 500 ms / 1 s, breaker 50 calls / 30 % / 30 s). Its fallback is the
 * seed's: the checkout is rejected (the error surfaces); stock is never guessed.
 */
import { Context, Effect, Layer } from "effect"
import type { CallNotPermitted, OperationTimedOut, OutOfStock, StoreUnavailable } from "./Errors.js"
import { InventoryStore, type Reservation, type ReservationLine, type StockLevel } from "./InventoryStore.js"
import type { Option } from "effect"
import { Resilience } from "./Resilience.js"
import type { Sku } from "./Sku.js"
import { traced } from "./internal/traced.js"

type Unavailable = StoreUnavailable | CallNotPermitted | OperationTimedOut

export class Inventory extends Context.Tag("@till/core/Inventory")<
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
>() {}

export const make = Effect.gen(function* () {
  const store = yield* InventoryStore
  const resilience = yield* Resilience
  const guarded = <A, E>(name: string, effect: Effect.Effect<A, E>) =>
    resilience.withPolicy("inventory", effect).pipe(traced(`Inventory.${name}`))
  return Inventory.of({
    reserve: (orderId, lines, holdExpiresAt) =>
      guarded("reserve", store.reserve(orderId, lines, holdExpiresAt)),
    commit: (orderId) => guarded("commit", store.commit(orderId)),
    release: (orderId) => guarded("release", store.release(orderId)),
    get: (orderId) => guarded("get", store.get(orderId)),
    level: (sku) => guarded("level", store.level(sku)),
    setOnHand: (sku, onHand) => guarded("setOnHand", store.setOnHand(sku, onHand)),
    restock: (sku, delta) => guarded("restock", store.restock(sku, delta))
  })
})

export const layer: Layer.Layer<Inventory, never, InventoryStore | Resilience> = Layer.effect(Inventory, make)
