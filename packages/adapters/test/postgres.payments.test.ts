/**
 * Payment data at rest on the real server: tokens and stored answers sealed under a key id, a
 * key rotated while the rows stay readable (KeyRotation.reseal), and a sealed value copied onto
 * another order's row refused.
 */
import { it } from "@effect/vitest"
import {
  KeyRotation,
  PaymentCipher,
  PostgresIdempotencyStore,
  PostgresInventoryStore,
  PostgresOrderStore
} from "@till/adapters/postgres"
import { IdempotencyStore, InventoryStore, type Order, OrderStore, Sku } from "@till/core"
import { Effect, Exit, Layer, Option, Redacted } from "effect"
import { SqlClient } from "effect/sql"
import { randomBytes } from "node:crypto"
import { expect } from "vitest"
import { eventOf, newOrder } from "./support/orders.js"
import { onFreshSchema } from "./support/postgres.js"
import { describeService } from "./support/services.js"

const k1 = Redacted.make(randomBytes(32).toString("base64"))
const k2 = Redacted.make(randomBytes(32).toString("base64"))
const onlyK1 = PaymentCipher.layerWith({ currentKeyId: "k1", keys: { k1 } })
const rotating = PaymentCipher.layerWith({ currentKeyId: "k2", keys: { k1, k2 } })
const onlyK2 = PaymentCipher.layerWith({ currentKeyId: "k2", keys: { k2 } })

/** The order and key stores over the pool in context, sealing with `cipher`. */
const storesWith = (cipher: Layer.Layer<PaymentCipher.PaymentCipher>) =>
  Effect.all({ orders: PostgresOrderStore.make, keys: PostgresIdempotencyStore.make }).pipe(
    Effect.provide(cipher)
  )

const stores = onFreshSchema(
  Layer.mergeAll(
    Layer.mergeAll(PostgresOrderStore.layer, PostgresIdempotencyStore.layer).pipe(Layer.provide(onlyK1)),
    PostgresInventoryStore.layer
  ),
  { maxConnections: 5 }
)

const claimOf = (key: string, nowMs: number) => ({
  scope: "user-1",
  key,
  fingerprint: `{"cart":"${key}"}`,
  resourceId: `ord-${key}`,
  nowMs,
  leaseMs: 60_000,
  ttlMs: 86_400_000
})

await describeService("postgres", "Postgres payment data sealed at rest", () => {
  it.live("a key rotated while the rows stay readable: reseal moves every row to the new key", () =>
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const stock = yield* InventoryStore.InventoryStore
      const orders = yield* OrderStore.OrderStore
      const keys = yield* IdempotencyStore.IdempotencyStore
      const sku = Sku.make("rotated")
      yield* stock.setOnHand(sku, 10)
      const placed: Array<Order.Order> = []
      for (let i = 0; i < 3; i++) {
        const order = yield* newOrder([[sku, 1]])
        placed.push(yield* orders.create(order, [yield* eventOf(order, "order.created")]))
      }
      const now = Date.now()
      for (const key of ["a", "b"]) {
        const claim = yield* keys.claim(claimOf(key, now))
        if (claim._tag !== "Claimed") return yield* Effect.die(new Error(`claim ${key}: ${claim._tag}`))
        yield* keys.complete("user-1", key, claim.record.token, { answer: key, token: `pm_${key}` })
      }
      const keyIds = sql<{ key_id: string; rows: bigint }>`
        SELECT key_id, count(*) AS rows FROM (
          SELECT key_id FROM payments UNION ALL
          SELECT outcome_key_id FROM idempotency_keys WHERE outcome_key_id IS NOT NULL) k
        GROUP BY key_id ORDER BY key_id`
      expect(yield* keyIds).toEqual([{ key_id: "k1", rows: 5n }])

      // Step 2: k2 current, k1 still known. Old rows read; new rows seal under k2.
      const during = yield* storesWith(rotating)
      for (const order of placed)
        expect(Option.getOrThrow(yield* during.orders.get(order.order_id))).toEqual(order)
      // Step 3: reseal in batches until nothing is left under k1.
      const batches: Array<number> = []
      while (batches.at(-1) !== 0) batches.push(yield* KeyRotation.reseal(2).pipe(Effect.provide(rotating)))
      expect(batches).toEqual([4, 1, 0])
      expect(yield* keyIds).toEqual([{ key_id: "k2", rows: 5n }])

      // Step 4: k1 dropped. Everything reads under k2 alone; an instance left with k1 only cannot.
      const after = yield* storesWith(onlyK2)
      for (const order of placed)
        expect(Option.getOrThrow(yield* after.orders.get(order.order_id))).toEqual(order)
      const replay = yield* after.keys.claim(claimOf("a", now + 1))
      expect(replay).toMatchObject({ _tag: "Completed", record: { outcome: { answer: "a", token: "pm_a" } } })
      const stale = yield* storesWith(onlyK1)
      const lacking = yield* Effect.exit(stale.orders.get(placed[0]!.order_id))
      expect(Exit.isFailure(lacking) && String(lacking.cause)).toContain("which this instance lacks")
    }).pipe(Effect.provide(stores, { local: true }))
  )

  it.live("a sealed token copied onto another order's row does not open there", () =>
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const stock = yield* InventoryStore.InventoryStore
      const orders = yield* OrderStore.OrderStore
      const sku = Sku.make("swapped")
      yield* stock.setOnHand(sku, 10)
      const a = yield* newOrder([[sku, 1]])
      const b = yield* newOrder([[sku, 1]])
      for (const order of [a, b]) yield* orders.create(order, [yield* eventOf(order, "order.created")])
      yield* sql`
        UPDATE payments SET method_sealed = (SELECT method_sealed FROM payments WHERE order_id = ${a.order_id})
        WHERE order_id = ${b.order_id}`
      expect(Option.getOrThrow(yield* orders.get(a.order_id)).payment_method_id).toBe(a.payment_method_id)
      const exit = yield* Effect.exit(orders.get(b.order_id))
      expect(Exit.isFailure(exit) && String(exit.cause)).toContain(`does not open under key k1`)
    }).pipe(Effect.provide(stores, { local: true }))
  )
})
