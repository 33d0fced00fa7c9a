/**
 * The outbox relay and the consumers against the real broker (and Postgres): order per key
 * through concurrent relays, a relay killed between publish and mark, poison and failing
 * messages to the dead-letter topic, two instances of one group sharing and taking over
 * partitions. Each test has topics and a schema of its own.
 */
import { it } from "@effect/vitest"
import { Consumer, Fulfillment, KafkaEventPublisher, type Topics } from "@till/adapters/kafka"
import { PostgresOrderStore } from "@till/adapters/postgres"
import { EventPublisher, OrderStore, Outbox, Resilience } from "@till/core"
import { Effect, Layer } from "effect"
import { SqlClient } from "effect/sql"
import { expect } from "vitest"
import { event, eventually, freshTopics, kafkaLayer, readTopic, sendRaw, toOutbox } from "./support/kafka.js"
import { onFreshSchema } from "./support/postgres.js"
import { describeService } from "./support/services.js"

const world = (topics: Topics.Settings) =>
  Layer.mergeAll(KafkaEventPublisher.layer({ sendTimeoutMs: 5_000 }), Resilience.layer).pipe(
    Layer.provideMerge(kafkaLayer(topics)),
    Layer.provideMerge(onFreshSchema(PostgresOrderStore.layer))
  )

const unsent = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  const rows = yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM outbox WHERE NOT published`
  return rows[0]!.n
})

const processedBy = (consumer: string) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const rows = yield* sql<{ event_id: string }>`
      SELECT event_id FROM processed_events WHERE consumer = ${consumer} ORDER BY event_id`
    return rows.map((r) => r.event_id)
  })

await describeService("kafka", "Kafka relay and consumers (real broker)", () => {
  it.live(
    "three relays at once: every order's events arrive in order, on one partition, with their headers",
    () => {
      const topics = freshTopics(4)
      return Effect.gen(function* () {
        const orders = Array.from({ length: 30 }, (_, i) => `ord-${i}`)
        // Interleaved as concurrent checkouts write them: order 0's first, order 1's first, ...
        const events = Array.from({ length: 5 }, (_, n) =>
          orders.map((o) => event(o, n === 0 ? "order.created" : "inventory.reserved", n))
        ).flat()
        yield* toOutbox(events)
        const moved = yield* Effect.all([Outbox.drain(100, 7), Outbox.drain(100, 7), Outbox.drain(100, 7)], {
          concurrency: 3
        })
        expect(moved.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(events.length)
        expect(yield* unsent).toBe(0)

        const received = yield* Effect.promise(() =>
          readTopic(topics.orders, (r) => new Set(r.map((m) => m.headers["event_id"])).size >= events.length)
        )
        for (const order of orders) {
          const mine = received.filter((m) => m.key === order)
          const firstSeen = [...new Map(mine.map((m) => [m.headers["event_id"], m])).values()]
          expect(firstSeen.map((m) => (JSON.parse(m.value) as { data: { n: number } }).data.n)).toEqual([
            0, 1, 2, 3, 4
          ])
          expect(new Set(mine.map((m) => m.partition)).size).toBe(1)
          expect(firstSeen.map((m) => m.headers["type"])).toEqual([
            "order.created",
            "inventory.reserved",
            "inventory.reserved",
            "inventory.reserved",
            "inventory.reserved"
          ])
        }
        expect(new Set(received.map((m) => m.partition)).size).toBeGreaterThan(1)
      }).pipe(Effect.provide(world(topics)))
    },
    60_000
  )

  it.live(
    "a relay killed between publish and mark: the order is confirmed twice on the topic, shipped once",
    () => {
      const topics = freshTopics(2)
      return Effect.gen(function* () {
        const sql = yield* SqlClient.SqlClient
        const fulfillment = yield* Consumer.start(
          Fulfillment.consumer({
            groupId: `${topics.orders}.fulfillment`,
            retry: { attempts: 3, backoffMs: 50 }
          })
        )
        yield* toOutbox([event("ord-kill", "order.created", 0), event("ord-kill", "order.confirmed", 1)])

        // The relay that dies: it claims (1 ms lease), publishes, and never marks.
        const store = yield* OrderStore.OrderStore
        const publisher = yield* EventPublisher.EventPublisher
        const claim = yield* store.claimEvents(Date.now(), 100, 1)
        expect(claim.events.map((e) => e.type)).toEqual(["order.created", "order.confirmed"])
        yield* publisher.publish(claim.events)
        yield* Effect.sleep(5)

        // The next relay finds the lease ended and publishes the same events again (and, if
        // fulfillment was quick, its shipment event).
        expect(yield* Outbox.drain()).toBeGreaterThanOrEqual(2)
        yield* eventually(
          "both deliveries of order.confirmed were consumed",
          Effect.map(fulfillment.stats, (s) => s.handled + s.duplicates >= 2)
        )
        expect(yield* fulfillment.stats).toMatchObject({ handled: 1, duplicates: 1, deadLettered: 0 })
        const shipments = yield* sql<{ order_id: string; source_event_id: string }>`
          SELECT order_id, source_event_id FROM shipments`
        expect(shipments).toEqual([{ order_id: "ord-kill", source_event_id: "ord-kill/order.confirmed/1" }])
        // The relay publishes the shipment event like any other, after the order's own events.
        yield* Outbox.drain()
        expect(yield* unsent).toBe(0)
        const received = yield* Effect.promise(() =>
          readTopic(topics.orders, (r) => r.some((m) => m.headers["type"] === "shipment.created"))
        )
        const types = received.map((m) => m.headers["type"])
        expect(types.filter((t) => t === "order.confirmed")).toHaveLength(2)
        expect([
          ...new Map(received.map((m) => [m.headers["event_id"], m.headers["type"]])).values()
        ]).toEqual(["order.created", "order.confirmed", "shipment.created"])
        expect(
          received.filter((m) => m.headers["type"] === "shipment.created").map((m) => m.headers["event_id"])
        ).toEqual(["ord-kill/shipment.created"])
      }).pipe(Effect.scoped, Effect.provide(world(topics)))
    },
    60_000
  )

  it.live(
    "batched: one event delivered twice in one batch, and again later, runs its handler once",
    () => {
      const topics = freshTopics(1)
      return Effect.gen(function* () {
        const publisher = yield* EventPublisher.EventPublisher
        let runs = 0
        const consumer = yield* Consumer.start(
          Consumer.make({
            name: "batch-dedupe",
            groupId: `${topics.orders}.batch`,
            topics: ["orders"],
            batch: true,
            handlers: { "order.confirmed": () => Effect.sync(() => runs++) }
          })
        )
        const twice = event("ord-twice", "order.confirmed", 0)
        yield* publisher.publish([twice, twice, event("ord-other", "order.confirmed", 0)])
        yield* eventually(
          "the batch handled",
          Effect.map(consumer.stats, (s) => s.handled === 2 && s.duplicates === 1)
        )
        yield* publisher.publish([twice])
        yield* eventually(
          "the redelivery seen",
          Effect.map(consumer.stats, (s) => s.duplicates === 2)
        )
        expect(runs).toBe(2)
        expect(yield* processedBy("batch-dedupe")).toEqual([
          "ord-other/order.confirmed/0",
          "ord-twice/order.confirmed/0"
        ])
      }).pipe(Effect.scoped, Effect.provide(world(topics)))
    },
    60_000
  )

  for (const batch of [false, true]) {
    it.live(
      `${batch ? "batched: " : ""}a poison message goes to the dead-letter topic at once with its error; a failing handler after its retries; the rest flows`,
      () => {
        const topics = freshTopics(1)
        return Effect.gen(function* () {
          let failingAttempts = 0
          const consumer = yield* Consumer.start(
            Consumer.make({
              name: "poison-test",
              groupId: `${topics.orders}.poison`,
              topics: ["orders"],
              batch,
              retry: { attempts: 3, backoffMs: 20 },
              handlers: {
                "order.created": () => Effect.void,
                "order.expired": () =>
                  Effect.suspend(() => {
                    failingAttempts++
                    return Effect.fail(new Error("no warehouse for this order"))
                  })
              }
            })
          )
          yield* Effect.promise(() =>
            sendRaw(topics.orders, [
              { key: "ord-poison", value: "{not json", headers: { event_id: "x-1", trace: "abc" } }
            ])
          )
          yield* toOutbox([event("ord-fail", "order.expired", 0), event("ord-ok", "order.created", 0)])
          yield* Outbox.drain()

          yield* eventually(
            "both letters written and the good event handled",
            Effect.map(consumer.stats, (s) => s.deadLettered === 2 && s.handled === 1)
          )
          // Batched, the failing handler may also have run once in its batch's rolled-back transaction.
          expect(failingAttempts).toBeGreaterThanOrEqual(3)
          expect(failingAttempts).toBeLessThanOrEqual(batch ? 4 : 3)
          const letters = yield* Effect.promise(() => readTopic(`${topics.orders}.dlq`, (r) => r.length >= 2))
          const poison = letters.find((m) => m.key === "ord-poison")!
          expect(poison.value).toBe("{not json")
          expect(poison.headers).toMatchObject({
            event_id: "x-1",
            trace: "abc",
            original_topic: topics.orders,
            original_partition: "0",
            original_offset: "0",
            consumer: "poison-test",
            attempts: "0"
          })
          expect(poison.headers["error"]).toMatch(/^undecodable: /)
          const failed = letters.find((m) => m.key === "ord-fail")!
          expect(failed.headers).toMatchObject({
            event_id: "ord-fail/order.expired/0",
            type: "order.expired",
            attempts: "3",
            original_topic: topics.orders
          })
          expect(failed.headers["error"]).toContain("no warehouse for this order")
          expect(JSON.parse(failed.value)).toMatchObject({ event_id: "ord-fail/order.expired/0" })
          // The failed event's dedupe row rolled back with its handler; the good one committed.
          expect(yield* processedBy("poison-test")).toEqual(["ord-ok/order.created/0"])
        }).pipe(Effect.scoped, Effect.provide(world(topics)))
      },
      60_000
    )

    it.live(
      `${batch ? "batched: " : ""}a message whose type header names a type without a handler is skipped unread; one that names a handled type, or none, is read (and dead-lettered when unreadable)`,
      () => {
        const topics = freshTopics(1)
        return Effect.gen(function* () {
          const consumer = yield* Consumer.start(
            Consumer.make({
              name: "header-test",
              groupId: `${topics.orders}.header`,
              topics: ["orders"],
              batch,
              retry: { attempts: 1 },
              handlers: { "order.confirmed": () => Effect.void }
            })
          )
          yield* Effect.promise(() =>
            sendRaw(topics.orders, [
              { key: "ord-a", value: "{not json", headers: { event_id: "h-1", type: "order.created" } },
              { key: "ord-b", value: "{not json", headers: { event_id: "h-2", type: "order.confirmed" } },
              { key: "ord-c", value: "{not json", headers: { event_id: "h-3" } }
            ])
          )
          yield* toOutbox([event("ord-d", "order.confirmed", 0), event("ord-e", "order.created", 0)])
          yield* Outbox.drain()

          yield* eventually(
            "the handled event handled, the unreadable ones it would handle dead-lettered, the rest skipped",
            Effect.map(consumer.stats, (s) => s.handled === 1 && s.deadLettered === 2 && s.skipped === 2)
          )
          const letters = yield* Effect.promise(() => readTopic(`${topics.orders}.dlq`, (r) => r.length >= 2))
          expect(letters.map((m) => m.key).sort()).toEqual(["ord-b", "ord-c"])
          expect(yield* processedBy("header-test")).toEqual(["ord-d/order.confirmed/0"])
          expect(yield* consumer.stats).toEqual({ handled: 1, duplicates: 0, skipped: 2, deadLettered: 2 })
        }).pipe(Effect.scoped, Effect.provide(world(topics)))
      },
      60_000
    )
  }

  it.live(
    "two instances of one group split the partitions; when one stops the other takes them over and nothing is lost",
    () => {
      const topics = freshTopics(4)
      return Effect.gen(function* () {
        const definition = Consumer.make({
          name: "group-test",
          groupId: `${topics.orders}.group`,
          topics: ["orders"],
          sessionTimeoutMs: 10_000,
          handlers: { "order.created": () => Effect.void, "order.confirmed": () => Effect.void }
        })
        const partitionsOf = (running: Consumer.Running) =>
          Effect.map(running.assignment, (a) => [...(a[topics.orders] ?? [])].sort())
        const a = yield* Consumer.start(definition)
        yield* eventually(
          "the first instance holds every partition",
          Effect.map(partitionsOf(a), (p) => p.length === 4)
        )
        const b = yield* Consumer.start(definition)
        yield* eventually(
          "the two instances split the partitions",
          Effect.gen(function* () {
            const [pa, pb] = [yield* partitionsOf(a), yield* partitionsOf(b)]
            return pa.length > 0 && pb.length > 0 && [...pa, ...pb].sort().join() === "0,1,2,3"
          }),
          30_000
        )

        const first = Array.from({ length: 40 }, (_, i) => event(`ord-g${i}`, "order.created", 0))
        yield* toOutbox(first)
        yield* Outbox.drain()
        yield* eventually(
          "the first 40 events processed",
          Effect.map(processedBy("group-test"), (ids) => ids.length === 40)
        )
        expect((yield* a.stats).handled).toBeGreaterThan(0)
        expect((yield* b.stats).handled).toBeGreaterThan(0)
        expect((yield* a.stats).handled + (yield* b.stats).handled).toBe(40)

        yield* a.stop
        const second = Array.from({ length: 40 }, (_, i) => event(`ord-g${i}`, "order.confirmed", 1))
        yield* toOutbox(second)
        yield* Outbox.drain()
        yield* eventually(
          "the instance left holds every partition",
          Effect.map(partitionsOf(b), (p) => p.length === 4),
          30_000
        )
        yield* eventually(
          "all 80 events processed",
          Effect.map(processedBy("group-test"), (ids) => ids.length === 80),
          30_000
        )
        expect(yield* processedBy("group-test")).toEqual([...first, ...second].map((e) => e.event_id).sort())
      }).pipe(Effect.scoped, Effect.provide(world(topics)))
    },
    90_000
  )
})
