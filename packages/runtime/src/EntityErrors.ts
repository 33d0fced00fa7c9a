/**
 * What the runtime's entities (CartEntity.ts, HotSkuEntity.ts) share: a call that the cluster
 * could not deliver or answer in time becomes `StoreUnavailable` of the store behind the entity
 * (a 503 with `Retry-After`, never a 500), and a defect restarts the entity after a backoff that
 * is counted.
 */
import { Errors } from "@till/core"
import { Duration, Effect, Metric, Schedule } from "effect"
import type {
  AlreadyProcessingMessage,
  EntityNotAssignedToRunner,
  MailboxFull,
  PersistenceError
} from "effect/cluster/ClusterError"

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
 * they are, the cluster's and a timeout as `StoreUnavailable` naming the call's `subject`.
 */
export const answering =
  <A, E extends { readonly _tag: string }>(store: string, timeoutMs: number) =>
  (
    subject: string,
    call: Effect.Effect<A, E | ClusterError>
  ): Effect.Effect<A, E | Errors.StoreUnavailable> =>
    call.pipe(
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
