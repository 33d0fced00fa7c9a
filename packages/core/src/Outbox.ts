/**
 * The outbox relay: events committed with their state change are published in commit order,
 * then marked. A crash between publish and mark publishes a batch again, which is why
 * consumers dedupe by `event_id` (delivery is at least once, never lost).
 */
import { Effect, Schedule } from "effect"
import { EventPublisher } from "./EventPublisher.js"
import { OrderStore } from "./OrderStore.js"

/** Most events moved per batch. */
export const defaultBatchSize = 100

/** Publishes one batch; answers how many events it moved. */
export const relayOnce = Effect.fn("Outbox.relayOnce")(function* (batchSize: number = defaultBatchSize) {
  const orders = yield* OrderStore
  const publisher = yield* EventPublisher
  const batch = yield* orders.pendingEvents(batchSize)
  if (batch.length === 0) return 0
  yield* publisher.publish(batch)
  yield* orders.markPublished(batch.map((e) => e.event_id))
  return batch.length
})

/** Relays until the outbox is empty (bounded by `maxBatches`). */
export const drain = Effect.fn("Outbox.drain")(function* (
  maxBatches = 1_000,
  batchSize: number = defaultBatchSize
) {
  let moved = 0
  for (let i = 0; i < maxBatches; i++) {
    const n = yield* relayOnce(batchSize)
    moved += n
    if (n < batchSize) break
  }
  return moved
})

/** Relays on a schedule (default every 200 ms) until interrupted. */
export const runEvery = (interval: Schedule.Schedule<unknown> = Schedule.spaced("200 millis")) =>
  drain().pipe(
    Effect.catchCause((cause) => Effect.logWarning("outbox relay failed", cause)),
    Effect.repeat(interval),
    Effect.asVoid
  )
