/**
 * The InventoryStore port on Postgres: the physical stock (admin writes) and the reads of levels
 * and reservations. Reservations are written only by order steps (PostgresOrderStore), in the
 * same statement as their order; the CHECK constraints of `stock` keep 0 <= reserved <= on_hand
 * whoever writes.
 *
 * `restock` is idempotent by movement id: the movement row is inserted first (`ON CONFLICT DO
 * NOTHING` waits for a concurrent insert of the same id, so a burst of replays applies it
 * once), and a refused movement rolls its row back with the transaction, so it may be tried again.
 */
import { Errors, InventoryStore, type Sku } from "@till/core"
import { Effect, Layer, Option } from "effect"
import { SqlClient } from "effect/sql"
import { pageLimit } from "./internal/cursor.js"
import type * as PgLayer from "./PgLayer.js"
import { gatedStatements } from "./internal/sqlErrors.js"

const store = "inventory"

/** Largest count a stock column holds (Postgres `integer`). */
export const maxUnits = 2_147_483_647

interface LevelRow {
  readonly on_hand: number
  readonly reserved: number
}

const toLevel = (sku: Sku.Sku, row: LevelRow): InventoryStore.StockLevel => ({
  sku,
  on_hand: row.on_hand,
  reserved: row.reserved,
  available: row.on_hand - row.reserved
})

const requireUnits = (n: number, what: string): Effect.Effect<void> =>
  Number.isSafeInteger(n) && Math.abs(n) <= maxUnits
    ? Effect.void
    : Effect.die(new Error(`${what} must be an integer within ±${maxUnits}, got ${n}`))

interface ReservationRow {
  readonly order_id: string
  readonly attempt: number
  readonly status: InventoryStore.ReservationStatus
  readonly hold_expires_at: bigint
  readonly lines: ReadonlyArray<InventoryStore.ReservationLine>
}

const toReservation = (r: ReservationRow): InventoryStore.Reservation => ({
  order_id: r.order_id,
  attempt: r.attempt,
  lines: r.lines,
  status: r.status,
  hold_expires_at: Number(r.hold_expires_at)
})

/** The store over the pool in context. */
export const make: Effect.Effect<InventoryStore.InventoryStore["Service"], never, PgLayer.Client> =
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const unavailable = yield* gatedStatements(store)

    const read = (sku: Sku.Sku) =>
      Effect.map(sql<LevelRow>`SELECT on_hand, reserved FROM stock WHERE sku = ${sku}::text`, (rows) =>
        Option.map(Option.fromNullishOr(rows[0]), (row) => toLevel(sku, row))
      )

    const refused = (sku: Sku.Sku, onHand: number) =>
      Effect.flatMap(
        read(sku),
        (level) =>
          new Errors.OutOfStock({
            unavailable: [
              {
                sku,
                requested: Option.match(level, { onNone: () => 0, onSome: (l) => l.reserved }),
                available: onHand
              }
            ]
          })
      )

    const setOnHand = Effect.fn("PostgresInventoryStore.setOnHand")(function* (sku: Sku.Sku, onHand: number) {
      yield* requireUnits(onHand, "on_hand")
      if (onHand < 0) return yield* unavailable(refused(sku, onHand))
      const rows = yield* unavailable(sql<LevelRow>`
      INSERT INTO stock AS s (sku, on_hand) VALUES (${sku}::text, ${onHand}::int)
      ON CONFLICT (sku) DO UPDATE SET on_hand = excluded.on_hand WHERE s.reserved <= excluded.on_hand
      RETURNING s.on_hand, s.reserved`)
      const row = rows[0]
      return row === undefined ? yield* unavailable(refused(sku, onHand)) : toLevel(sku, row)
    })

    const restock = Effect.fn("PostgresInventoryStore.restock")(function* (
      sku: Sku.Sku,
      delta: number,
      movementId: string
    ) {
      yield* requireUnits(delta, "restock delta")
      const applied = Effect.gen(function* () {
        const fresh = yield* sql`
        INSERT INTO stock_movements (movement_id, sku, delta) VALUES (${movementId}::text, ${sku}::text, ${delta}::int)
        ON CONFLICT DO NOTHING
        RETURNING 1`
        if (fresh.length === 0)
          return Option.getOrElse(yield* read(sku), () => toLevel(sku, { on_hand: 0, reserved: 0 }))
        const rows = yield* sql<LevelRow>`
        WITH bumped AS (
          UPDATE stock s SET on_hand = s.on_hand + ${delta}::int
          WHERE s.sku = ${sku}::text AND s.on_hand + ${delta}::int >= s.reserved
          RETURNING s.on_hand, s.reserved
        ),
        created AS (
          INSERT INTO stock (sku, on_hand)
          SELECT ${sku}::text, ${delta}::int
          WHERE ${delta}::int >= 0 AND NOT EXISTS (SELECT 1 FROM stock WHERE sku = ${sku}::text)
          ON CONFLICT (sku) DO NOTHING
          RETURNING on_hand, reserved
        )
        SELECT on_hand, reserved FROM bumped UNION ALL SELECT on_hand, reserved FROM created`
        const row = rows[0]
        if (row === undefined) {
          const level = yield* read(sku)
          const onHand = Option.match(level, { onNone: () => 0, onSome: (l) => l.on_hand })
          return yield* new Errors.OutOfStock({
            unavailable: [
              {
                sku,
                requested: -delta,
                available: onHand - Option.match(level, { onNone: () => 0, onSome: (l) => l.reserved })
              }
            ]
          })
        }
        return toLevel(sku, row)
      })
      return yield* unavailable(sql.withTransaction(applied))
    })

    const level = Effect.fn("PostgresInventoryStore.level")(function* (sku: Sku.Sku) {
      return yield* unavailable(read(sku))
    })

    const reservations = Effect.fn("PostgresInventoryStore.reservations")(function* (orderId: string) {
      const rows = yield* unavailable(sql<ReservationRow>`
      SELECT order_id, attempt, status, hold_expires_at, lines FROM reservations
      WHERE order_id = ${orderId}::text ORDER BY attempt`)
      return rows.map(toReservation)
    })

    const expiredHolds = Effect.fn("PostgresInventoryStore.expiredHolds")(function* (
      nowMs: number,
      limit: number
    ) {
      const size = pageLimit(limit)
      if (size === 0) return []
      const rows = yield* unavailable(sql<ReservationRow>`
      SELECT order_id, attempt, status, hold_expires_at, lines FROM reservations
      WHERE status = 'held' AND hold_expires_at <= ${Math.floor(nowMs)}::bigint
      ORDER BY hold_expires_at, order_id, attempt
      LIMIT ${size}`)
      return rows.map(toReservation)
    })

    return InventoryStore.InventoryStore.of({ setOnHand, restock, level, reservations, expiredHolds })
  })

/**
 * InventoryStore on the pool of `PgLayer` (migrated with `Migrations.migrate`).
 * @category layers
 */
export const layer: Layer.Layer<InventoryStore.InventoryStore, never, PgLayer.Client> = Layer.effect(
  InventoryStore.InventoryStore,
  make
)
