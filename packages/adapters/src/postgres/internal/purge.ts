/**
 * The housekeeping deletes (expired idempotency keys, published outbox events): a batch at a
 * time, its rows locked `FOR UPDATE SKIP LOCKED` by the statement, so a purge never waits on (or
 * blocks) live traffic and two purges never delete the same rows.
 */
import type { Errors } from "@till/core"
import { Effect } from "effect"
import { SqlClient } from "effect/sql"
import type { Statement } from "effect/sql/Statement"
import type { PoolGate } from "../PoolGate.js"
import { gatedStatements } from "./sqlErrors.js"

/** Most rows one purge call deletes, whatever the caller asks for. */
export const maxBatch = 100_000

/**
 * Runs the `DELETE … RETURNING 1` that `statement` builds for a batch of `size` rows (the
 * caller's `limit`, clamped to `[0, maxBatch]`); answers how many rows went.
 */
export const purge = (
  store: string,
  limit: number,
  statement: (sql: SqlClient.SqlClient, size: number) => Statement<unknown>
): Effect.Effect<number, Errors.StoreUnavailable, SqlClient.SqlClient | PoolGate> =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const unavailable = yield* gatedStatements(store)
    const size = Number.isFinite(limit) ? Math.max(0, Math.min(maxBatch, Math.floor(limit))) : 0
    if (size === 0) return 0
    return (yield* unavailable(statement(sql, size))).length
  })
