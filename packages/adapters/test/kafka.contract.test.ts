/**
 * The testkit's EventPublisher contract on Kafka: the relay's publisher, read back by a plain
 * consumer of the topic, and the consumer cases through `Consumer` (dedupe in Postgres).
 */
import { Consumer, KafkaEventPublisher } from "@till/adapters/kafka"
import { Event } from "@till/core"
import { eventPublisherContract } from "@till/testkit/contracts"
import { Effect, Layer, Schema } from "effect"
import { freshTopics, kafkaLayer, readTopic } from "./support/kafka.js"
import { onFreshSchema } from "./support/postgres.js"
import { describeService } from "./support/services.js"

const decode = Schema.decodeUnknownSync(Schema.fromJsonString(Event.Event))

await describeService("kafka", "Kafka EventPublisher contract (real broker)", () => {
  const topics = freshTopics(3)
  const world = KafkaEventPublisher.layer({ sendTimeoutMs: 5_000 }).pipe(
    Layer.provideMerge(kafkaLayer(topics)),
    Layer.provideMerge(onFreshSchema(Layer.empty))
  )
  eventPublisherContract(
    "kafka",
    world,
    (aggregateIds, atLeast) =>
      Effect.map(
        Effect.promise(() =>
          readTopic(topics.orders, (r) => r.filter((m) => aggregateIds.includes(m.key)).length >= atLeast)
        ),
        (received) => received.filter((m) => aggregateIds.includes(m.key)).map((m) => decode(m.value))
      ),
    {
      consume: (name, handle) =>
        Effect.asVoid(
          Consumer.start(
            Consumer.make({
              name,
              groupId: name,
              topics: ["orders"],
              retry: { attempts: 10, backoffMs: 20 },
              handlers: Object.fromEntries(Event.EventType.literals.map((type) => [type, handle]))
            })
          )
        )
    }
  )
})
