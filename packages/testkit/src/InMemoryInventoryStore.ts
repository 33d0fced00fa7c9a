/**
 * The InventoryStore port in memory. Every operation reads, checks and writes inside one
 * synchronous block, so it is atomic under Effect's scheduler: 1,000 concurrent reserves of
 * one unit against 100 on hand give exactly 100 reservations.
 *
 * Invariant (InventoryStore.ts): for every SKU 0 <= reserved <= on_hand. `make` checks it
 * after every write and dies if it ever breaks. `makeUnconditional` is the planted bug the
 * simulator must catch: its reserve skips the stock check, so it oversells.
 *
 * `Inspector` reads every level and every reservation at once, for tests and the simulator's
 * invariants (one read per check instead of one per SKU or order).
 */
import { Errors, InventoryStore, type Sku } from "@till/core"
import { Context, Effect, Layer, Option } from "effect"
import { full, pageLimit, requireCapacity } from "./internal/limits.js"

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
    readonly reservations: Effect.Effect<ReadonlyArray<InventoryStore.Reservation>>
  }
>()("@till/testkit/InMemoryInventoryStore/Inspector") {}

type Store = InventoryStore.InventoryStore["Service"] & Inspector["Service"]

export const defaultMaxSkus = 100_000
export const defaultMaxReservations = 1_000_000

interface Level {
  onHand: number
  reserved: number
}

type Reservation = InventoryStore.Reservation

const toStockLevel = (sku: Sku.Sku, level: Level): InventoryStore.StockLevel => ({
  sku,
  on_hand: level.onHand,
  reserved: level.reserved,
  available: level.onHand - level.reserved
})

/** Requested units per SKU: an order may list one SKU on several lines. */
const totals = (lines: ReadonlyArray<InventoryStore.ReservationLine>): Map<Sku.Sku, number> => {
  const bySku = new Map<Sku.Sku, number>()
  for (const line of lines) bySku.set(line.sku, (bySku.get(line.sku) ?? 0) + line.quantity)
  return bySku
}

const build = (options: Options, conditional: boolean): Effect.Effect<Store> =>
  Effect.sync(() => {
    const maxSkus = requireCapacity("maxSkus", options.maxSkus ?? defaultMaxSkus)
    const maxReservations = requireCapacity(
      "maxReservations",
      options.maxReservations ?? defaultMaxReservations
    )
    const levels = new Map<Sku.Sku, Level>()
    const reservations = new Map<string, Reservation>()

    // Returns a defect message when the invariant broke; writes stay synchronous so no other
    // fiber can run between a check and its write.
    const violation = (sku: Sku.Sku, level: Level): string | undefined =>
      conditional && (level.reserved < 0 || level.reserved > level.onHand)
        ? `InventoryStore invariant broken for ${sku}: on_hand ${level.onHand}, reserved ${level.reserved}`
        : undefined

    const orDie = <A>(broken: string | undefined, value: A): Effect.Effect<A> =>
      broken === undefined ? Effect.succeed(value) : Effect.die(new Error(broken))

    const refuseBelowReserved = (sku: Sku.Sku, onHand: number, level: Level | undefined) =>
      new Errors.OutOfStock({ unavailable: [{ sku, requested: level?.reserved ?? 0, available: onHand }] })

    const setLevel = (sku: Sku.Sku, onHand: number) =>
      Effect.suspend(
        (): Effect.Effect<InventoryStore.StockLevel, Errors.OutOfStock | Errors.StoreUnavailable> => {
          if (!Number.isSafeInteger(onHand))
            return Effect.die(new Error(`on_hand must be an integer, got ${onHand}`))
          const level = levels.get(sku)
          if (onHand < (level?.reserved ?? 0) || onHand < 0)
            return Effect.fail(refuseBelowReserved(sku, onHand, level))
          if (level === undefined) {
            if (levels.size >= maxSkus) return full("inventory", maxSkus)
            const created = { onHand, reserved: 0 }
            levels.set(sku, created)
            return Effect.succeed(toStockLevel(sku, created))
          }
          level.onHand = onHand
          return orDie(violation(sku, level), toStockLevel(sku, level))
        }
      )

    /** Moves each line's units into (+1) or out of (-1) reserved, and out of on_hand on commit. */
    const apply = (
      lines: ReadonlyArray<InventoryStore.ReservationLine>,
      reservedDelta: -1 | 1,
      onHandDelta: -1 | 0
    ): string | undefined => {
      let broken: string | undefined
      for (const [sku, quantity] of totals(lines)) {
        let level = levels.get(sku)
        if (level === undefined) {
          // Only the unconditional (buggy) reserve can reach a SKU nobody stocked.
          level = { onHand: 0, reserved: 0 }
          levels.set(sku, level)
        }
        level.reserved += reservedDelta * quantity
        level.onHand += onHandDelta * quantity
        broken ??= violation(sku, level)
      }
      return broken
    }

    const reserve = (
      orderId: string,
      lines: ReadonlyArray<InventoryStore.ReservationLine>,
      holdExpiresAt: number
    ): Effect.Effect<Reservation, Errors.OutOfStock | Errors.StoreUnavailable> =>
      Effect.suspend((): Effect.Effect<Reservation, Errors.OutOfStock | Errors.StoreUnavailable> => {
        const bad = lines.find((l) => !Number.isSafeInteger(l.quantity) || l.quantity < 1)
        if (bad !== undefined)
          return Effect.die(new Error(`reservation quantity must be a positive integer, got ${bad.quantity}`))
        const existing = reservations.get(orderId)
        if (existing !== undefined && existing.status !== "released") return Effect.succeed(existing)
        if (existing === undefined && reservations.size >= maxReservations)
          return full("reservation", maxReservations)
        if (conditional) {
          const unavailable: Array<typeof Errors.Unavailable.Type> = []
          for (const [sku, requested] of totals(lines)) {
            const level = levels.get(sku)
            const available = level === undefined ? 0 : level.onHand - level.reserved
            if (requested > available) unavailable.push({ sku, requested, available })
          }
          if (unavailable.length > 0) return Effect.fail(new Errors.OutOfStock({ unavailable }))
        }
        const held: Reservation = {
          order_id: orderId,
          lines: [...lines],
          status: "held",
          hold_expires_at: holdExpiresAt
        }
        reservations.set(orderId, held)
        return orDie(apply(held.lines, 1, 0), held)
      })

    const transition = (orderId: string, to: "committed" | "released") =>
      Effect.suspend(() => {
        const existing = reservations.get(orderId)
        // Only a held reservation moves; committed and released ones are final for this call.
        if (existing === undefined || existing.status !== "held")
          return Effect.succeed(Option.fromNullishOr(existing))
        const next: Reservation = { ...existing, status: to }
        reservations.set(orderId, next)
        return orDie(apply(existing.lines, -1, to === "committed" ? -1 : 0), Option.some(next))
      })

    return {
      setOnHand: setLevel,
      restock: (sku, delta) =>
        Effect.suspend(() => {
          if (!Number.isSafeInteger(delta))
            return Effect.die(new Error(`restock delta must be an integer, got ${delta}`))
          return setLevel(sku, (levels.get(sku)?.onHand ?? 0) + delta)
        }),
      level: (sku) =>
        Effect.sync(() =>
          Option.map(Option.fromNullishOr(levels.get(sku)), (level) => toStockLevel(sku, level))
        ),
      reserve,
      commit: (orderId) => transition(orderId, "committed"),
      release: (orderId) => transition(orderId, "released"),
      get: (orderId) => Effect.sync(() => Option.fromNullishOr(reservations.get(orderId))),
      expiredHolds: (nowMs, limit) =>
        Effect.sync(() => {
          const expired: Array<Reservation> = []
          for (const r of reservations.values())
            if (r.status === "held" && r.hold_expires_at <= nowMs) expired.push(r)
          expired.sort((a, b) => a.hold_expires_at - b.hold_expires_at || (a.order_id < b.order_id ? -1 : 1))
          return expired.slice(0, pageLimit(limit))
        }),
      levels: Effect.sync(() => Array.from(levels, ([sku, level]) => toStockLevel(sku, level))),
      reservations: Effect.sync(() => [...reservations.values()])
    }
  })

/** The correct store: reserve is conditional, all-or-nothing, and never oversells. */
export const make = (options: Options = {}): Effect.Effect<Store> => build(options, true)

/**
 * PLANTED BUG, for the simulator's self-check only: reserve skips the stock condition and
 * reserves even when available < requested. A simulator that does not report oversell
 * against this store is broken. Never use it outside that check.
 */
export const makeUnconditional = (options: Options = {}): Effect.Effect<Store> => build(options, false)

const context = (store: Effect.Effect<Store>): Layer.Layer<InventoryStore.InventoryStore | Inspector> =>
  Layer.effectContext(
    Effect.map(store, (s) => Context.make(InventoryStore.InventoryStore, s).pipe(Context.add(Inspector, s)))
  )

/** Provides `InventoryStore` and its `Inspector` (one store behind both). */
export const layer: Layer.Layer<InventoryStore.InventoryStore | Inspector> = context(make())

export const layerWith = (options: Options): Layer.Layer<InventoryStore.InventoryStore | Inspector> =>
  context(make(options))

/** PLANTED BUG (see `makeUnconditional`). */
export const layerUnconditional: Layer.Layer<InventoryStore.InventoryStore | Inspector> = context(
  makeUnconditional()
)
