/**
 * The outbox relay: events committed with their state change are held by one relay (so relays
 * on several instances do not publish the same batch), published in commit order, then marked,
 * all in one store call (`OrderStore.relayEvents`; on Postgres one transaction holding the rows'
 * locks). A crash between publish and mark publishes a batch again, which is why consumers
 * dedupe by `event_id` (at least once, never lost).
 * An order's later events are never claimed while an earlier one is claimed elsewhere, so each
 * order's events are published in order.
 */
import { Cause, Clock, Effect, Metric, Queue, Schedule, Stream } from "effect"
import { EventPublisher, publishStored } from "./EventPublisher.js"
import { storeCall } from "./internal/storeCall.js"
import { OrderStore } from "./OrderStore.js"
import { Resilience } from "./Resilience.js"

/** Most events moved per batch. */
export const defaultBatchSize = 100

/**
 * Longest a relay holds its batch: past a publish's worst case (the Kafka adapter bounds each
 * send by 10 s), so a live relay never loses its batch, and short enough that a batch held by a
 * hung relay (or, in memory, one whose publish failed) goes out again soon after.
 */
export const defaultLeaseMs = 20_000

/** Publishes one batch; answers how many events it moved. */
export const relayOnce = Effect.fn("Outbox.relayOnce")(function* (
  batchSize: number = defaultBatchSize,
  leaseMs: number = defaultLeaseMs
) {
  const orders = yield* OrderStore
  const publisher = yield* EventPublisher
  // One store call for the whole batch: the events are held while the publish runs and marked
  // when it succeeds (OrderStore.relayEvents). Not under the `store` policy: its timeout would cut
  // the publish, which the publisher bounds itself (the Kafka adapter's send timeout, 10 s), and
  // the lease bounds the hold. A failed batch marks nothing and goes out again with the next.
  return yield* orders.relayEvents(
    yield* Clock.currentTimeMillis,
    batchSize,
    leaseMs,
    publishStored(publisher)
  )
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

export const lagGauge = Metric.gauge("till_outbox_lag_ms", {
  description: "Age of the oldest unpublished outbox event, ms (0: all published)"
})

/** Reads the outbox's lag and publishes it as `till_outbox_lag_ms`; answers it (ms). */
export const reportLag = Effect.fn("Outbox.reportLag")(function* () {
  const orders = yield* OrderStore
  const call = storeCall(yield* Resilience, "outbox")
  const lagMs = yield* call("retry", orders.outboxLagMs(yield* Clock.currentTimeMillis))
  yield* Metric.update(lagGauge, lagMs)
  return lagMs
})

/** Longest a woken relay sleeps without a wake-up before it looks anyway. */
export const defaultMaxIdleMs = 1_000

/** While events keep coming, how often a relay looks again without being woken. */
export const defaultBusyPollMs = 20

/** How long after the last event it moved a relay keeps looking every `busyPollMs`. */
export const defaultBusyForMs = 500

/**
 * Least time between two lag reports of a woken relay: a busy relay looks every 20 ms, and a
 * lag read each time was 50 queries a second for a gauge scraped every few seconds.
 */
export const defaultLagEveryMs = 1_000

/**
 * The relay of a running service, until interrupted: while idle it drains when `wakeups` emits
 * (Postgres `LISTEN/NOTIFY`: `PostgresOutbox.wakeups`) and at least every `maxIdleMs`; while events
 * keep coming (for `busyForMs` after the last one it moved) every `busyPollMs`, whatever wakes it;
 * reports the lag after a round, at most every `lagEveryMs`. A round drains until a claim comes
 * back short of a full batch.
 *
 * Why it polls while busy: wake-ups only come from statements that find the outbox idle (a
 * notifying commit takes a server-wide lock, see the Postgres adapter's migration 12), and a
 * statement that saw the relay's batch still unsent may commit just after the relay's last
 * claim. A look every 20 ms while events flow picks it up; an idle relay costs one claim a second.
 * Wake-ups that fail (the listening connection lost) are logged and resumed every second.
 */
export const runWhenWoken = <R>(
  wakeups: Stream.Stream<unknown, unknown, R>,
  options: {
    readonly maxIdleMs?: number
    readonly busyPollMs?: number
    readonly busyForMs?: number
    readonly lagEveryMs?: number
    readonly batchSize?: number
  } = {}
) =>
  Effect.scoped(
    Effect.gen(function* () {
      const maxIdleMs = options.maxIdleMs ?? defaultMaxIdleMs
      const busyPollMs = options.busyPollMs ?? defaultBusyPollMs
      const busyForMs = options.busyForMs ?? defaultBusyForMs
      const lagEveryMs = options.lagEveryMs ?? defaultLagEveryMs
      // Wake-ups coalesce: one pending is enough, the round drains everything.
      const woken = yield* Queue.sliding<void>(1)
      yield* Effect.forkScoped(
        Stream.runForEach(wakeups, () => Queue.offer(woken, undefined)).pipe(
          Effect.catchCauseIf(
            (cause) => !Cause.hasInterruptsOnly(cause),
            (cause) => Effect.logWarning("outbox wake-ups failed; polling until they resume", cause)
          ),
          Effect.repeat(Schedule.spaced("1 second"))
        )
      )
      // One drain (full batches until a short one): what commits during it is taken by the look
      // `busyPollMs` later (the round moved events, so the relay is busy), not by another claim.
      const round = drain(1_000, options.batchSize).pipe(
        Effect.catchCauseIf(
          (cause) => !Cause.hasInterruptsOnly(cause),
          (cause) => Effect.as(Effect.logWarning("outbox relay failed", cause), 0)
        )
      )
      let lastMovedAt = Number.NEGATIVE_INFINITY
      let lastLagAt = Number.NEGATIVE_INFINITY
      while (true) {
        const moved = yield* round
        const now = yield* Clock.currentTimeMillis
        if (moved > 0) lastMovedAt = now
        if (now - lastLagAt >= lagEveryMs) {
          yield* Effect.ignore(reportLag())
          lastLagAt = now
        }
        if (now - lastMovedAt < busyForMs) {
          // Busy: a wake-up does not cut the wait short, and one pending is dropped (the next
          // round drains its events). A commit that finds the outbox drained notifies, so under
          // load nearly every commit woke the relay, and a round per commit cost more statements
          // than the commits themselves (+3 Postgres transactions a checkout at 50/s).
          yield* Effect.sleep(busyPollMs)
          yield* Queue.clear(woken)
        } else yield* Effect.timeoutOption(Queue.take(woken), maxIdleMs)
      }
    })
  )
