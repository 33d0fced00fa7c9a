/**
 * The outbox's wake-ups on the real server: a relay woken by NOTIFY publishes a new order's events
 * without waiting for its poll, the trigger notifies only an idle outbox (once per statement), and
 * the lag is read from the oldest unsent event.
 */
import { it } from "@effect/vitest"
import { PostgresOutbox } from "@till/adapters/postgres"
import { OrderStore, Outbox, Resilience, Sku, InventoryStore } from "@till/core"
import { InMemoryEventPublisher } from "@till/testkit"
import { Effect, Fiber, Layer, Redacted } from "effect"
import { SqlClient } from "effect/sql"
import pg from "pg"
import { expect } from "vitest"
import { eventOf, newOrder } from "./support/orders.js"
import { onFreshSchema, orderAndStockStores, url } from "./support/postgres.js"
import { describeService } from "./support/services.js"

const world = (maxConnections = 5) =>
  Layer.mergeAll(
    onFreshSchema(orderAndStockStores, { maxConnections }),
    InMemoryEventPublisher.layer,
    Resilience.layer
  )

/** A new order of one unit, created with two events; answers their ids. */
const placed = Effect.gen(function* () {
  const orders = yield* OrderStore.OrderStore
  const order = yield* newOrder([[Sku.make("relayed"), 1]])
  const events = [yield* eventOf(order, "order.created"), yield* eventOf(order, "payment.queued")]
  yield* orders.create(order, events)
  return events.map((e) => e.event_id)
})

/** `n` unsent events written straight to the outbox, `prefix-1`…, over 500 orders. */
const backlog = (prefix: string, n: number) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    yield* sql`
      INSERT INTO outbox (event_id, aggregate_id, type, event)
      SELECT ${prefix} || '-' || i, 'ord-' || (i % 500), 'order.created',
             jsonb_build_object('event_id', ${prefix} || '-' || i, 'type', 'order.created',
               'occurred_at', '2026-12-01T00:00:00.000Z', 'aggregate_id', 'ord-' || (i % 500),
               'data', jsonb_build_object('order_id', 'ord-' || (i % 500)))
      FROM generate_series(1, ${n}::int) i`
  })

/** Rows the pooled session has read from the outbox and its indexes so far (world(1): one session). */
const outboxRowsRead = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`SELECT pg_stat_force_next_flush()`
  yield* sql`SELECT pg_stat_clear_snapshot()`
  const rows = yield* sql<{ read: string }>`
    SELECT (t.seq_tup_read + (SELECT coalesce(sum(i.idx_tup_read), 0) FROM pg_stat_user_indexes i
      WHERE i.relid = t.relid))::text AS read
    FROM pg_stat_user_tables t WHERE t.relid = 'outbox'::regclass`
  return BigInt(rows[0]!.read)
})

await describeService("postgres", "Postgres outbox wake-ups", () => {
  it.live("a relay woken by NOTIFY publishes a new order's events long before its next poll", () =>
    Effect.gen(function* () {
      const stock = yield* InventoryStore.InventoryStore
      const published = (yield* InMemoryEventPublisher.Inspector).published
      yield* stock.setOnHand(Sku.make("relayed"), 10)
      // Polling once a minute: only a wake-up can deliver within the test.
      const relay = yield* Effect.forkChild(
        Outbox.runWhenWoken(PostgresOutbox.wakeups, { maxIdleMs: 60_000 })
      )
      yield* Effect.sleep(500) // the first round ran; the listener is up
      for (let round = 0; round < 3; round++) {
        const ids = yield* placed
        let seen: ReadonlyArray<string> = []
        for (let wait = 0; wait < 50 && !ids.every((id) => seen.includes(id)); wait++) {
          yield* Effect.sleep(100)
          seen = (yield* published).map((e) => e.event_id)
        }
        expect(seen.filter((id) => ids.includes(id))).toEqual(ids)
      }
      expect(yield* Outbox.reportLag()).toBe(0)
      yield* Fiber.interrupt(relay)
    }).pipe(Effect.provide(world(), { local: true }))
  )

  it.live("the trigger notifies only an outbox with no older unsent event, once per statement", () =>
    Effect.gen(function* () {
      const orders = yield* OrderStore.OrderStore
      const stock = yield* InventoryStore.InventoryStore
      yield* stock.setOnHand(Sku.make("relayed"), 10)
      const listener = new pg.Client({ connectionString: Redacted.value(url()) })
      yield* Effect.promise(() => listener.connect())
      yield* Effect.addFinalizer(() => Effect.promise(() => listener.end()))
      const channel = yield* PostgresOutbox.channel
      let notified = 0
      listener.on("notification", (n) => {
        if (n.channel === channel) notified++
      })
      yield* Effect.promise(() => listener.query(`LISTEN ${channel}`))
      const settle = Effect.sleep(300)
      // Two events in one statement: one notification.
      yield* placed
      yield* settle
      expect(notified).toBe(1)
      // Unsent events wait: a relay is (or will be) at work and polls while busy.
      yield* placed
      yield* settle
      expect(notified).toBe(1)
      const all = yield* orders.claimEvents(Date.now(), 100, 60_000)
      yield* orders.markPublished(
        all.token,
        all.events.map((e) => e.event_id)
      )
      yield* placed
      yield* settle
      expect(notified).toBe(2)
      expect(channel).toMatch(/^till_outbox_[0-9a-f]{32}$/)
    }).pipe(Effect.scoped, Effect.provide(world(), { local: true }))
  )

  it.live("a claim finds earlier claimed events by index, never by scanning a backlog of unsent events", () =>
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const orders = yield* OrderStore.OrderStore
      // A backlog of 20,000 unsent events (a relay catching up after a broker outage). A plan that
      // scans the outbox for earlier claimed events reads all of it on every claim: it did, each
      // claim cost ~2 ms at 20,000 unsent rows and ~45 ms at 60,000, so draining a backlog was
      // quadratic.
      yield* backlog("new", 20_000)
      yield* sql`ANALYZE outbox`
      // One connection (the world below): every statement runs in the session whose counters are
      // flushed here, not in a pooled one that may report them seconds later.
      const scans = Effect.gen(function* () {
        yield* sql`SELECT pg_stat_force_next_flush()`
        yield* sql`SELECT pg_stat_clear_snapshot()`
        const rows = yield* sql<{ seq: bigint }>`
          SELECT seq_scan AS seq FROM pg_stat_user_tables WHERE relid = 'outbox'::regclass`
        return rows[0]!.seq
      })
      const before = yield* scans
      // Two claims in flight at a time, as two relays: the second looks for the first's events.
      let moved = 0
      for (let i = 0; i < 5; i++) {
        const first = yield* orders.claimEvents(Date.now(), 100, 60_000)
        const second = yield* orders.claimEvents(Date.now(), 100, 60_000)
        for (const claim of [first, second]) {
          moved += claim.events.length
          yield* orders.markPublished(
            claim.token,
            claim.events.map((e) => e.event_id)
          )
        }
      }
      expect(moved).toBeGreaterThan(0)
      expect((yield* scans) - before).toBe(0n)
    }).pipe(Effect.scoped, Effect.provide(world(1), { local: true }))
  )

  it.live(
    "a relay's batch finds held events by index, never by reading a backlog, after a day of sent history",
    () =>
      Effect.gen(function* () {
        const sql = yield* SqlClient.SqlClient
        const orders = yield* OrderStore.OrderStore
        const relay = (size: number) => orders.relayEvents(Date.now(), size, 60_000, () => Effect.void)
        // History sent by the relay itself, then a backlog (a broker outage), then what an
        // autovacuum makes of that (dead index entries gone, statistics taken). The check for
        // events held by a live claim (migration 14's partial index) was then planned over the
        // whole backlog: every sent event carried the time it went out in `claimed_until`, so the
        // statistics put a quarter of the table in `outbox_claimed` (migration 17), `outbox_unsent`
        // looked cheaper, and each batch read every unsent event: 28 ms a batch at 40,000,
        // quadratic in the backlog (`pnpm bench kafka`'s rounds).
        yield* backlog("old", 20_000)
        for (let sent = 0; sent < 20_000; ) sent += yield* relay(1_000)
        yield* backlog("new", 20_000)
        yield* sql`VACUUM ANALYZE outbox`
        const before = yield* outboxRowsRead
        expect(yield* relay(100)).toBe(100)
        expect((yield* outboxRowsRead) - before).toBeLessThan(1_000n)
      }).pipe(Effect.scoped, Effect.provide(world(1), { local: true }))
  )

  it.live("an event's insert looks for older unsent events by index, never by reading the sent history", () =>
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const schema = (yield* sql<{ schema: string }>`SELECT current_schema() AS schema`)[0]!.schema
      // One session of its own, whose counters it flushes itself (a pooled session may report
      // them seconds later).
      const session = new pg.Client({ connectionString: Redacted.value(url()) })
      yield* Effect.promise(() => session.connect())
      yield* Effect.addFinalizer(() => Effect.promise(() => session.end()))
      const run = (text: string) => Effect.promise(() => session.query(text))
      const flushed = <A>(query: Effect.Effect<A>) =>
        Effect.andThen(query, run("SELECT pg_stat_force_next_flush()"))
      yield* run(`SET search_path = ${schema}`)
      // 20,000 events, analyzed while unsent, then sent and vacuumed: the statistics still say
      // "mostly unsent" until the next ANALYZE, as on a busy server between two autovacuum runs.
      // The trigger of migration 12 then scanned the whole outbox on every insert: ~7 ms a
      // statement at 17,000 rows in `pnpm bench:e2e`, three statements a checkout, growing with
      // the table.
      yield* run("ALTER TABLE outbox SET (autovacuum_enabled = false)")
      yield* run(`
        INSERT INTO outbox (event_id, aggregate_id, type, event)
        SELECT 'old-' || i, 'ord-' || (i % 500), 'order.created', '{}'::jsonb
        FROM generate_series(1, 20000) i`)
      yield* run("ANALYZE outbox")
      yield* run("UPDATE outbox SET published = true")
      yield* flushed(run("VACUUM outbox"))
      const read = Effect.map(
        run(`
          SELECT t.seq_tup_read + (SELECT coalesce(sum(i.idx_tup_read), 0) FROM pg_stat_user_indexes i
            WHERE i.relid = t.relid) AS rows
          FROM pg_stat_user_tables t WHERE t.relid = 'outbox'::regclass`),
        (result) => BigInt(result.rows[0].rows)
      )
      yield* run("SELECT pg_stat_clear_snapshot()")
      const before = yield* read
      for (const id of ["new-1", "new-2"]) {
        yield* flushed(
          run(
            `INSERT INTO outbox (event_id, aggregate_id, type, event) VALUES ('${id}', 'ord-1', 'order.created', '{}')`
          )
        )
      }
      yield* run("SELECT pg_stat_clear_snapshot()")
      expect((yield* read) - before).toBeLessThan(100n)
    }).pipe(Effect.scoped, Effect.provide(world(), { local: true }))
  )

  it.live(
    "relayEvents holds its rows with locks: a failed publish frees them at the rollback, a hung one at its lease",
    () =>
      Effect.gen(function* () {
        const stock = yield* InventoryStore.InventoryStore
        const orders = yield* OrderStore.OrderStore
        yield* stock.setOnHand(Sku.make("relayed"), 10)
        const ids = yield* placed
        const now = Date.now()
        const failed = yield* Effect.exit(
          orders.relayEvents(now, 10, 60_000, () => Effect.fail("broker down"))
        )
        expect(failed._tag).toBe("Failure")
        // Freed at once, not after the 60 s lease.
        const sent: Array<string> = []
        const record = (events: ReadonlyArray<{ readonly event_id: string }>) =>
          Effect.sync(() => sent.push(...events.map((e) => e.event_id)))
        expect(yield* orders.relayEvents(now + 1, 10, 60_000, record)).toBe(2)
        expect(sent).toEqual(ids)
        // A publish that never ends: the session is cut after the lease (300 ms), the batch rolls back.
        const more = yield* placed
        const hung = yield* Effect.forkChild(
          Effect.exit(orders.relayEvents(Date.now(), 10, 300, () => Effect.never))
        )
        yield* Effect.sleep(100)
        expect(yield* orders.relayEvents(Date.now(), 10, 60_000, record)).toBe(0) // held: skipped
        let moved = 0
        for (let wait = 0; wait < 40 && moved === 0; wait++) {
          yield* Effect.sleep(100)
          moved = yield* orders.relayEvents(Date.now(), 10, 60_000, record)
        }
        expect(sent.slice(2)).toEqual(more)
        yield* Fiber.interrupt(hung)
      }).pipe(Effect.provide(world(), { local: true }))
  )
})
