/** Port: where outbox events go (Kafka in production). Delivery is at least once. */
import { Context, Effect } from "effect"
import type { StoreUnavailable } from "./Errors.js"
import { type Event, fromStored, type StoredEvent } from "./Event.js"

export class EventPublisher extends Context.Service<
  EventPublisher,
  {
    readonly publish: (events: ReadonlyArray<Event>) => Effect.Effect<void, StoreUnavailable>
    /**
     * Publishes events as the outbox stores them (their JSON as it is), for a publisher that sends
     * bytes. Optional: without it the relay decodes them and calls `publish`.
     */
    readonly publishStored?: (events: ReadonlyArray<StoredEvent>) => Effect.Effect<void, StoreUnavailable>
  }
>()("@till/core/EventPublisher") {}

/**
 * Publishes stored events with `publisher`: through its `publishStored`, or decoded through
 * `publish`. An event the outbox holds that does not decode is a defect (only Till writes it).
 */
export const publishStored =
  (publisher: EventPublisher["Service"]) =>
  (events: ReadonlyArray<StoredEvent>): Effect.Effect<void, StoreUnavailable> =>
    publisher.publishStored !== undefined
      ? publisher.publishStored(events)
      : Effect.flatMap(Effect.orDie(Effect.forEach(events, fromStored)), publisher.publish)
