/**
 * The simulator's world on the Postgres stores: orders, stock, catalog, idempotency keys, the
 * payment retry queue and dead letters on a fresh, migrated schema per seed (`CREATE SCHEMA
 * t_<random>`, dropped with everything in it when the seed ends, so no seed sees another's rows);
 * carts, rate limits, the gateway, the broker, shipping and tax stay in memory (their adapters do
 * not exist yet). `pnpm sim:postgres` (packages/adapters/bin/sim-postgres.ts) and
 * postgres.sim.test.ts run seeds through `runSeed`.
 *
 * Decisions, and why:
 * - Here, not in the testkit: dependencies point one way (core <- testkit <- adapters). The
 *   testkit takes built ports and store-neutral probes (`Simulator.runWith`, `StoreProbes`).
 * - The probes read the tables with plain SQL, never through the store methods under test: an
 *   invariant that asked the store what it did would take the store's word for it. Each probe is
 *   one statement (one snapshot), and the simulator runs a check's probes with no store call
 *   outstanding (testkit simIo.ts), so a check never sees half of a step.
 * - The orders probe decodes `orders.doc` and checks it against the row's own columns (status,
 *   version, attempt, total): a row whose document and columns disagree dies the run, loudly. The
 *   payment method token is sealed apart (`payments`, PaymentCipher.ts) and the probe does not
 *   unseal it: no check reads it, so the decoded order carries a placeholder.
 * - Stored idempotent answers are sealed (PaymentCipher.ts): the probe opens them with the
 *   schema's key (the cipher, not the store) to check each key's stored answer against what its
 *   client was told first.
 * - The pool is small (`maxConnections`, 8 by default): the world's three processes share it, as
 *   they share the in-memory stores, and the simulator's concurrency is a few dozen fibers.
 */
import {
  Catalog,
  DeadLetterStore,
  IdempotencyStore,
  InventoryStore,
  Order,
  OrderStore,
  PaymentRetryQueue
} from "@till/core"
import { PaymentCipher } from "@till/adapters/postgres"
import { Simulator } from "@till/testkit"
import { Context, Effect, Layer, Schema } from "effect"
import { SqlClient } from "effect/sql"
import { answerRow } from "../../src/postgres/internal/sealedRows.js"
import {
  catalogStore,
  deadLetterStore,
  idempotencyStore,
  onFreshSchema,
  orderAndStockStores,
  paymentRetryQueue
} from "./postgres.js"

/** The ports `Simulator.runWith` takes (its `ExternalPorts`). */
type Ports = Simulator.ExternalPorts

const decodeOrder = Schema.decodeUnknownEffect(Order.Order)

/** What a probe reads cannot fail as a finding: a database the checks cannot read stops the run. */
const read = <A, E>(what: string, self: Effect.Effect<A, E>): Effect.Effect<A> =>
  Effect.catchCause(self, (cause) => Effect.die(new Error(`probe ${what}: ${String(cause)}`)))

/** The sealed token's stand-in in decoded orders (no check reads it). */
export const sealedToken = "(sealed in payments)"

/** The checks' reads of one schema, by plain SQL over `sql`. */
export const probes = (
  sql: SqlClient.SqlClient,
  cipher: PaymentCipher.PaymentCipher
): Simulator.StoreProbes => ({
  stock: {
    levels: read(
      "stock",
      Effect.map(
        sql<{
          sku: string
          on_hand: number
          reserved: number
        }>`SELECT sku, on_hand, reserved FROM stock ORDER BY sku`,
        (rows) =>
          rows.map((r) => ({
            sku: r.sku as Order.Order["items"][number]["sku"],
            on_hand: r.on_hand,
            reserved: r.reserved,
            available: r.on_hand - r.reserved
          }))
      )
    ),
    allReservations: read(
      "reservations",
      Effect.map(
        sql<{
          order_id: string
          attempt: number
          status: "held" | "committed" | "released"
          hold_expires_at: bigint | string | number
          lines: ReadonlyArray<{ sku: string; quantity: number }>
        }>`SELECT order_id, attempt, status, hold_expires_at, lines FROM reservations ORDER BY order_id, attempt`,
        (rows) =>
          rows.map((r) => ({
            order_id: r.order_id,
            attempt: r.attempt,
            status: r.status,
            hold_expires_at: Number(r.hold_expires_at),
            lines: r.lines.map((l) => ({
              sku: l.sku as Order.Order["items"][number]["sku"],
              quantity: l.quantity
            }))
          }))
      )
    )
  },
  orders: {
    orders: read(
      "orders",
      Effect.flatMap(
        sql<{
          order_id: string
          status: string
          version: number
          payment_attempt: number
          total_minor: bigint | string | number
          doc: { readonly [key: string]: unknown }
        }>`SELECT order_id, status, version, payment_attempt, total_minor, doc FROM orders ORDER BY created_at, order_id`,
        (rows) =>
          Effect.forEach(rows, (row) =>
            Effect.flatMap(decodeOrder({ payment_method_id: sealedToken, ...row.doc }), (order) =>
              order.order_id === row.order_id &&
              order.status === row.status &&
              order.version === row.version &&
              order.payment_attempt === row.payment_attempt &&
              order.total.amount === Number(row.total_minor)
                ? Effect.succeed(order)
                : Effect.die(
                    new Error(
                      `orders row ${row.order_id}: columns say ${row.status} v${row.version} attempt ${row.payment_attempt} total ${row.total_minor}, ` +
                        `its doc ${order.status} v${order.version} attempt ${order.payment_attempt} total ${order.total.amount}`
                    )
                  )
            )
          )
      )
    ),
    outbox: read(
      "outbox",
      sql<{ event: unknown; published: boolean }>`SELECT event, published FROM outbox ORDER BY seq`
    ),
    pending: read(
      "outbox",
      Effect.map(
        sql<{ n: bigint | string | number }>`SELECT count(*) AS n FROM outbox WHERE NOT published`,
        (rows) => Number(rows[0]?.n ?? 0)
      )
    )
  },
  idempotency: {
    // Answers are sealed (PaymentCipher.ts): opened here with the schema's key, from the columns.
    records: read(
      "idempotency_keys",
      Effect.flatMap(
        sql<{
          scope: string
          key: string
          state: string
          outcome: unknown
          outcome_key_id: string | null
          outcome_sealed: Uint8Array | null
        }>`SELECT scope, key, state, outcome, outcome_key_id, outcome_sealed FROM idempotency_keys ORDER BY scope, key`,
        (rows) =>
          Effect.forEach(rows, (r) =>
            Effect.map(
              r.outcome_key_id === null || r.outcome_sealed === null
                ? Effect.succeed(r.outcome)
                : Effect.map(
                    cipher.open(
                      { keyId: r.outcome_key_id, sealed: r.outcome_sealed },
                      answerRow(r.scope, r.key)
                    ),
                    (json): unknown => JSON.parse(json)
                  ),
              (outcome) => ({ scope: r.scope, key: r.key, state: r.state, outcome })
            )
          )
      )
    )
  },
  retryQueue: {
    // The rows `claimDue(nowMs, …)` would take: due, and unclaimed or their claim lapsed.
    due: (nowMs) =>
      read(
        "payment_retry_queue",
        Effect.map(
          sql<{ due: boolean }>`
            SELECT EXISTS (
              SELECT 1 FROM payment_retry_queue
              WHERE next_attempt_at <= ${Math.floor(nowMs)}::bigint
                AND (claimed_until IS NULL OR claimed_until <= ${Math.floor(nowMs)}::bigint)) AS due`,
          (rows) => rows[0]?.due === true
        )
      )
  },
  deadLetters: read("dead_letters", sql`SELECT * FROM dead_letters ORDER BY failed_at, order_id`)
})

export interface Options {
  /** Pool size of the seed's schema (default 8). */
  readonly maxConnections?: number
  /** Called with the seed's schema name, once it exists. */
  readonly onSchema?: (schema: string) => void
  /** Changes the ports before the world gets them (a test tampering with the database behind them). */
  readonly tamper?: (ports: Ports, sql: SqlClient.SqlClient) => Ports
}

/** The Postgres stores of the world, on a fresh schema that lives as long as the scope. */
export const ports = (options: Options = {}) =>
  Effect.gen(function* () {
    const built = yield* Layer.build(
      onFreshSchema(
        // The cipher in the output too: the probes open sealed answers with it.
        Layer.mergeAll(
          orderAndStockStores,
          catalogStore,
          idempotencyStore,
          paymentRetryQueue,
          deadLetterStore
        ).pipe(Layer.provideMerge(PaymentCipher.layerEphemeral)),
        {
          maxConnections: options.maxConnections ?? 8,
          ...(options.onSchema === undefined ? {} : { onSchema: options.onSchema })
        }
      )
    )
    const get = <I, S>(key: Context.Key<I, S>) => Context.get(built as Context.Context<I>, key)
    const ports: Ports = {
      orderStore: get(OrderStore.OrderStore),
      inventory: get(InventoryStore.InventoryStore),
      catalog: get(Catalog.Catalog),
      idempotency: get(IdempotencyStore.IdempotencyStore),
      retryQueue: get(PaymentRetryQueue.PaymentRetryQueue),
      deadLetters: get(DeadLetterStore.DeadLetterStore),
      probes: probes(get(SqlClient.SqlClient), get(PaymentCipher.PaymentCipher))
    }
    return options.tamper === undefined ? ports : options.tamper(ports, get(SqlClient.SqlClient))
  })

/** Runs one seed of the simulator on a fresh Postgres schema (dropped afterwards). */
export const runSeed = (
  run: Simulator.RunOptions,
  options: Options = {}
): Effect.Effect<Simulator.Result, unknown> =>
  Effect.scoped(
    Effect.flatMap(ports(options), (ports) => Effect.promise(() => Simulator.runWith({ ...run, ports })))
  )
