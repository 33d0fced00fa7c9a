/**
 * The outbox's wake-ups: every statement that adds events notifies the schema's channel
 * (migration 12), and `wakeups` is that channel as a stream, for core's `Outbox.runWhenWoken`. A
 * relay then starts within a round trip of the commit instead of at its next poll. The listener
 * holds one connection of the pool for as long as the stream runs (outside `PoolGate`'s count).
 *
 * @example
 * yield* Outbox.runWhenWoken(PostgresOutbox.wakeups) // with OrderStore, EventPublisher, Resilience and PgClient
 */
import { PgClient } from "@effect/sql-pg"
import { Effect, Stream } from "effect"
import { SqlClient } from "effect/sql"
import type { SqlError } from "effect/sql/SqlError"

/** The channel migration 12's trigger notifies for the outbox of the pool's schema. */
export const channel: Effect.Effect<string, SqlError, SqlClient.SqlClient> = Effect.flatMap(
  SqlClient.SqlClient,
  (sql) =>
    Effect.map(
      sql<{ channel: string }>`SELECT 'till_outbox_' || md5(current_schema()) AS channel`,
      (rows) => rows[0]!.channel
    )
)

/** One element per notification on the schema's channel, until the listening connection fails. */
export const wakeups: Stream.Stream<void, SqlError, PgClient.PgClient | SqlClient.SqlClient> = Stream.unwrap(
  Effect.gen(function* () {
    const pg = yield* PgClient.PgClient
    const notifications = yield* pg.listen(yield* channel)
    return Stream.map(Stream.fromQueue(notifications), () => undefined)
  })
)
