/**
 * Housekeeping of the Postgres tables that only ever grow: idempotency keys past their expiry
 * (already absent to every claim), and outbox events an older Till marked published and kept,
 * once older than `TILL_OUTBOX_RETENTION_MS` (a day by default; today the relay deletes a sent
 * event as it sends it). Unsent events are never touched.
 *
 * Each `run` deletes in batches (`batchSize` rows a statement, locked `SKIP LOCKED`, so it never
 * waits on live traffic) until a batch comes back short. Run by the `till/housekeeping` singleton
 * (Jobs.ts). The in-memory stores keep themselves bounded, so embedded it does nothing.
 */
import type * as PostgresAdapters from "@till/adapters/postgres"
import type { Errors } from "@till/core"
import { Clock, Context, Effect, Layer } from "effect"

export interface Purged {
  readonly idempotencyKeys: number
  readonly outboxEvents: number
}

export class Housekeeping extends Context.Service<
  Housekeeping,
  { readonly run: Effect.Effect<Purged, Errors.StoreUnavailable> }
>()("@till/runtime/Housekeeping") {}

/** Rows one statement deletes: small enough to hold its locks for milliseconds. */
export const defaultBatchSize = 5_000

/** Embedded: nothing to purge. */
export const none: Layer.Layer<Housekeeping> = Layer.succeed(Housekeeping, {
  run: Effect.succeed({ idempotencyKeys: 0, outboxEvents: 0 })
})

/** Calls `purgeBatch` until it deletes fewer than `batchSize` rows; answers the total. */
const untilShort = <E, R>(
  purgeBatch: Effect.Effect<number, E, R>,
  batchSize: number
): Effect.Effect<number, E, R> =>
  Effect.gen(function* () {
    let total = 0
    for (;;) {
      const gone = yield* purgeBatch
      total += gone
      if (gone < batchSize) return total
    }
  })

/** On the Postgres stores (the pool in context). */
export const postgres = (
  pg: typeof PostgresAdapters,
  options: { readonly outboxRetentionMs: number; readonly batchSize?: number }
): Layer.Layer<Housekeeping, never, PostgresAdapters.PgLayer.Client> =>
  Layer.effect(
    Housekeeping,
    Effect.gen(function* () {
      const context = yield* Effect.context<PostgresAdapters.PgLayer.Client>()
      const batchSize = options.batchSize ?? defaultBatchSize
      const run = Effect.gen(function* () {
        const now = yield* Clock.currentTimeMillis
        const idempotencyKeys = yield* untilShort(
          pg.PostgresIdempotencyStore.purgeExpired(now, batchSize),
          batchSize
        )
        const outboxEvents = yield* untilShort(
          pg.PostgresOrderStore.purgePublished(now - options.outboxRetentionMs, batchSize),
          batchSize
        )
        return { idempotencyKeys, outboxEvents }
      }).pipe(Effect.provideContext(context), Effect.withSpan("Housekeeping.run"))
      return { run }
    })
  )
