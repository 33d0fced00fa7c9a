/**
 * How a failed statement reaches a store's caller. A database that cannot answer now (no
 * connection, a connection lost or terminated mid-statement, a timeout, a deadlock, too many
 * connections) is `StoreUnavailable`: transient, worth a retry by the caller's policy. Anything
 * else (a constraint of the schema broken, a syntax error, a value that cannot be encoded) is a
 * bug in Till or a broken invariant, so a defect, never a failure a caller could paper over.
 */
import { Errors } from "@till/core"
import { Effect } from "effect"
import { isSqlError, type SqlError } from "effect/sql/SqlError"
import { PoolExhausted, PoolGate } from "../PoolGate.js"

const transient = new Set([
  "ConnectionError",
  "AuthenticationError",
  "DeadlockError",
  "SerializationError",
  "LockTimeoutError",
  "StatementTimeoutError",
  // Unclassified server errors: admin shutdown (57P01, pg_terminate_backend), crash recovery,
  // too many connections (53300), out of memory or disk.
  "UnknownError"
])

/** Whether a SqlError says the database cannot answer now (as opposed to a bug). */
export const isTransient = (error: SqlError): boolean => transient.has(error.reason._tag)

/** A statement of `store`: transient SqlErrors become StoreUnavailable, the others defects. */
export const orUnavailable =
  (store: string) =>
  <A, E, R>(
    self: Effect.Effect<A, E, R>
  ): Effect.Effect<A, Exclude<E, SqlError> | Errors.StoreUnavailable, R> =>
    Effect.catch(
      self,
      (error): Effect.Effect<never, Exclude<E, SqlError> | Errors.StoreUnavailable> =>
        !isSqlError(error)
          ? Effect.fail(error as Exclude<E, SqlError>)
          : isTransient(error)
            ? Effect.fail(new Errors.StoreUnavailable({ store, reason: error.message }))
            : Effect.die(error)
    )

/**
 * The statements of `store` on a permit of the pool's gate (PoolGate.ts), each answered as
 * `orUnavailable` does; an exhausted pool is `StoreUnavailable` too.
 */
export const gatedStatements = (store: string) =>
  Effect.map(
    PoolGate,
    (gate) =>
      <A, E, R>(
        self: Effect.Effect<A, E, R>
      ): Effect.Effect<A, Exclude<E, SqlError> | Errors.StoreUnavailable, R> =>
        Effect.catch(
          gate.guard(orUnavailable(store)(self)),
          (error): Effect.Effect<never, Exclude<E, SqlError> | Errors.StoreUnavailable> =>
            error instanceof PoolExhausted
              ? Effect.fail(new Errors.StoreUnavailable({ store, reason: error.message }))
              : Effect.fail(error)
        )
  )
