/**
 * The EventPublisher contract: what is published can be read back, whole, and in publish
 * order per aggregate (Kafka orders per partition, keyed by aggregate id; the outbox relay
 * relies on it). Delivery is at least once, so duplicates are allowed: order is checked on
 * the first delivery of each event id.
 *
 * `readBack` answers the events delivered so far for some aggregates (a consumer, for Kafka;
 * the `Inspector`, in memory). It may poll until `atLeast` of them (copies included) arrived.
 *
 * With `consumer` (a deduping consumer over what was published: the Kafka adapter's `Consumer`,
 * or `InMemoryEventPublisher.consume`), the suite also checks the consumer side: an event
 * published twice (a relay that died between publish and mark) is delivered twice and applied
 * once; a handler that fails is retried, and neither that event nor the later ones of its
 * aggregate are lost or overtaken.
 */
import { expect, layer } from "@effect/vitest"
import { Event, EventPublisher } from "@till/core"
import { Effect, type Layer, type Scope } from "effect"
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

/** Starts a consumer `name` (its dedupe key) delivering every published event to `handle`, until the scope closes. */
export type Consume<R> = (
  name: string,
  handle: (event: Event.Event) => Effect.Effect<void, unknown>
) => Effect.Effect<void, unknown, R | Scope.Scope>

export const eventPublisherContract = <R>(
  name: string,
  publisherLayer: Layer.Layer<EventPublisher.EventPublisher | R, unknown>,
  readBack: (
    aggregateIds: ReadonlyArray<string>,
    atLeast: number
  ) => Effect.Effect<ReadonlyArray<Event.Event>, unknown, R>,
  consumer?: { readonly consume: Consume<R>; readonly timeoutMs?: number }
): void => {
  const delivered = (aggregateId: string, atLeast: number) =>
    Effect.map(readBack([aggregateId], atLeast), (events) =>
      firstDeliveries(events.filter((e) => e.aggregate_id === aggregateId)).map(encode)
    )

  // Live services: the consumer cases wait on real time (a consumer polls, or a broker answers).
  layer(publisherLayer, { excludeTestServices: true })(`EventPublisher contract: ${name}`, (it) => {
    it.effect("a published batch is delivered whole, in order", () =>
      Effect.gen(function* () {
        const publisher = yield* EventPublisher.EventPublisher
        const aggregateId = yield* uniqueId("ord")
        const events = yield* makeEvents(aggregateId, 5)
        yield* publisher.publish(events)
        expect(yield* delivered(aggregateId, events.length)).toEqual(events.map(encode))
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
        expect(yield* delivered(aggregateId, events.length)).toEqual(events.map(encode))
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
          expect(yield* delivered(id, batches[i]!.length)).toEqual(batches[i]!.map(encode))
      })
    )

    if (consumer === undefined) return
    const timeoutMs = consumer.timeoutMs ?? 20_000
    /** Waits (polling) until `done` holds. */
    const until = (what: string, done: () => boolean) =>
      Effect.gen(function* () {
        const deadline = Date.now() + timeoutMs
        while (!done()) {
          if (Date.now() > deadline)
            return yield* Effect.die(new Error(`not within ${timeoutMs} ms: ${what}`))
          yield* Effect.sleep(10)
        }
      })

    it.effect("at least once: a batch published twice is delivered twice and applied once", () =>
      Effect.gen(function* () {
        const publisher = yield* EventPublisher.EventPublisher
        const aggregateId = yield* uniqueId("ord")
        const events = yield* makeEvents(aggregateId, 4)
        const [sentinel, ...batch] = [events[3]!, ...events.slice(0, 3)]
        const applied: Array<string> = []
        yield* consumer.consume(yield* uniqueId("dedupe"), (event) =>
          Effect.sync(() => {
            if (event.aggregate_id === aggregateId) applied.push(event.event_id)
          })
        )
        yield* publisher.publish(batch)
        yield* publisher.publish(batch)
        // Behind the copies in its aggregate's order: once it is applied, so were they (or skipped).
        yield* publisher.publish([sentinel])
        const copies = yield* readBack([aggregateId], 2 * batch.length + 1)
        for (const event of batch)
          expect(copies.filter((e) => e.event_id === event.event_id).length).toBeGreaterThanOrEqual(2)
        yield* until("the sentinel applied", () => applied.includes(sentinel.event_id))
        expect(applied).toEqual([...batch, sentinel].map((e) => e.event_id))
      }).pipe(Effect.scoped)
    )

    it.effect("a failing handler is retried: nothing lost, nothing of its aggregate overtakes it", () =>
      Effect.gen(function* () {
        const publisher = yield* EventPublisher.EventPublisher
        const aggregateId = yield* uniqueId("ord")
        const events = yield* makeEvents(aggregateId, 4)
        const applied: Array<string> = []
        let failures = 0
        yield* consumer.consume(yield* uniqueId("retry"), (event) =>
          Effect.suspend(() => {
            if (event.aggregate_id !== aggregateId) return Effect.void
            if (event.event_id === events[1]!.event_id && failures < 2) {
              failures++
              return Effect.fail(new Error("injected handler failure"))
            }
            applied.push(event.event_id)
            return Effect.void
          })
        )
        yield* publisher.publish(events)
        yield* until("every event applied", () => applied.length >= events.length)
        expect(failures).toBe(2)
        expect(applied).toEqual(events.map((e) => e.event_id))
      }).pipe(Effect.scoped)
    )
  })
}
