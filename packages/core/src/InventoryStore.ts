/**
 * Port: stock per SKU and the reservations of orders.
 *
 * Invariant (owned here, checked by every implementation and the contract suite):
 * for every SKU, 0 <= reserved <= on_hand, so available = on_hand - reserved never goes
 * below zero. `reserve` is all-or-nothing over the lines of one order and is keyed by the
 * order id: reserving again for the same order never reserves twice.
 */
import { Context, type Effect, type Option, Schema } from "effect"
import type { OutOfStock, StoreUnavailable } from "./Errors.js"
import { Sku } from "./Sku.js"

export const StockLevel = Schema.Struct({
  sku: Sku,
  on_hand: Schema.Int,
  reserved: Schema.Int,
  available: Schema.Int
})
export type StockLevel = typeof StockLevel.Type

export const ReservationLine = Schema.Struct({ sku: Sku, quantity: Schema.Int })
export type ReservationLine = typeof ReservationLine.Type

export const ReservationStatus = Schema.Literals(["held", "committed", "released"])
export type ReservationStatus = typeof ReservationStatus.Type

export const Reservation = Schema.Struct({
  order_id: Schema.String,
  lines: Schema.Array(ReservationLine),
  status: ReservationStatus,
  hold_expires_at: Schema.Int
})
export type Reservation = typeof Reservation.Type

export class InventoryStore extends Context.Service<
  InventoryStore,
  {
    /** Sets the physical stock of a SKU (admin); fails OutOfStock if below what is reserved. */
    readonly setOnHand: (sku: Sku, onHand: number) => Effect.Effect<StockLevel, OutOfStock | StoreUnavailable>
    /** Adds (or removes, when negative) physical stock, never below what is reserved. */
    readonly restock: (sku: Sku, delta: number) => Effect.Effect<StockLevel, OutOfStock | StoreUnavailable>
    readonly level: (sku: Sku) => Effect.Effect<Option.Option<StockLevel>, StoreUnavailable>
    /**
     * Holds every line for the order until `holdExpiresAt`, or none. A held or committed
     * reservation of the same order is returned as it is; a released one is held again.
     */
    readonly reserve: (
      orderId: string,
      lines: ReadonlyArray<ReservationLine>,
      holdExpiresAt: number
    ) => Effect.Effect<Reservation, OutOfStock | StoreUnavailable>
    /** Held -> committed: the units leave on_hand and reserved. Idempotent. */
    readonly commit: (orderId: string) => Effect.Effect<Option.Option<Reservation>, StoreUnavailable>
    /** Held -> released: the units return to available. Idempotent; a committed one stays. */
    readonly release: (orderId: string) => Effect.Effect<Option.Option<Reservation>, StoreUnavailable>
    readonly get: (orderId: string) => Effect.Effect<Option.Option<Reservation>, StoreUnavailable>
    /** Held reservations whose hold ended at or before `nowMs`, oldest first. */
    readonly expiredHolds: (
      nowMs: number,
      limit: number
    ) => Effect.Effect<ReadonlyArray<Reservation>, StoreUnavailable>
  }
>()("@till/core/InventoryStore") {}

/** Whether two reservations hold the same units of the same SKUs, whatever the line order. */
export const sameLines = (a: ReadonlyArray<ReservationLine>, b: ReadonlyArray<ReservationLine>): boolean => {
  const totals = (lines: ReadonlyArray<ReservationLine>) => {
    const map = new Map<string, number>()
    for (const l of lines) map.set(l.sku, (map.get(l.sku) ?? 0) + l.quantity)
    return map
  }
  const left = totals(a)
  const right = totals(b)
  return left.size === right.size && [...left].every(([sku, q]) => right.get(sku) === q)
}
