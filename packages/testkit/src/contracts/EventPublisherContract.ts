/**
 * The EventPublisher contract: what is published can be read back, whole, and in publish
 * order per aggregate (Kafka orders per partition, keyed by aggregate id; the outbox relay
 * relies on it). Delivery is at least once, so duplicates are allowed: order is checked on
 * the first delivery of each event id.
 *
 * `readBack` answers the events delivered so far for some aggregates (a consumer, for Kafka;
 * the `Inspector`, in memory). It may poll until they arrive.
 */
import { expect, layer } from "@effect/vitest"
import { Event, EventPublisher } from "@till/core"
import { Effect, type Layer } from "effect"
import { encoded, uniqueId } from "../internal/contract.js"

const encode = encoded(Event.Event)

const makeEvents = (aggregateId: string, n: number) =>
  Effect.all(
    Array.from({ length: n }, (_, i) =>
      Effect.map(
        uniqueId("evt"),
        (eventId) =>
          new Event.Event({
            event_id: eventId,
            type: i === 0 ? "order.created" : "inventory.reserved",
            occurred_at: new Date(Date.UTC(2030, 0, 1, 0, 0, i)).toISOString(),
            aggregate_id: aggregateId,
            data: { seq: i, nested: { lines: [{ sku: "mug", quantity: 2 }] }, note: "ünïcode ✓" }
          })
      )
    )
  )

/** First delivery of each event, in delivery order. */
const firstDeliveries = (events: ReadonlyArray<Event.Event>) => {
  const seen = new Set<string>()
  const first: Array<Event.Event> = []
  for (const event of events) {
    if (seen.has(event.event_id)) continue
    seen.add(event.event_id)
    first.push(event)
  }
  return first
}

export const eventPublisherContract = <R>(
  name: string,
  publisherLayer: Layer.Layer<EventPublisher.EventPublisher | R, unknown>,
  readBack: (aggregateIds: ReadonlyArray<string>) => Effect.Effect<ReadonlyArray<Event.Event>, unknown, R>
): void => {
  const delivered = (aggregateId: string) =>
    Effect.map(readBack([aggregateId]), (events) =>
      firstDeliveries(events.filter((e) => e.aggregate_id === aggregateId)).map(encode)
    )

  layer(publisherLayer)(`EventPublisher contract: ${name}`, (it) => {
    it.effect("a published batch is delivered whole, in order", () =>
      Effect.gen(function* () {
        const publisher = yield* EventPublisher.EventPublisher
        const aggregateId = yield* uniqueId("ord")
        const events = yield* makeEvents(aggregateId, 5)
        yield* publisher.publish(events)
        expect(yield* delivered(aggregateId)).toEqual(events.map(encode))
      })
    )

    it.effect("successive publishes keep their order per aggregate", () =>
      Effect.gen(function* () {
        const publisher = yield* EventPublisher.EventPublisher
        const aggregateId = yield* uniqueId("ord")
        const events = yield* makeEvents(aggregateId, 6)
        yield* publisher.publish(events.slice(0, 2))
        yield* publisher.publish([])
        yield* publisher.publish(events.slice(2))
        expect(yield* delivered(aggregateId)).toEqual(events.map(encode))
      })
    )

    it.effect("concurrent publishers of different aggregates keep each aggregate's order", () =>
      Effect.gen(function* () {
        const publisher = yield* EventPublisher.EventPublisher
        const aggregates = yield* Effect.all(Array.from({ length: 8 }, () => uniqueId("ord")))
        const batches = yield* Effect.forEach(aggregates, (id) => makeEvents(id, 4))
        yield* Effect.forEach(
          batches,
          (events) => Effect.forEach(events, (e) => publisher.publish([e]), { discard: true }),
          { concurrency: "unbounded", discard: true }
        )
        for (const [i, id] of aggregates.entries())
          expect(yield* delivered(id)).toEqual(batches[i]!.map(encode))
      })
    )
  })
}
