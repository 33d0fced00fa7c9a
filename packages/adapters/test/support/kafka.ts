/**
 * Kafka for the tests: topics of a test's own (vitest runs files in parallel on one broker), the
 * adapter's layers over them, outbox rows written straight into a fresh Postgres schema, and a
 * plain kafkajs reader of what landed on a topic.
 */
import { KafkaClient, Topics } from "@till/adapters/kafka"
import { Event } from "@till/core"
import { Effect, Layer, Schema } from "effect"
import { SqlClient } from "effect/sql"
import { Kafka, logLevel, type Message } from "kafkajs"
import { serviceUrl } from "./services.js"

export const brokers = (): ReadonlyArray<string> => serviceUrl("kafka").split(",")

/** Topic names no other test uses: `t<random>.orders`, `t<random>.carts`. */
export const freshTopics = (partitions = 3): Topics.Settings => {
  const id = `t${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`
  return { ...Topics.defaults, orders: `${id}.orders`, carts: `${id}.carts`, partitions }
}

/** `KafkaClient` and provisioned `Topics` (both provided). */
export const kafkaLayer = (topics: Topics.Settings, brokerList: ReadonlyArray<string> = brokers()) =>
  Topics.layerWith(topics).pipe(
    Layer.provideMerge(
      KafkaClient.layerWith({
        brokers: brokerList,
        clientId: "till-test",
        logLevel: (process.env["TILL_TEST_KAFKA_LOG"] ?? "nothing") as "nothing",
        requestTimeoutMs: 5_000
      })
    )
  )

const encode = Schema.encodeSync(Event.Event)

/** An event of `aggregateId`; `n` orders the events of one test. */
export const event = (
  aggregateId: string,
  type: Event.EventType,
  n: number,
  data: Record<string, unknown> = {}
) =>
  new Event.Event({
    event_id: `${aggregateId}/${type}/${n}`,
    type,
    occurred_at: new Date(Date.UTC(2030, 0, 1) + n).toISOString(),
    aggregate_id: aggregateId,
    data: { n, user_id: `user-of-${aggregateId}`, ...data }
  })

/** Writes `events` to the outbox in this order (as order steps do). */
export const toOutbox = (events: ReadonlyArray<Event.Event>) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    for (const e of events)
      yield* sql`INSERT INTO outbox (event_id, aggregate_id, type, event)
                 VALUES (${e.event_id}, ${e.aggregate_id}, ${e.type}, ${JSON.stringify(encode(e))}::jsonb)`
  })

export interface Received {
  readonly partition: number
  readonly offset: string
  readonly key: string
  readonly value: string
  readonly headers: Readonly<Record<string, string>>
}

/** Sends `messages` to `topic` as they are, past Till's publisher (poison, foreign producers). */
export const sendRaw = (topic: string, messages: ReadonlyArray<Message>): Promise<void> => {
  const producer = new Kafka({
    clientId: "till-test",
    brokers: [...brokers()],
    logLevel: logLevel.NOTHING
  }).producer()
  return producer
    .connect()
    .then(() => producer.send({ topic, messages: [...messages] }))
    .then(() => undefined)
    .finally(() => producer.disconnect())
}

/**
 * Reads `topic` from the beginning with a group of its own until `done` holds for what arrived
 * (or `timeoutMs`, then it fails saying how many came).
 */
export const readTopic = (
  topic: string,
  done: (received: ReadonlyArray<Received>) => boolean,
  timeoutMs = 20_000,
  brokerList: ReadonlyArray<string> = brokers()
): Promise<ReadonlyArray<Received>> => {
  const kafka = new Kafka({
    clientId: "till-test-reader",
    brokers: [...brokerList],
    logLevel: logLevel.NOTHING
  })
  const consumer = kafka.consumer({ groupId: `reader-${crypto.randomUUID()}`, maxWaitTimeInMs: 200 })
  const received: Array<Received> = []
  return new Promise<ReadonlyArray<Received>>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${topic}: ${received.length} messages within ${timeoutMs} ms, not enough`)),
      timeoutMs
    )
    const check = () => {
      if (done(received)) {
        clearTimeout(timer)
        resolve([...received])
      }
    }
    consumer
      .connect()
      .then(() => consumer.subscribe({ topic, fromBeginning: true }))
      .then(() =>
        consumer.run({
          eachMessage: async ({ partition, message }) => {
            const headers: Record<string, string> = {}
            for (const [k, v] of Object.entries(message.headers ?? {})) headers[k] = String(v)
            received.push({
              partition,
              offset: message.offset,
              key: String(message.key),
              value: String(message.value),
              headers
            })
            check()
          }
        })
      )
      .catch((error: unknown) => {
        clearTimeout(timer)
        reject(error)
      })
  }).finally(() => consumer.disconnect())
}

/** Polls `check` every 50 ms until it answers true, failing after `timeoutMs` with `what`. */
export const eventually = <E, R>(what: string, check: Effect.Effect<boolean, E, R>, timeoutMs = 20_000) =>
  Effect.gen(function* () {
    const deadline = Date.now() + timeoutMs
    while (!(yield* check)) {
      if (Date.now() > deadline) return yield* Effect.die(new Error(`not within ${timeoutMs} ms: ${what}`))
      yield* Effect.sleep(50)
    }
  })
