/**
 * Port: stock per SKU and the reservations of orders.
 *
 * Invariant (owned here, checked by every implementation and the contract suite):
 * for every SKU, 0 <= reserved <= on_hand, so available = on_hand - reserved never goes
 * below zero.
 *
 * Reservations are made, committed and released only by an order step (`OrderStore.create`
 * and `OrderStore.step`), in the same transaction as the order's status change: a stock
 * movement never happens without its order step, nor an order step without its movement
 * (DESIGN.md §2). A reservation is keyed by the order and its payment attempt, so a late
 * step of one attempt can never move the stock of another. This port holds what is left:
 * the physical stock (admin writes) and reads.
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
  /** The order's payment attempt this hold was taken for (1 for the checkout, n for a retry). */
  attempt: Schema.Int,
  lines: Schema.Array(ReservationLine),
  status: ReservationStatus,
  hold_expires_at: Schema.Int
})
export type Reservation = typeof Reservation.Type

/** The movement of an order step: hold its lines for the attempt, or commit/release the attempt's hold. */
export type StockMove = "hold" | "commit" | "release"

export class InventoryStore extends Context.Service<
  InventoryStore,
  {
    /** Sets the physical stock of a SKU (admin); fails OutOfStock if below what is reserved. */
    readonly setOnHand: (sku: Sku, onHand: number) => Effect.Effect<StockLevel, OutOfStock | StoreUnavailable>
    /**
     * Adds (or removes, when negative) physical stock, never below what is reserved. Idempotent
     * by `movementId`: a movement applied already answers the level and changes nothing, so a
     * retry after a lost answer cannot create units twice.
     */
    readonly restock: (
      sku: Sku,
      delta: number,
      movementId: string
    ) => Effect.Effect<StockLevel, OutOfStock | StoreUnavailable>
    readonly level: (sku: Sku) => Effect.Effect<Option.Option<StockLevel>, StoreUnavailable>
    /** The reservations of an order, one per payment attempt that held stock, oldest first. */
    readonly reservations: (orderId: string) => Effect.Effect<ReadonlyArray<Reservation>, StoreUnavailable>
    /** Held reservations whose hold ended at or before `nowMs`, oldest first. */
    readonly expiredHolds: (
      nowMs: number,
      limit: number
    ) => Effect.Effect<ReadonlyArray<Reservation>, StoreUnavailable>
  }
>()("@till/core/InventoryStore") {}
