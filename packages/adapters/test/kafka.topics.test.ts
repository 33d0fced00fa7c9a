/**
 * Topic provisioning (src/kafka/Topics.ts) against a scripted admin client: a broker that does
 * not know a just-created topic yet (kafkajs's UNKNOWN_TOPIC_OR_PARTITION, seen now and then right
 * after `createTopics`) delays the start until the leaders are there; it never fails it.
 */
import { it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import type { Kafka } from "kafkajs"
import { expect } from "vitest"
import { call, defaults as clientDefaults, KafkaClient } from "../src/kafka/KafkaClient.js"
import * as Topics from "../src/kafka/Topics.js"

/** An admin whose broker answers "unknown topic" to the first `unknownFor` metadata requests. */
const scriptedAdmin = (unknownFor: number, requestTimeoutMs = 5_000) => {
  const created: Array<{
    readonly topics: ReadonlyArray<{ readonly topic: string }>
    readonly waitForLeaders?: boolean
  }> = []
  let metadataCalls = 0
  const unknownTopic = Object.assign(new Error("This server does not host this topic-partition"), {
    name: "KafkaJSProtocolError",
    type: "UNKNOWN_TOPIC_OR_PARTITION",
    retriable: true
  })
  const admin = {
    connect: async () => {},
    disconnect: async () => {},
    listTopics: async () => [],
    createTopics: async (request: (typeof created)[number]) => {
      created.push(request)
      // As kafkajs: its own wait for leaders gives up on this error.
      if (request.waitForLeaders === true && unknownFor > 0) throw unknownTopic
      return true
    },
    fetchTopicMetadata: async ({ topics }: { readonly topics: ReadonlyArray<string> }) => {
      if (++metadataCalls <= unknownFor) throw unknownTopic
      return { topics: topics.map((name) => ({ name, partitions: [{ partitionId: 0, leader: 1 }] })) }
    }
  }
  const layer = Layer.succeed(
    KafkaClient,
    KafkaClient.of({
      settings: { ...clientDefaults, requestTimeoutMs },
      kafka: { admin: () => admin } as unknown as Kafka,
      call
    })
  )
  return { layer, created, metadataCalls: () => metadataCalls }
}

it.live("a just-created topic the broker does not know yet is waited for, not a failed start", () =>
  Effect.gen(function* () {
    const script = scriptedAdmin(3)
    const topics = yield* Topics.provision({ ...Topics.defaults, provisionTimeoutMs: 5_000 }).pipe(
      Effect.provide(script.layer)
    )
    expect(topics.all).toHaveLength(4)
    expect(script.created.flatMap((r) => r.topics.map((t) => t.topic))).toEqual(topics.all)
    expect(script.metadataCalls()).toBe(4)
  })
)

it.live("leaders that never come fail the start with StoreUnavailable naming the last error", () =>
  Effect.gen(function* () {
    const script = scriptedAdmin(1_000, 500)
    const error = yield* Effect.flip(
      Topics.provision({ ...Topics.defaults, provisionTimeoutMs: 500 }).pipe(Effect.provide(script.layer))
    )
    expect(error._tag).toBe("StoreUnavailable")
    expect(error.reason).toContain("have no leader")
    expect(error.reason).toContain("does not host this topic-partition")
  })
)
