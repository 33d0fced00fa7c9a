/**
 * Inventory: the InventoryStore's operations under the "inventory" policy (2 s timeout,
 * 3 retries at 100 ms / 500 ms / 1 s, breaker 50 calls / 30 % / 30 s). Its fallback is the
 * seed's: the error surfaces; stock is never guessed. Reservations are not here: they move only
 * with their order's steps (`OrderStore.create` / `step`, one transaction each).
 */
import { Context, Effect, Layer, type Option } from "effect"
import type { CallNotPermitted, OperationTimedOut, OutOfStock, StoreUnavailable } from "./Errors.js"
import { InventoryStore, type Reservation, type StockLevel } from "./InventoryStore.js"
import { Resilience } from "./Resilience.js"
import type { Sku } from "./Sku.js"

type Unavailable = StoreUnavailable | CallNotPermitted | OperationTimedOut

export class Inventory extends Context.Service<
  Inventory,
  {
    readonly level: (sku: Sku) => Effect.Effect<Option.Option<StockLevel>, Unavailable>
    /** The reservations of an order, one per payment attempt that held stock. */
    readonly reservations: (orderId: string) => Effect.Effect<ReadonlyArray<Reservation>, Unavailable>
    readonly setOnHand: (sku: Sku, onHand: number) => Effect.Effect<StockLevel, OutOfStock | Unavailable>
    /** Idempotent by `movementId` (the store applies a movement once), hence safe under the policy's retries. */
    readonly restock: (
      sku: Sku,
      delta: number,
      movementId: string
    ) => Effect.Effect<StockLevel, OutOfStock | Unavailable>
  }
>()("@till/core/Inventory") {}

export const make = Effect.gen(function* () {
  const store = yield* InventoryStore
  const resilience = yield* Resilience
  const guarded = <A, E>(effect: Effect.Effect<A, E>) => resilience.withPolicy("inventory", effect)
  return Inventory.of({
    level: Effect.fn("Inventory.level")((sku: Sku) => guarded(store.level(sku))),
    reservations: Effect.fn("Inventory.reservations")((orderId: string) =>
      guarded(store.reservations(orderId))
    ),
    setOnHand: Effect.fn("Inventory.setOnHand")((sku: Sku, onHand: number) =>
      guarded(store.setOnHand(sku, onHand))
    ),
    restock: Effect.fn("Inventory.restock")((sku: Sku, delta: number, movementId: string) =>
      guarded(store.restock(sku, delta, movementId))
    )
  })
})

export const layer: Layer.Layer<Inventory, never, InventoryStore | Resilience> = Layer.effect(Inventory, make)
