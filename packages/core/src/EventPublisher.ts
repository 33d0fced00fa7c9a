/** Port: where outbox events go (Kafka in production). Delivery is at least once. */
import { Context, type Effect } from "effect"
import type { StoreUnavailable } from "./Errors.js"
import type { Event } from "./Event.js"

export class EventPublisher extends Context.Service<
  EventPublisher,
  { readonly publish: (events: ReadonlyArray<Event>) => Effect.Effect<void, StoreUnavailable> }
>()("@till/core/EventPublisher") {}
