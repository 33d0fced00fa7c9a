/**
 * Events as the outbox stores them (Event.StoredEvent): the JSON a transport sends, and the way
 * back to the event; and EventPublisher.publishStored choosing the publisher's own door.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit } from "effect"
import * as Event from "../src/Event.js"
import { EventPublisher, publishStored } from "../src/EventPublisher.js"

const event = new Event.Event({
  event_id: "ord_1/order.created/1",
  type: "order.created",
  occurred_at: "2026-12-03T05:00:00.000Z",
  aggregate_id: "ord_1",
  data: { order_id: "ord_1", total: { amount: 1200, currency: "USD" } }
})

describe("Event.StoredEvent", () => {
  it.effect(
    "toStored keeps the routing fields and the encoded JSON; a copy without the event decodes to an equal one",
    () =>
      Effect.gen(function* () {
        const stored = Event.toStored(event)
        expect([stored.event_id, stored.aggregate_id, stored.type]).toEqual([
          event.event_id,
          "ord_1",
          "order.created"
        ])
        expect(JSON.parse(stored.json)).toEqual({ ...event })
        expect(yield* Event.fromStored(stored)).toBe(event) // held: no decoding
        const fromRow = {
          event_id: stored.event_id,
          aggregate_id: "ord_1",
          type: stored.type,
          json: stored.json
        }
        const decoded = yield* Event.fromStored(fromRow)
        expect(decoded).toBeInstanceOf(Event.Event)
        expect({ ...decoded }).toEqual({ ...event })
      })
  )

  it.effect("fromStored fails on JSON that is not an event", () =>
    Effect.gen(function* () {
      const bad = {
        event_id: "x",
        aggregate_id: "ord_1",
        type: "order.created" as const,
        json: '{"type":"nope"}'
      }
      expect(Exit.isFailure(yield* Effect.exit(Event.fromStored(bad)))).toBe(true)
    })
  )

  it.effect(
    "publishStored uses the publisher's publishStored when it has one, else decodes and publishes",
    () =>
      Effect.gen(function* () {
        const seen: Array<string> = []
        const plain = EventPublisher.of({
          publish: (events) => Effect.sync(() => seen.push(...events.map((e) => `publish ${e.event_id}`)))
        })
        const bytes = EventPublisher.of({
          publish: () => Effect.die("not this door"),
          publishStored: (events) =>
            Effect.sync(() => seen.push(...events.map((e) => `stored ${e.json.length > 0}`)))
        })
        const row = { ...Event.toStored(event), event: undefined, json: Event.toStored(event).json }
        yield* publishStored(plain)([row])
        yield* publishStored(bytes)([row])
        expect(seen).toEqual([`publish ${event.event_id}`, "stored true"])
      })
  )
})
