/**
 * The background jobs as cluster singletons (`effect/cluster` `Singleton`): whatever the number of
 * instances, one runs each job, and when it stops or dies another takes the job over (Cluster.ts).
 *
 * | singleton | job (core) | every |
 * |---|---|---|
 * | `till/payment-retry-drainer` | RetryDrainer: completes 202 payments once the gateway is back | its poll (1 s) |
 * | `till/recovery-sweeper` | Recovery: drives orders a crash left behind, expires holds | `TILL_RECOVERY_EVERY_MS` |
 * | `till/outbox-relay` | Outbox: publishes committed events | 200 ms |
 * | `till/cart-abandonment` | Abandonment: `cart.abandoned` for carts idle past `TILL_ABANDONED_AFTER_MS` | `TILL_ABANDONMENT_EVERY_MS` |
 * | `till/payment-reconciliation` | Reconciliation: each capture the gateway made checked against its order; strays refunded | `TILL_RECONCILIATION_EVERY_MS` |
 * | `till/housekeeping` | Housekeeping (this package): expired idempotency keys and old published events deleted (Postgres) | `TILL_HOUSEKEEPING_EVERY_MS` |
 *
 * The relay polls, on Postgres too, rather than waking on the commits' `LISTEN/NOTIFY`
 * (`Outbox.runWhenWoken` with the adapters' `PostgresOutbox.wakeups`, which the Kafka bench uses).
 * Measured in same-run `pnpm bench:e2e` smoke runs at 50 checkouts/s (2026-12-02): woken, with
 * 200 ms looks while busy, checkout p99 68-122 ms against 46-57 polling (three runs each); with
 * 100 ms looks 54-66 against 40-56 (five each); saturation unchanged. Checkout latency is what
 * shoppers feel; an event up to 200 ms later (shipment, confirmation) is not.
 *
 * Single ownership is for efficiency only, never for correctness: every job works through claims,
 * leases and compare-and-set steps, so two owners during a rebalance (a shard moving while its old
 * owner still runs) do nothing twice that a consumer would see twice (core's Till.ts says so of
 * each job).
 */
import { Till } from "@till/core"
import { Effect, Layer, Schedule } from "effect"
import { type Sharding, Singleton } from "effect/cluster"
import { Housekeeping } from "./Housekeeping.js"
import type { Settings } from "./Settings.js"

/** The singletons' names, by job. */
export const names = {
  retryDrainer: "till/payment-retry-drainer",
  recovery: "till/recovery-sweeper",
  outboxRelay: "till/outbox-relay",
  abandonment: "till/cart-abandonment",
  reconciliation: "till/payment-reconciliation",
  housekeeping: "till/housekeeping"
} as const

/** The jobs of `settings`, each registered as a singleton of the cluster in context. */
export const layer = (
  settings: Settings
): Layer.Layer<never, never, Sharding.Sharding | Till.JobRequirements | Housekeeping> => {
  const jobs: Record<keyof typeof names, Effect.Effect<void, never, Till.JobRequirements | Housekeeping>> = {
    ...Till.jobs({
      recoveryEveryMs: settings.recoveryEveryMs,
      recovery: { staleAfterMs: settings.recoveryStaleAfterMs },
      abandonment: { everyMs: settings.abandonmentEveryMs, idleForMs: settings.abandonedAfterMs },
      reconciliationEveryMs: settings.reconciliationEveryMs
    }),
    housekeeping: housekeeping(settings.housekeepingEveryMs)
  }
  const singleton = (job: keyof typeof names) =>
    Singleton.make(
      names[job],
      Effect.logInfo("job started on this instance", { job: names[job] }).pipe(
        Effect.andThen(jobs[job]),
        // A shard moving (an instance joining or leaving) stops the job here to start it there.
        Effect.onInterrupt(() => Effect.logInfo("job stopped on this instance", { job: names[job] }))
      )
    )
  return Layer.mergeAll(
    singleton("retryDrainer"),
    singleton("recovery"),
    singleton("outboxRelay"),
    singleton("abandonment"),
    singleton("reconciliation"),
    singleton("housekeeping")
  )
}

/** A housekeeping run every `everyMs`, the first one right away; a failed run waits for the next. */
const housekeeping = (everyMs: number) =>
  Effect.flatMap(Housekeeping, ({ run }) =>
    run.pipe(
      Effect.tap((purged) =>
        purged.idempotencyKeys + purged.outboxEvents > 0
          ? Effect.logInfo("housekeeping: rows deleted", purged)
          : Effect.void
      ),
      Effect.catchTag("StoreUnavailable", (error) =>
        Effect.logWarning("housekeeping failed; next run later", error)
      ),
      Effect.repeat(Schedule.spaced(everyMs)),
      Effect.asVoid
    )
  )
