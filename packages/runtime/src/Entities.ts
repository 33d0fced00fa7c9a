/**
 * What the runtime's entities (CartEntity.ts, OrderEntity.ts, HotSkuEntity.ts) share:
 * - a call that the cluster could not deliver or answer in time becomes `StoreUnavailable` of the
 *   store behind the entity (a 503 with `Retry-After`, never a 500);
 * - a defect restarts the entity after a backoff that is counted;
 * - neither the cluster, nor an entity type's registration, nor a call to an entity carries the
 *   runtime's services (`withoutTill`): a live entity keeps what they carry.
 */
import { Errors } from "@till/core"
import { Context, Duration, Effect, Layer, Metric, Schedule, Scope } from "effect"
import type { Sharding } from "effect/cluster"
import type {
  AlreadyProcessingMessage,
  EntityNotAssignedToRunner,
  MailboxFull,
  PersistenceError
} from "effect/cluster/ClusterError"

/** How an entity behaves: its idle passivation, its mailbox and a call's longest wait. */
export interface Settings {
  readonly maxIdleMs: number
  readonly mailboxCapacity: number
  readonly callTimeoutMs: number
}

export type ClusterError =
  | MailboxFull
  | AlreadyProcessingMessage
  | PersistenceError
  | EntityNotAssignedToRunner

/** Why the cluster could not take a call, by its error. */
const reasons: { readonly [Tag in ClusterError["_tag"]]: string } = {
  MailboxFull: "too many calls waiting",
  AlreadyProcessingMessage: "a call is already in progress",
  PersistenceError: "the cluster's storage failed",
  EntityNotAssignedToRunner: "its shard is moving"
}

const unavailable = (store: string, subject: string, reason: string) =>
  new Errors.StoreUnavailable({ store, reason: `${subject}: ${reason}` })

/**
 * A call to an entity in front of `store`, answered within `timeoutMs`: the entity's own errors as
 * they are, the cluster's and a timeout as `StoreUnavailable` naming the call's `subject`. The call
 * carries its caller's context `withoutTill` (a woken entity keeps it).
 */
export const answering =
  <A, E extends { readonly _tag: string }>(store: string, timeoutMs: number) =>
  (
    subject: string,
    call: Effect.Effect<A, E | ClusterError>
  ): Effect.Effect<A, E | Errors.StoreUnavailable> =>
    Effect.contextWith((context: Context.Context<never>) =>
      Effect.setContext(call, withoutTill(context))
    ).pipe(
      Effect.mapError((error) =>
        error._tag in reasons
          ? unavailable(store, subject, reasons[error._tag as ClusterError["_tag"]])
          : (error as E)
      ),
      Effect.timeoutOrElse({
        duration: Duration.millis(timeoutMs),
        orElse: () => Effect.fail(unavailable(store, subject, `no answer within ${timeoutMs} ms`))
      })
    )

export const restarts = Metric.counter("till_entity_restarts_total", {
  description: "Entities restarted after a defect (their handlers rebuilt), by entity type"
})

/**
 * How an entity of `entityType` comes back after a defect: 100 ms, doubling up to 10 s, each
 * restart counted in `till_entity_restarts_total{entity}`.
 */
export const restartSchedule = (entityType: string) => {
  const counted = Metric.withAttributes(restarts, { entity: entityType })
  return Schedule.exponential(Duration.millis(100)).pipe(
    Schedule.modifyDelay(({ duration }) => Effect.succeed(Duration.min(duration, Duration.seconds(10)))),
    Schedule.tap(() => Metric.update(counted, 1))
  )
}

/**
 * `context` without the runtime's own services (keys `@till/...`); Effect's own references
 * (logger, config provider, tracer, the request's span and log annotations) stay.
 *
 * Why: the cluster derives each live entity's context from three: the one its `Sharding` was
 * built in, the one its entity type was registered in, and the one of the call that woke it; and
 * it copies that context once the entity has looked up enough services. With the runtime's ~40
 * services in them, every live cart entity held such a copy: 2.8 KB over a bare entity
 * (bench/actors, heap snapshots). Handlers close over the services they use instead.
 */
const withoutTill = <R>(context: Context.Context<R>): Context.Context<R> =>
  Context.makeUnsafe<R>(new Map([...context.mapUnsafe].filter(([key]) => !key.startsWith("@till/"))))

/** `layer` built in its context `withoutTill` (the cluster: Cluster.ts; entity types: `registered`). */
export const withoutTillServices = <A, E, R>(layer: Layer.Layer<A, E, R>): Layer.Layer<A, E, R> =>
  Layer.effectContext(
    Effect.gen(function* () {
      const context = yield* Effect.context<R>()
      return yield* Layer.buildWithScope(layer, yield* Scope.Scope).pipe(
        Effect.setContext(withoutTill(context))
      )
    })
  )

/** `entity` (an `Entity.toLayer`) registered `withoutTillServices`. */
export const registered = <E>(entity: Layer.Layer<never, E, Sharding.Sharding>) => withoutTillServices(entity)

/**
 * The cluster's options for an entity of `entityType` with `settings`: passivated after
 * `maxIdleMs`, its mailbox bounded, restarted after a defect by `restartSchedule`.
 */
export const options = (entityType: string, settings: Settings) => ({
  maxIdleTime: Duration.millis(settings.maxIdleMs),
  mailboxCapacity: settings.mailboxCapacity,
  defectRetryPolicy: restartSchedule(entityType)
})
