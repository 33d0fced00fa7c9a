/**
 * A flash sale's reservations of one SKU per second (issue 17, point 5), in one run on the real
 * Postgres, each round on fresh tables (a schema of its own, migrated):
 *
 * - `raw.c64` / `raw.c1`: the raw ceiling of one row, a conditional
 *   `UPDATE stock SET reserved = reserved + 1 WHERE sku = $1 AND on_hand - reserved >= 1` per
 *   reservation (autocommit, prepared, on `pg`), from 64 connections at once and from one. It does
 *   no other write: the floor of any reservation, the baseline;
 * - `till.batched`: Till's whole TX1 per reservation (the order, its hold, its payment row, audit
 *   entry and two outbox events, as checkout writes them) for 64 concurrent buyers through the
 *   hot-SKU entity (HotSkuEntity.ts on `TestRunner`, default settings), on Till's pool (30);
 * - `till.single`: the same creates without the entity, one transaction each.
 *
 * Rounds are interleaved and the medians kept; the orders are built before the clock starts.
 */
import {
  Migrations,
  PaymentCipher,
  PgLayer,
  PostgresInventoryStore,
  PostgresOrderStore
} from "@till/adapters/postgres"
import { type Event, InventoryStore, type Order, OrderStore, Sku } from "@till/core"
import { makeEvent, makeOrder } from "@till/testkit/contracts"
import { Effect, Exit, Layer, ManagedRuntime, Metric, Redacted } from "effect"
import { TestRunner } from "effect/cluster"
import pg from "pg"
import * as HotSkuEntity from "../../packages/runtime/src/HotSkuEntity.js"
import type { Progress } from "../run.js"

const url = process.env["TILL_TEST_DATABASE_URL"] ?? "postgres://postgres@127.0.0.1:5432/till_test"
const RESERVATIONS = Number(process.env["TILL_BENCH_HOT_SKU_RESERVATIONS"] ?? 4_000)
const ROUNDS = Number(process.env["TILL_BENCH_HOT_SKU_ROUNDS"] ?? 3)
const BUYERS = 64
const SKU = Sku.make("flash-sale-item")

export type Variant = "raw.c64" | "raw.c1" | "till.batched" | "till.single"
export const variants: ReadonlyArray<Variant> = ["raw.c64", "till.batched", "till.single", "raw.c1"]

/** A fresh migrated schema with the hot SKU stocked beyond any round. */
const freshSchema = async (admin: pg.Client): Promise<string> => {
  const schema = `bench_hot_${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`
  await admin.query(`CREATE SCHEMA ${schema}`)
  await Effect.runPromise(
    Migrations.migrate.pipe(
      Effect.provide(
        PgLayer.layerWith({ url: Redacted.make(url), schema, maxConnections: 1, minConnections: 0 })
      )
    )
  )
  await admin.query(`INSERT INTO ${schema}.stock (sku, on_hand) VALUES ($1, 1000000000)`, [SKU])
  return schema
}

/** `count` conditional updates of the one row from `connections` connections; the seconds taken. */
const raw = async (schema: string, connections: number, count: number): Promise<number> => {
  const pool = new pg.Pool({ connectionString: url, max: connections, options: `-c search_path=${schema}` })
  try {
    const clients = await Promise.all(Array.from({ length: connections }, () => pool.connect()))
    const query = {
      name: "reserve",
      text: "UPDATE stock SET reserved = reserved + 1 WHERE sku = $1 AND on_hand - reserved >= 1",
      values: [SKU]
    }
    await Promise.all(clients.map((c) => c.query("SELECT 1")))
    let next = 0
    const started = performance.now()
    await Promise.all(
      clients.map(async (client) => {
        while (next < count) {
          next++
          const result = await client.query(query)
          if (result.rowCount !== 1) throw new Error("raw reservation refused")
        }
      })
    )
    const seconds = (performance.now() - started) / 1000
    for (const c of clients) c.release()
    return seconds
  } finally {
    await pool.end()
  }
}

/** The orders and events checkout would write, for `count` buyers of one unit. */
const orders = (count: number) =>
  Effect.runPromise(
    Effect.forEach(Array.from({ length: count }), () =>
      Effect.gen(function* () {
        const order = yield* makeOrder({ lines: [[SKU, 1]] })
        const events: ReadonlyArray<Event.Event> = [
          yield* makeEvent(order, "order.created"),
          yield* makeEvent(order, "inventory.reserved")
        ]
        return { order, events }
      })
    )
  )

/** `batch` created by 64 buyers at once through Till's OrderStore, with or without the entity; the seconds taken. */
const till = async (
  schema: string,
  batched: boolean,
  batch: ReadonlyArray<{ readonly order: Order.Order; readonly events: ReadonlyArray<Event.Event> }>
): Promise<{ readonly seconds: number; readonly meanBatch: number }> => {
  const stores = Layer.mergeAll(PostgresOrderStore.layer, PostgresInventoryStore.layer).pipe(
    Layer.provide(PaymentCipher.layerEphemeral),
    Layer.provideMerge(PgLayer.layerWith({ url: Redacted.make(url), schema, minConnections: 0 }))
  )
  const routed = batched
    ? HotSkuEntity.layer({ ...HotSkuEntity.defaults, skus: [SKU] }).pipe(
        Layer.provideMerge(TestRunner.layer),
        Layer.provideMerge(stores)
      )
    : stores
  const runtime = ManagedRuntime.make(routed)
  try {
    const store = await runtime.runPromise(
      Effect.gen(function* () {
        yield* InventoryStore.InventoryStore // the pool open before the clock starts
        return yield* OrderStore.OrderStore
      })
    )
    // Warm up: open the pool's connections and wake the entity.
    await runtime.runPromise(
      Effect.forEach(batch.slice(0, BUYERS), (e) => Effect.exit(store.get(e.order.order_id)), {
        concurrency: BUYERS
      })
    )
    const before = await Effect.runPromise(Metric.value(HotSkuEntity.batchSize))
    const started = performance.now()
    const exits = await runtime.runPromise(
      Effect.forEach(batch, (e) => Effect.exit(store.create(e.order, e.events)), { concurrency: BUYERS })
    )
    const seconds = (performance.now() - started) / 1000
    const failed = exits.filter(Exit.isFailure).length
    if (failed > 0) throw new Error(`${failed} of ${batch.length} creates failed`)
    const after = await Effect.runPromise(Metric.value(HotSkuEntity.batchSize))
    const transactions = after.count - before.count
    return { seconds, meanBatch: transactions === 0 ? 1 : (after.sum - before.sum) / transactions }
  } finally {
    await runtime.dispose()
  }
}

const median = (xs: ReadonlyArray<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

export interface HotSkuResult {
  /** Reservations per second of each variant (medians of `ROUNDS` interleaved rounds). */
  readonly rates: Record<Variant, number>
  /** Orders per transaction through the entity (median of the rounds' means). */
  readonly meanBatch: number
}

export const hotSku = async (progress: Progress): Promise<HotSkuResult> => {
  const admin = new pg.Client({ connectionString: url })
  await admin.connect()
  const rates: Record<Variant, Array<number>> = {
    "raw.c64": [],
    "raw.c1": [],
    "till.batched": [],
    "till.single": []
  }
  const batches: Array<number> = []
  const schemas: Array<string> = []
  try {
    for (let round = 1; round <= ROUNDS; round++) {
      for (const variant of variants) {
        const schema = await freshSchema(admin)
        schemas.push(schema)
        const count = variant === "raw.c1" ? Math.min(RESERVATIONS, 2_000) : RESERVATIONS
        let seconds: number
        if (variant === "raw.c64" || variant === "raw.c1")
          seconds = await raw(schema, variant === "raw.c64" ? BUYERS : 1, count)
        else {
          const measured = await till(schema, variant === "till.batched", await orders(count))
          seconds = measured.seconds
          if (variant === "till.batched") batches.push(measured.meanBatch)
        }
        rates[variant].push(count / seconds)
        progress(`hot SKU round ${round}/${ROUNDS}: ${variant} ${Math.round(count / seconds)} reservations/s`)
      }
    }
    return {
      rates: {
        "raw.c64": median(rates["raw.c64"]),
        "raw.c1": median(rates["raw.c1"]),
        "till.batched": median(rates["till.batched"]),
        "till.single": median(rates["till.single"])
      },
      meanBatch: median(batches)
    }
  } finally {
    for (const schema of schemas) await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)
    await admin.end()
  }
}
