import { describe, expect, it } from "@effect/vitest"
import { Event } from "@till/core"
import { InMemoryEventPublisher } from "@till/testkit"
import { eventPublisherContract } from "@till/testkit/contracts"
import { Effect } from "effect"

eventPublisherContract(
  "in-memory",
  InMemoryEventPublisher.layer,
  (aggregateIds) =>
    Effect.flatMap(InMemoryEventPublisher.Inspector, (inspector) =>
      Effect.map(inspector.published, (events) => events.filter((e) => aggregateIds.includes(e.aggregate_id)))
    ),
  { consume: (name, handle) => InMemoryEventPublisher.consume(name, handle) }
)

describe("InMemoryEventPublisher Control", () => {
  it.effect("a broker outage fails publishes and records nothing until it ends", () =>
    Effect.gen(function* () {
      const publisher = yield* InMemoryEventPublisher.make()
      const event = new Event.Event({
        event_id: "e1",
        type: "order.created",
        occurred_at: "2030-01-01T00:00:00.000Z",
        aggregate_id: "o1",
        data: {}
      })
      yield* publisher.setUnavailable(true)
      expect((yield* Effect.flip(publisher.publish([event])))._tag).toBe("StoreUnavailable")
      expect(yield* publisher.published).toEqual([])
      yield* publisher.setUnavailable(false)
      yield* publisher.publish([event])
      yield* publisher.publish([event])
      expect((yield* publisher.published).map((e) => e.event_id)).toEqual(["e1", "e1"])
      yield* publisher.clear
      expect(yield* publisher.published).toEqual([])
    })
  )

  it.effect("keeps about the newest maxRetained events", () =>
    Effect.gen(function* () {
      const publisher = yield* InMemoryEventPublisher.make({ maxRetained: 10 })
      const events = Array.from(
        { length: 25 },
        (_, i) =>
          new Event.Event({
            event_id: `e${i}`,
            type: "order.created",
            occurred_at: "",
            aggregate_id: "o",
            data: {}
          })
      )
      yield* Effect.forEach(events, (e) => publisher.publish([e]), { discard: true })
      expect((yield* publisher.published).map((e) => e.event_id)).toEqual(
        events.slice(15).map((e) => e.event_id)
      )
    })
  )
})
