/**
 * What only a real Postgres can show about the stores: a hot SKU under a saturated pool, the
 * database refusing what the schema forbids (audit changes, oversold stock, a hold moved twice),
 * a step killed midway leaving nothing behind, concurrent migrations, an exhausted pool failing
 * fast, and a dead server answered as StoreUnavailable.
 */
import { it } from "@effect/vitest"
import { Migrations, PaymentCipher, PgLayer, PoolGate, PostgresOrderStore } from "@till/adapters/postgres"
import { InventoryStore, OrderStore, Sku } from "@till/core"
import { Cause, Deferred, Effect, Exit, Fiber, Layer, Option, Predicate, Redacted } from "effect"
import { SqlClient } from "effect/sql"
import pg from "pg"
import { expect } from "vitest"
import { eventOf, moved, newOrder, placedAndConfirmed } from "./support/orders.js"
import { freshName, onFreshSchema, orderAndStockStores, url } from "./support/postgres.js"
import { describeService } from "./support/services.js"

const failureTag = (exit: Exit.Exit<unknown, unknown>): string | undefined => {
  if (Exit.isSuccess(exit)) return undefined
  const error = Cause.squash(exit.cause)
  return Predicate.hasProperty(error, "_tag") ? String(error._tag) : "defect"
}

/** Every SQL error's reason tag, as the client saw it (a refusal by the database). */
const refusedBy = <A, E, R>(self: Effect.Effect<A, E, R>) =>
  Effect.map(Effect.flip(self), (error) =>
    Predicate.hasProperty(error, "reason") && Predicate.hasProperty(error.reason, "_tag")
      ? String(error.reason._tag)
      : String(error)
  )

const stores = (maxConnections = 10) => onFreshSchema(orderAndStockStores, { maxConnections })

await describeService("postgres", "Postgres stores against the real server", () => {
  it.live(
    "200 concurrent checkouts over a pool of 30 for one SKU of 50 units: exactly 50 confirmed, stock exact",
    () =>
      Effect.gen(function* () {
        const stock = yield* InventoryStore.InventoryStore
        const sql = yield* SqlClient.SqlClient
        const sku = Sku.make("hot-sku")
        yield* stock.setOnHand(sku, 50)
        const checkout = Effect.gen(function* () {
          expect(Option.isSome(yield* placedAndConfirmed([[sku, 1]]))).toBe(true)
        })
        const exits = yield* Effect.forEach(Array.from({ length: 200 }), () => Effect.exit(checkout), {
          concurrency: "unbounded"
        })
        const tags = exits.map(failureTag)
        expect(tags.filter((t) => t === undefined).length).toBe(50)
        expect(tags.filter((t) => t === "OutOfStock").length).toBe(150)
        expect(Option.getOrThrow(yield* stock.level(sku))).toEqual({
          sku,
          on_hand: 0,
          reserved: 0,
          available: 0
        })
        const [counts] = yield* sql<{ confirmed: bigint; committed: bigint; events: bigint; audits: bigint }>`
          SELECT (SELECT count(*) FROM orders WHERE status = 'confirmed') AS confirmed,
                 (SELECT count(*) FROM reservations WHERE status = 'committed') AS committed,
                 (SELECT count(*) FROM outbox) AS events,
                 (SELECT count(*) FROM order_audit) AS audits`
        expect(counts).toEqual({ confirmed: 50n, committed: 50n, events: 100n, audits: 100n })
        const [total] = yield* sql<{ orders: bigint }>`SELECT count(*) AS orders FROM orders`
        expect(total!.orders).toBe(50n)
      }).pipe(Effect.provide(stores(30), { local: true })),
    60_000
  )

  it.live(
    "a create waiting on a create of the same id answers that order once it commits, never OutOfStock",
    () =>
      Effect.gen(function* () {
        // The first create holds the last unit, uncommitted; the second (a client's retry) waits
        // on the stock row's lock, then finds no unit left. Its statement's snapshot predates the
        // first commit, so it must learn of the order another way than reading `orders`: were it
        // answered OutOfStock, the checkout would give the cart of a live order back.
        const orders = yield* OrderStore.OrderStore
        const stock = yield* InventoryStore.InventoryStore
        const sql = yield* SqlClient.SqlClient
        const sku = Sku.make("last-unit")
        yield* stock.setOnHand(sku, 1)
        const order = yield* newOrder([[sku, 1]])
        const created = yield* Deferred.make<void>()
        const release = yield* Deferred.make<void>()
        const first = yield* Effect.forkChild(
          sql.withTransaction(
            Effect.gen(function* () {
              yield* orders.create(order, [])
              yield* Deferred.succeed(created, undefined)
              yield* Deferred.await(release)
            })
          )
        )
        yield* Deferred.await(created)
        const second = yield* Effect.forkChild(Effect.exit(orders.create(order, [])))
        let waiting = 0
        for (let i = 0; i < 500 && waiting === 0; i++) {
          const [row] = yield* sql<{ waiting: bigint }>`
            SELECT count(*) AS waiting FROM pg_stat_activity
            WHERE application_name = ${schema} AND wait_event_type = 'Lock'`
          waiting = Number(row!.waiting)
          if (waiting === 0) yield* Effect.sleep("10 millis")
        }
        expect(waiting).toBe(1)
        yield* Deferred.succeed(release, undefined)
        yield* Fiber.join(first)
        const exit = yield* Fiber.join(second)
        expect(failureTag(exit)).toBeUndefined()
        if (Exit.isSuccess(exit)) expect(exit.value.order_id).toBe(order.order_id)
        expect(Option.getOrThrow(yield* stock.level(sku)).reserved).toBe(1)
      }).pipe(Effect.provide(watched(), { local: true }))
  )

  it.live("the audit log refuses UPDATE, DELETE and TRUNCATE; the entries stay", () =>
    Effect.gen(function* () {
      const orders = yield* OrderStore.OrderStore
      const stock = yield* InventoryStore.InventoryStore
      const sql = yield* SqlClient.SqlClient
      const sku = Sku.make("mug")
      yield* stock.setOnHand(sku, 5)
      const order = yield* orders.create(yield* newOrder([[sku, 1]]), [])
      expect(yield* refusedBy(sql`UPDATE order_audit SET to_status = 'confirmed'`)).toBe("AuthorizationError")
      expect(yield* refusedBy(sql`DELETE FROM order_audit`)).toBe("AuthorizationError")
      expect(yield* refusedBy(sql`TRUNCATE order_audit`)).toBe("AuthorizationError")
      expect((yield* orders.audit(order.order_id)).map((e) => [e.from, e.to, e.version])).toEqual([
        [null, "pending", 1]
      ])
    }).pipe(Effect.provide(stores(), { local: true }))
  )

  it.live("the database itself refuses oversold or negative stock and a hold moved twice", () =>
    Effect.gen(function* () {
      const orders = yield* OrderStore.OrderStore
      const stock = yield* InventoryStore.InventoryStore
      const sql = yield* SqlClient.SqlClient
      const sku = Sku.make("mug")
      yield* stock.setOnHand(sku, 5)
      const order = yield* orders.create(yield* newOrder([[sku, 2]]), [])
      yield* orders.step(moved(order, "confirmed"), 1, "commit", [])
      expect(yield* refusedBy(sql`UPDATE stock SET reserved = on_hand + 1`)).toBe("ConstraintError")
      expect(yield* refusedBy(sql`UPDATE stock SET on_hand = -1, reserved = 0`)).toBe("ConstraintError")
      expect(yield* refusedBy(sql`UPDATE stock SET reserved = -1`)).toBe("ConstraintError")
      expect(
        yield* refusedBy(sql`UPDATE reservations SET status = 'released' WHERE order_id = ${order.order_id}`)
      ).toBe("ConstraintError")
      expect(Option.getOrThrow(yield* stock.level(sku))).toEqual({
        sku,
        on_hand: 3,
        reserved: 0,
        available: 3
      })
    }).pipe(Effect.provide(stores(), { local: true }))
  )

  /**
   * Runs `victim` while another transaction holds the outbox row `blockedEventId` uncommitted,
   * so the victim's statement has written its order and stock rows and waits on its last
   * insert (a wait on the other transaction's id: the outbox's unique index); then terminates the victim's backend and rolls the other transaction back.
   */
  const killedMidway = <A, E, R>(schema: string, blockedEventId: string, victim: Effect.Effect<A, E, R>) =>
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const inserted = yield* Deferred.make<void>()
      const release = yield* Deferred.make<void>()
      const blocker = yield* Effect.forkChild(
        sql.withTransaction(
          Effect.gen(function* () {
            yield* sql`
              INSERT INTO outbox (event_id, aggregate_id, type, event)
              VALUES (${blockedEventId}, 'blocker', 'order.created', '{}'::jsonb)`
            yield* Deferred.succeed(inserted, undefined)
            yield* Deferred.await(release)
            return yield* Effect.fail("roll back" as const)
          })
        )
      )
      yield* Deferred.await(inserted)
      const running = yield* Effect.forkChild(Effect.exit(victim))
      let pid: number | undefined
      for (let i = 0; i < 500 && pid === undefined; i++) {
        const rows = yield* sql<{ pid: number }>`
          SELECT pid FROM pg_stat_activity
          WHERE application_name = ${schema} AND state = 'active'
            AND wait_event_type = 'Lock' AND wait_event = 'transactionid'`
        pid = rows[0]?.pid
        if (pid === undefined) yield* Effect.sleep("10 millis")
      }
      expect(pid).toBeDefined()
      yield* sql`SELECT pg_terminate_backend(${pid!}::int)`
      const exit = yield* Fiber.join(running)
      yield* Deferred.succeed(release, undefined)
      yield* Fiber.await(blocker)
      return exit
    })

  let schema = ""
  const watched = () => onFreshSchema(orderAndStockStores, { onSchema: (s) => (schema = s) })

  it.live("a step whose backend is terminated midway leaves no half step; the step then goes through", () =>
    Effect.gen(function* () {
      const orders = yield* OrderStore.OrderStore
      const stock = yield* InventoryStore.InventoryStore
      const sql = yield* SqlClient.SqlClient
      const a = Sku.make("a")
      const b = Sku.make("b")
      yield* stock.setOnHand(a, 5)
      yield* stock.setOnHand(b, 5)
      const order = yield* orders.create(
        yield* newOrder([
          [b, 2],
          [a, 1]
        ]),
        []
      )
      const confirmed = moved(order, "confirmed")
      const event = yield* eventOf(confirmed, "order.confirmed")
      const exit = yield* killedMidway(schema, event.event_id, orders.step(confirmed, 1, "commit", [event]))
      expect(failureTag(exit)).toBe("StoreUnavailable")
      // Nothing of the step: the order, its hold, the stock, the audit log and the outbox as before.
      const stored = Option.getOrThrow(yield* orders.get(order.order_id))
      expect([stored.status, stored.version]).toEqual(["pending", 1])
      expect((yield* stock.reservations(order.order_id)).map((r) => r.status)).toEqual(["held"])
      expect(
        [yield* stock.level(a), yield* stock.level(b)].map((l) => Option.getOrThrow(l).reserved)
      ).toEqual([1, 2])
      expect((yield* orders.audit(order.order_id)).length).toBe(1)
      const [outbox] = yield* sql<{ rows: bigint }>`SELECT count(*) AS rows FROM outbox`
      expect(outbox!.rows).toBe(0n)
      // Nothing half-done stands in the way of the same step now.
      expect(Option.isSome(yield* orders.step(confirmed, 1, "commit", [event]))).toBe(true)
      expect(Option.getOrThrow(yield* stock.level(a))).toEqual({
        sku: a,
        on_hand: 4,
        reserved: 0,
        available: 4
      })
      expect((yield* orders.audit(order.order_id)).map((e) => e.version)).toEqual([1, 2])
    }).pipe(Effect.provide(watched(), { local: true }))
  )

  it.live("a create whose backend is terminated midway leaves no order, no hold, no event", () =>
    Effect.gen(function* () {
      const orders = yield* OrderStore.OrderStore
      const stock = yield* InventoryStore.InventoryStore
      const sku = Sku.make("mug")
      yield* stock.setOnHand(sku, 5)
      const order = yield* newOrder([[sku, 3]])
      const event = yield* eventOf(order, "order.created")
      const exit = yield* killedMidway(schema, event.event_id, orders.create(order, [event]))
      expect(failureTag(exit)).toBe("StoreUnavailable")
      expect(Option.isNone(yield* orders.get(order.order_id))).toBe(true)
      expect(yield* stock.reservations(order.order_id)).toEqual([])
      expect(Option.getOrThrow(yield* stock.level(sku)).reserved).toBe(0)
      expect(yield* orders.audit(order.order_id)).toEqual([])
      expect((yield* orders.create(order, [event])).order_id).toBe(order.order_id)
      expect(Option.getOrThrow(yield* stock.level(sku)).reserved).toBe(3)
    }).pipe(Effect.provide(watched(), { local: true }))
  )

  it.live("migrate from four instances at once: one runs the migrations, the others find them done", () =>
    Effect.gen(function* () {
      const name = freshName()
      const instance = PgLayer.layerWith({ url: url(), schema: name, maxConnections: 2, minConnections: 0 })
      const admin = yield* Effect.provide(
        Effect.gen(function* () {
          const sql = yield* SqlClient.SqlClient
          yield* sql`CREATE SCHEMA ${sql(name)}`
          return sql
        }),
        instance
      )
      expect(admin).toBeDefined()
      const ran = yield* Effect.all(
        Array.from({ length: 4 }, () => Effect.provide(Migrations.migrate, instance, { local: true })),
        { concurrency: "unbounded" }
      )
      expect(ran.map((r) => r.length).sort()).toEqual([0, 0, 0, Object.keys(Migrations.migrations).length])
      const rows = yield* Effect.provide(
        Effect.gen(function* () {
          const sql = yield* SqlClient.SqlClient
          const applied = yield* sql<{ migration_id: number }>`
            SELECT migration_id FROM till_migrations ORDER BY migration_id`
          yield* sql`DROP SCHEMA ${sql(name)} CASCADE`
          return applied.map((r) => r.migration_id)
        }),
        instance
      )
      expect(rows).toEqual(Object.keys(Migrations.migrations).map((id) => Number.parseInt(id, 10)))
    })
  )

  it.live("a pool stalled behind a lock fails fast once exhausted, and serves again when it moves", () => {
    let schema = ""
    return Effect.gen(function* () {
      const stock = yield* InventoryStore.InventoryStore
      const gate = yield* PoolGate.PoolGate
      const sku = Sku.make("locked-sku")
      yield* stock.setOnHand(sku, 10)
      // Another client (not Till's pool) holds the stock row: Till's two connections will wait on it.
      const locker = new pg.Client({ connectionString: Redacted.value(url()) })
      yield* Effect.promise(() => locker.connect())
      yield* Effect.addFinalizer(() => Effect.promise(() => locker.end()))
      yield* Effect.promise(() => locker.query(`SET search_path = ${schema}`))
      yield* Effect.promise(() => locker.query("BEGIN"))
      yield* Effect.promise(() => locker.query("SELECT 1 FROM stock WHERE sku = $1 FOR UPDATE", [sku]))
      const blocked = yield* Effect.forEach([1, 2], () => Effect.forkChild(stock.setOnHand(sku, 8)))
      yield* Effect.sleep(100)
      const queued = yield* Effect.forkChild(stock.level(sku))
      yield* Effect.sleep(600)
      // Stalled 600 ms > 400 ms: a new call fails at once, the queued one still waits its turn.
      const refused = yield* Effect.flip(stock.level(sku))
      expect(refused._tag).toBe("StoreUnavailable")
      expect(refused.message).toContain("connection pool exhausted")
      expect(yield* gate.saturation).toMatchObject({ inUse: 2, waiting: 1, breaker: "open" })
      expect(queued.pollUnsafe()).toBeUndefined()
      yield* Effect.promise(() => locker.query("COMMIT"))
      yield* Effect.forEach(blocked, Fiber.join)
      expect(Option.getOrThrow(yield* Fiber.join(queued)).on_hand).toBe(8)
      // The breaker is still open, but a call that finds a connection free runs.
      expect(Option.getOrThrow(yield* stock.level(sku)).on_hand).toBe(8)
    }).pipe(
      Effect.scoped,
      Effect.provide(
        onFreshSchema(orderAndStockStores, {
          maxConnections: 2,
          settings: { exhaustedAfterMs: 400, exhaustedOpenMs: 60_000 },
          onSchema: (s) => (schema = s)
        }),
        { local: true }
      )
    )
  })

  it.live("order steps find stock rows by index, never by scanning the stock table, however many SKUs", () =>
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      // A catalogue of 5,000 SKUs: a plan that hash-joins the step's lines with the stock table
      // would read all of it for every checkout (it did: 3 ms of Postgres CPU a checkout at 3,000
      // SKUs, growing with the catalogue). (No ANALYZE here: its own scan is counted late.)
      yield* sql`INSERT INTO stock (sku, on_hand) SELECT 'sku-' || i, 100 FROM generate_series(1, 5000) i`
      const scans = sql<{ seq: bigint; idx: bigint; inserted: bigint }>`
        SELECT seq_scan AS seq, coalesce(idx_scan, 0) AS idx, n_tup_ins AS inserted FROM pg_stat_user_tables
        WHERE relid = 'stock'::regclass`
      // Backends report their table counters within a second or so of going idle: wait for the
      // setup's to land before counting.
      let before = (yield* scans)[0]!
      for (let wait = 0; wait < 40 && before.inserted < 5000n; wait++) {
        yield* Effect.sleep(100)
        yield* sql`SELECT pg_stat_clear_snapshot()`
        before = (yield* scans)[0]!
      }
      for (let i = 1; i <= 30; i++) {
        expect(
          Option.isSome(
            yield* placedAndConfirmed([
              [Sku.make(`sku-${i}`), 1],
              [Sku.make(`sku-${4000 + i}`), 2]
            ])
          )
        ).toBe(true)
      }
      let after = before
      for (let wait = 0; wait < 40 && after.idx - before.idx < 60n; wait++) {
        yield* Effect.sleep(100)
        yield* sql`SELECT pg_stat_clear_snapshot()`
        after = (yield* scans)[0]!
      }
      expect(after.idx - before.idx).toBeGreaterThanOrEqual(60n)
      expect(after.seq - before.seq).toBe(0n)
    }).pipe(Effect.provide(stores(), { local: true }))
  )

  it.live(
    "markPublished takes its claim's events out of the outbox; purgePublished deletes what an older Till left published, never unsent events",
    () =>
      Effect.gen(function* () {
        const orders = yield* OrderStore.OrderStore
        const stock = yield* InventoryStore.InventoryStore
        const sql = yield* SqlClient.SqlClient
        const sku = Sku.make("purged")
        yield* stock.setOnHand(sku, 10)
        for (let i = 0; i < 3; i++) {
          const order = yield* newOrder([[sku, 1]])
          yield* orders.create(order, [
            yield* eventOf(order, "order.created"),
            yield* eventOf(order, "payment.queued")
          ])
        }
        const count = sql<{ unsent: bigint; all: bigint }>`
          SELECT count(*) FILTER (WHERE NOT published) AS unsent, count(*) AS all FROM outbox`
        // Claim 4 of the 6 and publish them: they leave the outbox; 2 stay unsent.
        const { token, events } = yield* orders.claimEvents(1_000, 4, 1_000)
        expect(events).toHaveLength(4)
        yield* orders.markPublished(
          token,
          events.map((e) => e.event_id)
        )
        expect(yield* count).toEqual([{ unsent: 2n, all: 2n }])
        // An older Till marked sent events and kept them: one such row, sent at 2000.
        yield* sql`UPDATE outbox SET published = true, published_at = 2000
          WHERE seq = (SELECT min(seq) FROM outbox)`
        expect(yield* PostgresOrderStore.purgePublished(1_999, 100)).toBe(0)
        expect(yield* PostgresOrderStore.purgePublished(2_000, 100)).toBe(1)
        expect(yield* count).toEqual([{ unsent: 1n, all: 1n }])
        expect((yield* orders.claimEvents(3_000, 10, 1_000)).events).toHaveLength(1)
      }).pipe(Effect.provide(stores(), { local: true }))
  )

  it.live("a server that cannot be reached answers StoreUnavailable, not a defect", () =>
    Effect.gen(function* () {
      const orders = yield* OrderStore.OrderStore
      expect(failureTag(yield* Effect.exit(orders.get("ord_x")))).toBe("StoreUnavailable")
    }).pipe(
      Effect.provide(
        PostgresOrderStore.layer.pipe(
          Layer.provide(PaymentCipher.layerEphemeral),
          Layer.provide(
            PgLayer.layerWith({
              url: Redacted.make("postgres://postgres@127.0.0.1:1/till_test"),
              minConnections: 0,
              connectTimeoutMs: 2_000
            })
          )
        ),
        { local: true }
      )
    )
  )
})
