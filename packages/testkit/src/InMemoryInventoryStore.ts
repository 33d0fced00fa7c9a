/**
 * The InventoryStore port in memory: stock levels and reads. Its tables (`Stock`, a
 * `StockBook`) are shared with `InMemoryOrderStore`, whose order steps make, commit and
 * release reservations in the same synchronous block as the order write (one transaction).
 *
 * Invariant (InventoryStore.ts): for every SKU 0 <= reserved <= on_hand. The book checks it
 * after every write and the store dies if it ever breaks. `layerUnconditional` is the planted
 * bug the simulator must catch: holds skip the stock check, so it oversells.
 *
 * `Inspector` reads every level and every reservation at once, for tests and the simulator's
 * invariants (one read per check instead of one per SKU or order).
 */
import { Errors, InventoryStore } from "@till/core"
import { Context, Effect, Layer, Option } from "effect"
import { pageLimit, requireCapacity } from "./internal/limits.js"
import { StockBook, toStockLevel } from "./internal/stockBook.js"

export interface Options {
  /** Most distinct SKUs tracked. */
  readonly maxSkus?: number
  /** Most reservations kept (held, committed and released). */
  readonly maxReservations?: number
}

/** Read access for tests and the simulator; never used by services. */
export class Inspector extends Context.Service<
  Inspector,
  {
    /** Every SKU's level, in the order the SKUs were first stocked. */
    readonly levels: Effect.Effect<ReadonlyArray<InventoryStore.StockLevel>>
    /** Every reservation (held, committed and released), in the order they were made. */
    readonly allReservations: Effect.Effect<ReadonlyArray<InventoryStore.Reservation>>
  }
>()("@till/testkit/InMemoryInventoryStore/Inspector") {}

/** The stock tables, shared with `InMemoryOrderStore` (provide both from one layer build). */
export class Stock extends Context.Service<Stock, StockBook>()(
  "@till/testkit/InMemoryInventoryStore/Stock"
) {}

type Store = InventoryStore.InventoryStore["Service"] & Inspector["Service"]

export const defaultMaxSkus = 100_000
export const defaultMaxReservations = 1_000_000

/** A book's answer as an effect: a string is a defect (a broken invariant or a caller bug). */
const answer = (
  result: InventoryStore.StockLevel | Errors.OutOfStock | Errors.StoreUnavailable | string
): Effect.Effect<InventoryStore.StockLevel, Errors.OutOfStock | Errors.StoreUnavailable> =>
  typeof result === "string"
    ? Effect.die(new Error(result))
    : result instanceof Errors.OutOfStock || result instanceof Errors.StoreUnavailable
      ? Effect.fail(result)
      : Effect.succeed(result)

export const book = (options: Options = {}, conditional = true): StockBook =>
  new StockBook({
    maxSkus: requireCapacity("maxSkus", options.maxSkus ?? defaultMaxSkus),
    maxReservations: requireCapacity("maxReservations", options.maxReservations ?? defaultMaxReservations),
    conditional
  })

/** The port and its Inspector over `stock`. */
export const make = (stock: StockBook): Store => ({
  setOnHand: (sku, onHand) => Effect.suspend(() => answer(stock.setOnHand(sku, onHand))),
  restock: (sku, delta, movementId) =>
    Effect.suspend(() => {
      if (!Number.isSafeInteger(delta))
        return Effect.die(new Error(`restock delta must be an integer, got ${delta}`))
      const level = stock.levels.get(sku)
      if (stock.movements.has(movementId))
        return Effect.succeed(toStockLevel(sku, level ?? { onHand: 0, reserved: 0 }))
      const result = stock.setOnHand(sku, (level?.onHand ?? 0) + delta)
      if (typeof result === "object" && "on_hand" in result) stock.movements.add(movementId)
      return answer(result)
    }),
  level: (sku) =>
    Effect.sync(() =>
      Option.map(Option.fromNullishOr(stock.levels.get(sku)), (level) => toStockLevel(sku, level))
    ),
  reservations: (orderId) => Effect.sync(() => [...(stock.reservations.get(orderId) ?? [])]),
  expiredHolds: (nowMs, limit) =>
    Effect.sync(() => {
      const expired: Array<InventoryStore.Reservation> = []
      for (const r of stock.made) if (r.status === "held" && r.hold_expires_at <= nowMs) expired.push(r)
      expired.sort(
        (a, b) =>
          a.hold_expires_at - b.hold_expires_at ||
          (a.order_id < b.order_id ? -1 : a.order_id > b.order_id ? 1 : a.attempt - b.attempt)
      )
      return expired.slice(0, pageLimit(limit))
    }),
  levels: Effect.sync(() => Array.from(stock.levels, ([sku, level]) => toStockLevel(sku, level))),
  allReservations: Effect.sync(() => [...stock.made])
})

const context = (stock: () => StockBook): Layer.Layer<InventoryStore.InventoryStore | Inspector | Stock> =>
  Layer.effectContext(
    Effect.sync(() => {
      const shared = stock()
      const store = make(shared)
      return Context.make(InventoryStore.InventoryStore, store).pipe(
        Context.add(Inspector, store),
        Context.add(Stock, shared)
      )
    })
  )

/** Provides `InventoryStore`, its `Inspector` and the shared `Stock` tables (one book behind all). */
export const layer: Layer.Layer<InventoryStore.InventoryStore | Inspector | Stock> = context(() => book())

export const layerWith = (options: Options): Layer.Layer<InventoryStore.InventoryStore | Inspector | Stock> =>
  context(() => book(options))

/**
 * PLANTED BUG, for the simulator's self-check only: holds skip the stock condition and reserve
 * even when available < requested. A simulator that does not report oversell against this
 * store is broken. Never use it outside that check.
 */
export const layerUnconditional: Layer.Layer<InventoryStore.InventoryStore | Inspector | Stock> = context(
  () => book({}, false)
)
