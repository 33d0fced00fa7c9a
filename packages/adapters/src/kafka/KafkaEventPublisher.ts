/**
 * EventPublisher on Kafka: what core's `Outbox` relay publishes. Each event is one message on its
 * family's topic (Topics.ts), keyed by its aggregate id, its value the Schema-encoded event as
 * JSON and its headers `event_id` and `type` (so a consumer can route or skip without decoding).
 *
 * - **Order per key**: one key, one partition; the producer is idempotent with one request in
 *   flight per broker, so a retried request cannot land behind a later one, and a batch's
 *   messages keep their order within each partition. Across relays, core's leased claims never
 *   hand one order's later events to a relay while its earlier ones are out (Outbox.ts).
 * - **Durability**: `acks: -1`, a publish succeeds once every in-sync replica has the messages;
 *   only then does the relay take them out of the outbox.
 * - **Bounded**: each publish is bounded by `sendTimeoutMs`. kafkajs's idempotent producer keeps
 *   retrying a send on its own; when the bound ends first the publish fails (`StoreUnavailable`,
 *   store `kafka`), the relay leaves the events unsent, and a late success of that send is a
 *   duplicate the consumers absorb by `event_id` (at least once).
 */
import { type Errors, Event, EventPublisher } from "@till/core"
import { Effect, Layer, type Scope } from "effect"
import { type Message, Partitioners } from "kafkajs"
import { call, KafkaClient } from "./KafkaClient.js"
import { Topics } from "./Topics.js"

export interface Options {
  /** Longest wait for one publish, acks included (default 10 s, under the relay's lease). */
  readonly sendTimeoutMs?: number
}

export const defaultSendTimeoutMs = 10_000

/** The message of `event`: key, JSON value, `event_id` and `type` headers. */
export const toMessage = (event: Event.Event): Message => storedMessage(Event.toStored(event))

/** The message of a stored event: its JSON as it is. */
const storedMessage = (event: Event.StoredEvent): Message => ({
  key: event.aggregate_id,
  value: event.json,
  headers: { event_id: event.event_id, type: event.type }
})

/** The publisher over a connected idempotent producer, disconnected with the scope. */
export const make: (
  options?: Options
) => Effect.Effect<
  EventPublisher.EventPublisher["Service"],
  Errors.StoreUnavailable,
  KafkaClient | Topics | Scope.Scope
> = Effect.fn("KafkaEventPublisher.make")(function* (options: Options = {}) {
  const { kafka, settings } = yield* KafkaClient
  const topics = yield* Topics
  const sendTimeoutMs = options.sendTimeoutMs ?? defaultSendTimeoutMs
  const producer = kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    allowAutoTopicCreation: false,
    // murmur2 of the key, as Java clients partition: every client puts a key on the same partition.
    createPartitioner: Partitioners.DefaultPartitioner
  })
  yield* Effect.acquireRelease(
    call("connect the producer", settings.connectionTimeoutMs + settings.requestTimeoutMs, () =>
      producer.connect()
    ),
    () =>
      Effect.ignore(call("disconnect the producer", settings.requestTimeoutMs, () => producer.disconnect()))
  )

  // Sends stored events (the outbox's JSON as it is): the relay's way, and `publish`'s once encoded.
  const publishStored = (
    events: ReadonlyArray<Event.StoredEvent>
  ): Effect.Effect<void, Errors.StoreUnavailable> => {
    if (events.length === 0) return Effect.void
    const byTopic = new Map<string, Array<Message>>()
    for (const event of events) {
      const topic = topics.topicOf(event.type)
      const messages = byTopic.get(topic)
      if (messages === undefined) byTopic.set(topic, [storedMessage(event)])
      else messages.push(storedMessage(event))
    }
    const topicMessages = [...byTopic].map(([topic, messages]) => ({ topic, messages }))
    return Effect.asVoid(
      call(`publish ${events.length} events`, sendTimeoutMs, () =>
        producer.sendBatch({ topicMessages, acks: -1, timeout: settings.requestTimeoutMs })
      )
    )
  }

  const publish = (events: ReadonlyArray<Event.Event>) => publishStored(events.map(Event.toStored))

  return EventPublisher.EventPublisher.of({ publish, publishStored })
})

/**
 * EventPublisher on the provisioned `Topics` of `KafkaClient`.
 * @example Layer.provide(KafkaEventPublisher.layer(), Topics.layer.pipe(Layer.provideMerge(KafkaClient.layerConfig())))
 * @category layers
 */
export const layer = (
  options: Options = {}
): Layer.Layer<EventPublisher.EventPublisher, Errors.StoreUnavailable, KafkaClient | Topics> =>
  Layer.effect(EventPublisher.EventPublisher, make(options))
