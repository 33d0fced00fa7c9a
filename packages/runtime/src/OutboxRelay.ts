/**
 * The outbox relay `till start` runs as its `till/outbox-relay` singleton (Jobs.ts). On Postgres it
 * is woken by the commit that adds events (`LISTEN/NOTIFY`, `PostgresOutbox.wakeups`), looks
 * every 100 ms while events flow and at least once a second when idle
 * (`Outbox.runWhenWoken`), so an order's events reach Kafka within a round trip or two of its
 * commit instead of at the next poll. Embedded there is no one to notify it: it polls every 200 ms
 * (`Till.jobDefaults.outboxEveryMs`), as the in-memory stores' relay always did.
 */
import type * as PostgresAdapters from "@till/adapters/postgres"
import { type EventPublisher, type OrderStore, Outbox, type Resilience, Till } from "@till/core"
import { Context, Effect, Layer, Schedule, Stream } from "effect"

export class OutboxRelay extends Context.Service<
  OutboxRelay,
  {
    readonly run: Effect.Effect<
      void,
      never,
      OrderStore.OrderStore | EventPublisher.EventPublisher | Resilience.Resilience
    >
  }
>()("@till/runtime/OutboxRelay") {}

/** Embedded: drains every `everyMs` (default 200 ms). */
export const polling = (everyMs: number = Till.jobDefaults.outboxEveryMs): Layer.Layer<OutboxRelay> =>
  Layer.succeed(OutboxRelay, { run: Outbox.runEvery(Schedule.spaced(everyMs)) })

/**
 * While events flow, how often the relay of `till start` looks: the batches of 100 ms (lag under
 * load about that) instead of core's 20 ms, whose 50 claims a second added two Postgres
 * transactions a checkout at 50 checkouts/s in `pnpm bench:e2e` and raised its checkout p50.
 */
export const defaultBusyPollMs = 100

/** On Postgres (the pool in context): woken by the commits that add events. */
export const postgres = (
  pg: typeof PostgresAdapters,
  options: Parameters<typeof Outbox.runWhenWoken>[1] = { busyPollMs: defaultBusyPollMs }
): Layer.Layer<OutboxRelay, never, PostgresAdapters.PgLayer.Client> =>
  Layer.effect(
    OutboxRelay,
    Effect.map(Effect.context<PostgresAdapters.PgLayer.Client>(), (context) => ({
      // Its rounds and wake-ups log their failures and go on: it ends only when interrupted.
      run: Effect.orDie(
        Outbox.runWhenWoken(Stream.provideContext(pg.PostgresOutbox.wakeups, context), options)
      )
    }))
  )
