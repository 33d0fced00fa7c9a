/**
 * `/health/live`, `/health/ready` and `/metrics`. Readiness asks each configured service (the
 * checks the runtime registers: Postgres, Redis, Kafka) with a timeout of its own, so a hung
 * dependency makes the instance unready within a second instead of hanging the probe. With no
 * service configured (the embedded default) the instance is ready as soon as it serves.
 */
import { Context, Duration, Effect, Layer } from "effect"
import { PrometheusMetrics } from "effect/observability"

export type Status = "ok" | "unavailable"

export interface Report {
  readonly status: Status
  readonly checks: Readonly<Record<string, Status>>
}

/** A dependency's probe: succeeds when it answers. */
export interface Check {
  readonly name: string
  readonly probe: Effect.Effect<unknown, unknown>
}

export class Health extends Context.Service<
  Health,
  {
    readonly ready: Effect.Effect<Report>
    /** Every Effect `Metric` of the process, in Prometheus text format. */
    readonly metrics: Effect.Effect<string>
  }
>()("@till/runtime/Health") {}

const probeTimeout = Duration.seconds(1)

const run = (check: Check): Effect.Effect<readonly [string, Status]> =>
  check.probe.pipe(
    Effect.timeout(probeTimeout),
    Effect.as("ok" as const),
    Effect.catchCause(() => Effect.succeed("unavailable" as const)),
    Effect.map((status) => [check.name, status] as const)
  )

export const make = (checks: ReadonlyArray<Check>): Health["Service"] => ({
  ready: Effect.map(Effect.forEach(checks, run, { concurrency: "unbounded" }), (results) => ({
    status: results.every(([, s]) => s === "ok") ? "ok" : "unavailable",
    checks: Object.fromEntries(results)
  })),
  metrics: PrometheusMetrics.format()
})

export const layer = (checks: ReadonlyArray<Check>): Layer.Layer<Health> =>
  Layer.succeed(Health, make(checks))
