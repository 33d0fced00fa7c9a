/**
 * The in-memory stock tables: levels per SKU and reservations per (order, attempt). Shared by
 * `InMemoryInventoryStore` (admin writes, reads) and `InMemoryOrderStore` (the holds, commits
 * and releases of order steps), as the two ports share tables in one Postgres database.
 *
 * Every method is synchronous: a caller checks (`shortfall`) and writes (`hold`) inside one
 * synchronous block, which no other fiber can interleave, the in-memory form of a transaction.
 * `conditional: false` is the planted bug the simulator must catch: holds skip the stock check.
 */
import { Errors, type InventoryStore, type Sku } from "@till/core"

interface Level {
  onHand: number
  reserved: number
}

type Reservation = InventoryStore.Reservation

export interface StockBookOptions {
  readonly maxSkus: number
  readonly maxReservations: number
  readonly conditional: boolean
}

/** Requested units per SKU: an order may list one SKU on several lines. */
export const totals = (lines: ReadonlyArray<InventoryStore.ReservationLine>): Map<Sku.Sku, number> => {
  const bySku = new Map<Sku.Sku, number>()
  for (const line of lines) bySku.set(line.sku, (bySku.get(line.sku) ?? 0) + line.quantity)
  return bySku
}

export const toStockLevel = (sku: Sku.Sku, level: Level): InventoryStore.StockLevel => ({
  sku,
  on_hand: level.onHand,
  reserved: level.reserved,
  available: level.onHand - level.reserved
})

export class StockBook {
  readonly levels = new Map<Sku.Sku, Level>()
  /** Reservations per order, one per attempt that held stock, oldest first. */
  readonly reservations = new Map<string, Array<Reservation>>()
  /** Every reservation, in the order they were made (for the Inspector). */
  readonly made: Array<Reservation> = []
  /** Restock movements applied, by movement id. */
  readonly movements = new Set<string>()
  private count = 0

  constructor(readonly options: StockBookOptions) {}

  /** The lines that cannot be held now (empty when all can, or when the planted bug is on). */
  shortfall(lines: ReadonlyArray<InventoryStore.ReservationLine>): Array<typeof Errors.Unavailable.Type> {
    const unavailable: Array<typeof Errors.Unavailable.Type> = []
    if (!this.options.conditional) return unavailable
    for (const [sku, requested] of totals(lines)) {
      const level = this.levels.get(sku)
      const available = level === undefined ? 0 : level.onHand - level.reserved
      if (requested > available) unavailable.push({ sku, requested, available })
    }
    return unavailable
  }

  /** Whether one more reservation fits. */
  hasRoom(): boolean {
    return this.count < this.options.maxReservations
  }

  reservation(orderId: string, attempt: number): Reservation | undefined {
    return this.reservations.get(orderId)?.find((r) => r.attempt === attempt)
  }

  /**
   * Why `move` (or, with "hold", `hold`) of this attempt cannot be done, as a defect message;
   * undefined when it can. Checked before anything of a step is written.
   */
  refusal(orderId: string, attempt: number, move: "hold" | "committed" | "released"): string | undefined {
    const status = this.reservation(orderId, attempt)?.status
    if (move === "hold")
      return status === undefined ? undefined : `order ${orderId} attempt ${attempt} holds stock already`
    return status === "held"
      ? undefined
      : `order ${orderId} attempt ${attempt}: cannot move a ${status ?? "missing"} hold to ${move}`
  }

  /** Holds the lines (checked with `shortfall` first); answers a defect message if the invariant broke. */
  hold(
    orderId: string,
    attempt: number,
    lines: ReadonlyArray<InventoryStore.ReservationLine>,
    holdExpiresAt: number
  ): string | undefined {
    if (this.reservation(orderId, attempt) !== undefined)
      return `order ${orderId} attempt ${attempt} holds stock already`
    const held: Reservation = {
      order_id: orderId,
      attempt,
      lines: [...lines],
      status: "held",
      hold_expires_at: holdExpiresAt
    }
    const list = this.reservations.get(orderId)
    if (list === undefined) this.reservations.set(orderId, [held])
    else list.push(held)
    this.made.push(held)
    this.count++
    return this.apply(held.lines, 1, 0)
  }

  /** Moves a held reservation; moving one that is not held is a defect (answered as its message). */
  move(orderId: string, attempt: number, to: "committed" | "released"): string | undefined {
    const list = this.reservations.get(orderId)
    const index = list?.findIndex((r) => r.attempt === attempt) ?? -1
    const existing = index === -1 ? undefined : list![index]!
    if (existing?.status !== "held")
      return `order ${orderId} attempt ${attempt}: cannot move a ${existing?.status ?? "missing"} hold to ${to}`
    const next: Reservation = { ...existing, status: to }
    list![index] = next
    this.made[this.made.indexOf(existing)] = next
    return this.apply(existing.lines, -1, to === "committed" ? -1 : 0)
  }

  /** Sets on_hand; answers the new level, or OutOfStock when below what is reserved. */
  setOnHand(
    sku: Sku.Sku,
    onHand: number
  ): InventoryStore.StockLevel | Errors.OutOfStock | Errors.StoreUnavailable | string {
    if (!Number.isSafeInteger(onHand)) return `on_hand must be an integer, got ${onHand}`
    const level = this.levels.get(sku)
    if (onHand < (level?.reserved ?? 0) || onHand < 0)
      return new Errors.OutOfStock({
        unavailable: [{ sku, requested: level?.reserved ?? 0, available: onHand }]
      })
    if (level === undefined) {
      if (this.levels.size >= this.options.maxSkus)
        return new Errors.StoreUnavailable({
          store: "inventory",
          reason: `capacity of ${this.options.maxSkus} entries reached`
        })
      const created = { onHand, reserved: 0 }
      this.levels.set(sku, created)
      return toStockLevel(sku, created)
    }
    level.onHand = onHand
    return this.violation(sku, level) ?? toStockLevel(sku, level)
  }

  private violation(sku: Sku.Sku, level: Level): string | undefined {
    return this.options.conditional && (level.reserved < 0 || level.reserved > level.onHand)
      ? `InventoryStore invariant broken for ${sku}: on_hand ${level.onHand}, reserved ${level.reserved}`
      : undefined
  }

  /** Moves each line's units into (+1) or out of (-1) reserved, and out of on_hand on commit. */
  private apply(
    lines: ReadonlyArray<InventoryStore.ReservationLine>,
    reservedDelta: -1 | 1,
    onHandDelta: -1 | 0
  ): string | undefined {
    let broken: string | undefined
    for (const [sku, quantity] of totals(lines)) {
      let level = this.levels.get(sku)
      if (level === undefined) {
        // Only the unconditional (planted) hold can reach a SKU nobody stocked.
        level = { onHand: 0, reserved: 0 }
        this.levels.set(sku, level)
      }
      level.reserved += reservedDelta * quantity
      level.onHand += onHandDelta * quantity
      broken ??= this.violation(sku, level)
    }
    return broken
  }
}
