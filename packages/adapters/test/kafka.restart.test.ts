/**
 * The broker restarted mid-test: nothing lost. A broker of this file's own (scripts/services.sh
 * on other ports and a state folder of its own), so the shared broker the other files use is
 * never disturbed; it is stopped with the file, by its pid.
 */
import { execFile } from "node:child_process"
import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { promisify } from "node:util"
import { it } from "@effect/vitest"
import { Consumer, KafkaEventPublisher } from "@till/adapters/kafka"
import { PostgresOrderStore } from "@till/adapters/postgres"
import { Outbox, Resilience } from "@till/core"
import { Effect, Layer, Schedule } from "effect"
import { SqlClient } from "effect/sql"
import { afterAll, beforeAll, expect } from "vitest"
import { event, eventually, freshTopics, kafkaLayer, toOutbox } from "./support/kafka.js"
import { onFreshSchema } from "./support/postgres.js"
import { describeService } from "./support/services.js"

const run = promisify(execFile)
const script = fileURLToPath(new URL("../../../scripts/services.sh", import.meta.url))
// Not 9092/9093 (the shared broker) nor 19092/19093 (CI's broker when 9092 is taken).
const port = 19392
const broker = `127.0.0.1:${port}`
let stateDir = ""

const services = async (...args: Array<string>): Promise<string> => {
  const env = {
    ...process.env,
    TILL_KAFKA_PORT: String(port),
    TILL_KAFKA_CONTROLLER_PORT: String(port + 1),
    TILL_KAFKA_STATE_DIR: stateDir
  }
  const { stdout } = await run("bash", [script, ...args], { env, timeout: 120_000 })
  return stdout.trim()
}

const brokerUp = () => services("up")
const brokerDown = async () => {
  const pid = await services("pid")
  if (pid !== "") await services("down", pid)
}

const unsent = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  const rows = yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM outbox WHERE NOT published`
  return rows[0]!.n
})

const processed = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  const rows = yield* sql<{ event_id: string }>`
    SELECT event_id FROM processed_events WHERE consumer = 'restart-test' ORDER BY event_id`
  return rows.map((r) => r.event_id)
})

await describeService("kafka", "Kafka broker restarted mid-test (a broker of its own)", () => {
  beforeAll(async () => {
    stateDir = await mkdtemp(join(tmpdir(), "till-kafka-restart-"))
    await brokerUp()
  }, 120_000)
  afterAll(async () => {
    await brokerDown()
    await rm(stateDir, { recursive: true, force: true })
  }, 60_000)

  it.live(
    "events written before, during and after a broker restart all reach the consumer, in order per order",
    () => {
      const topics = freshTopics(3)
      const world = Layer.mergeAll(
        KafkaEventPublisher.layer({ sendTimeoutMs: 3_000 }),
        Resilience.layer
      ).pipe(
        Layer.provideMerge(kafkaLayer(topics, [broker])),
        Layer.provideMerge(onFreshSchema(PostgresOrderStore.layer))
      )
      const seen = new Map<string, Array<number>>()
      return Effect.gen(function* () {
        const consumer = yield* Consumer.start(
          Consumer.make({
            name: "restart-test",
            groupId: `${topics.orders}.restart`,
            topics: ["orders"],
            sessionTimeoutMs: 10_000,
            retry: { attempts: 20, backoffMs: 100, maxBackoffMs: 1_000 },
            handlers: {
              "inventory.reserved": (e) =>
                Effect.sync(() => {
                  const list = seen.get(e.aggregate_id) ?? []
                  list.push(e.data["n"] as number)
                  seen.set(e.aggregate_id, list)
                })
            }
          })
        )
        const batch = (from: number) =>
          Array.from({ length: 40 }, (_, i) => event(`ord-r${i % 10}`, "inventory.reserved", from + i))
        const before = batch(0)
        yield* toOutbox(before)
        // A relay whose lease (5 s) is just past the publisher's bound (3 s): a publish that failed
        // while the broker was down holds its claim for the lease, then the batch is claimed again.
        yield* Effect.forkScoped(
          Outbox.relayOnce(100, 5_000).pipe(
            Effect.catchCause(() => Effect.succeed(0)),
            Effect.repeat(Schedule.spaced("100 millis"))
          )
        )
        yield* eventually(
          "the first 40 consumed",
          Effect.map(processed, (ids) => ids.length === 40)
        )

        yield* Effect.promise(brokerDown)
        const during = batch(40)
        yield* toOutbox(during)
        yield* Effect.sleep(1_500)
        // The relay could not publish while the broker was down: the events wait in the outbox.
        expect(yield* unsent).toBe(40)

        yield* Effect.promise(brokerUp)
        const after = batch(80)
        yield* toOutbox(after)
        yield* eventually(
          "the outbox emptied",
          Effect.map(unsent, (n) => n === 0),
          45_000
        )
        yield* eventually(
          "all 120 consumed",
          Effect.map(processed, (ids) => ids.length === 120),
          45_000
        )
        expect(yield* processed).toEqual([...before, ...during, ...after].map((e) => e.event_id).sort())
        expect((yield* consumer.stats).deadLettered).toBe(0)
        for (const [order, ns] of seen) {
          const first = [...new Set(ns)]
          expect(first, order).toEqual([...first].sort((a, b) => a - b))
          expect(first).toHaveLength(12)
        }
      }).pipe(Effect.scoped, Effect.provide(world))
    },
    90_000
  )
})
