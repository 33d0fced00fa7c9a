/**
 * What only a real Postgres can show about idempotency keys and the payment retry queue: claims
 * racing from two pools (two processes, as far as the server can tell), `SKIP LOCKED` never
 * waiting on a row another transaction holds, and fencing tokens that keep growing after the
 * rows that carried them were purged.
 */
import { it } from "@effect/vitest"
import {
  PaymentCipher,
  PgLayer,
  PostgresIdempotencyStore,
  PostgresPaymentRetryQueue
} from "@till/adapters/postgres"
import { IdempotencyStore, PaymentRetryQueue } from "@till/core"
import { Deferred, Effect, Fiber, Layer } from "effect"
import { SqlClient } from "effect/sql"
import { expect } from "vitest"
import { onFreshSchema, url } from "./support/postgres.js"
import { describeService } from "./support/services.js"

const t0 = 1_700_000_000_000
const leaseMs = 60_000
const ttlMs = 24 * 60 * 60 * 1000

let schema = ""

/** `stores` on a fresh schema, its name kept so a second pool can join it. */
const fresh = <ROut, E>(stores: Layer.Layer<ROut, E, PgLayer.Client | PaymentCipher.PaymentCipher>) =>
  onFreshSchema(stores, { maxConnections: 10, onSchema: (s) => (schema = s) })

/** Another pool on the build's schema: another process, as far as the server can tell. */
const secondPool = () =>
  PgLayer.layerWith({
    url: url(),
    schema,
    applicationName: `${schema}_b`,
    maxConnections: 10,
    minConnections: 0
  })

await describeService("postgres", "Postgres idempotency keys and retry queue", () => {
  it.live("20 concurrent claims of one free key from two pools: exactly one Claimed, the rest InFlight", () =>
    Effect.gen(function* () {
      const here = yield* IdempotencyStore.IdempotencyStore
      const sql = yield* SqlClient.SqlClient
      const claim = (store: IdempotencyStore.IdempotencyStore["Service"], i: number) =>
        store.claim({
          scope: "user-1",
          key: "key-1",
          fingerprint: "fp",
          resourceId: `ord-${i}`,
          nowMs: t0,
          leaseMs,
          ttlMs
        })
      const results = yield* Effect.gen(function* () {
        const there = yield* PostgresIdempotencyStore.make
        return yield* Effect.all(
          Array.from({ length: 20 }, (_, i) => claim(i % 2 === 0 ? here : there, i)),
          { concurrency: "unbounded" }
        )
      }).pipe(Effect.provide(Layer.merge(secondPool(), PaymentCipher.layerEphemeral), { local: true }))
      const claimed = results.flatMap((r) => (r._tag === "Claimed" ? [r.record] : []))
      expect(claimed).toHaveLength(1)
      expect(results.filter((r) => r._tag === "InFlight")).toHaveLength(19)
      const [row] = yield* sql<{ token: bigint; resource_id: string; rows: bigint }>`
        SELECT token, resource_id, (SELECT count(*) FROM idempotency_keys) AS rows FROM idempotency_keys`
      expect(row).toEqual({ token: BigInt(claimed[0]!.token), resource_id: claimed[0]!.resourceId, rows: 1n })
    }).pipe(Effect.provide(fresh(PostgresIdempotencyStore.layer), { local: true }))
  )

  it.live("a token stays greater than every earlier one after the expired record was purged", () =>
    Effect.gen(function* () {
      const store = yield* IdempotencyStore.IdempotencyStore
      const request = {
        scope: "user-1",
        key: "key-1",
        fingerprint: "fp",
        resourceId: "ord-1",
        leaseMs,
        ttlMs
      }
      const first = yield* store.claim({ ...request, nowMs: t0 })
      expect(yield* PostgresIdempotencyStore.purgeExpired(t0 + ttlMs - 1, 100)).toBe(0)
      expect(yield* PostgresIdempotencyStore.purgeExpired(t0 + ttlMs, 100)).toBe(1)
      const again = yield* store.claim({ ...request, resourceId: "ord-2", nowMs: t0 + ttlMs })
      expect(first._tag === "Claimed" && again._tag === "Claimed").toBe(true)
      if (first._tag === "Claimed" && again._tag === "Claimed") {
        expect(again.record.token).toBeGreaterThan(first.record.token)
        expect(again.record.resourceId).toBe("ord-2")
        expect(yield* store.complete("user-1", "key-1", first.record.token, { status: 500 })).toBe("stale")
      }
    }).pipe(Effect.provide(fresh(PostgresIdempotencyStore.layer), { local: true }))
  )

  it.live("competing claimDue from two pools take disjoint entries, together all of them", () =>
    Effect.gen(function* () {
      const here = yield* PaymentRetryQueue.PaymentRetryQueue
      const orderIds = Array.from({ length: 200 }, (_, i) => `ord-${String(i).padStart(3, "0")}`)
      yield* Effect.forEach(orderIds, (orderId) => here.enqueue({ orderId, attempt: 0, nextAttemptAt: t0 }), {
        concurrency: 10
      })
      const claims = yield* Effect.gen(function* () {
        const there = yield* PostgresPaymentRetryQueue.make
        const taken: Array<PaymentRetryQueue.ClaimedEntry & { readonly pool: string }> = []
        // Rounds of 10 concurrent claims from each pool until nothing is left: a claim may take
        // fewer than its limit (it skips what the other pool holds), never an entry twice.
        for (let round = 0; round < 50 && taken.length < orderIds.length; round++) {
          const batches = yield* Effect.all(
            Array.from({ length: 20 }, (_, i) =>
              Effect.map((i % 2 === 0 ? here : there).claimDue(t0, 10, leaseMs), (claimed) =>
                claimed.map((c) => ({ ...c, pool: i % 2 === 0 ? "a" : "b" }))
              )
            ),
            { concurrency: "unbounded" }
          )
          taken.push(...batches.flat())
        }
        return taken
      }).pipe(Effect.provide(Layer.merge(secondPool(), PaymentCipher.layerEphemeral), { local: true }))
      const ids = claims.map((c) => c.entry.orderId)
      expect(new Set(ids).size).toBe(ids.length)
      expect([...ids].sort()).toEqual(orderIds)
      expect(new Set(claims.map((c) => c.token)).size).toBe(claims.length)
      expect(new Set(claims.map((c) => c.pool))).toEqual(new Set(["a", "b"]))
      expect(yield* here.claimDue(t0 + leaseMs - 1, 1_000, leaseMs)).toEqual([])
    }).pipe(Effect.provide(fresh(PostgresPaymentRetryQueue.layer), { local: true }))
  )

  it.live("claimDue skips an entry another transaction holds locked instead of waiting for it", () =>
    Effect.gen(function* () {
      const queue = yield* PaymentRetryQueue.PaymentRetryQueue
      const sql = yield* SqlClient.SqlClient
      yield* queue.enqueue({ orderId: "ord-a", attempt: 0, nextAttemptAt: t0 })
      yield* queue.enqueue({ orderId: "ord-b", attempt: 0, nextAttemptAt: t0 + 1 })
      const locked = yield* Deferred.make<void>()
      const release = yield* Deferred.make<void>()
      const holder = yield* Effect.forkChild(
        sql.withTransaction(
          Effect.gen(function* () {
            yield* sql`SELECT 1 FROM payment_retry_queue WHERE order_id = 'ord-a' FOR UPDATE`
            yield* Deferred.succeed(locked, undefined)
            yield* Deferred.await(release)
          })
        )
      )
      yield* Deferred.await(locked)
      const claimed = yield* queue.claimDue(t0 + 10, 10, leaseMs).pipe(Effect.timeout("2 seconds"))
      expect(claimed.map((c) => c.entry.orderId)).toEqual(["ord-b"])
      yield* Deferred.succeed(release, undefined)
      yield* Fiber.join(holder)
      expect((yield* queue.claimDue(t0 + 10, 10, leaseMs)).map((c) => c.entry.orderId)).toEqual(["ord-a"])
    }).pipe(Effect.provide(fresh(PostgresPaymentRetryQueue.layer), { local: true }))
  )
})
