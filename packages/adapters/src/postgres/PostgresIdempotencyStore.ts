/**
 * The IdempotencyStore port on Postgres (IdempotencyStore.ts): one row per (scope, key).
 *
 * A claim is one statement, an insert-or-take-over that mints its fencing token from the
 * `idempotency_tokens` sequence: the insert takes a free key; `ON CONFLICT ... DO UPDATE ...
 * WHERE` takes an existing row over only when it expired (then it is a new record: the key
 * counts as absent) or when its lease ran out in flight under the same fingerprint (then it keeps
 * the first resource id). Postgres locks the conflicting row and judges the WHERE on its latest
 * committed version, so of any number of concurrent claims exactly one takes the key. When
 * nothing was taken a second statement reads the row to answer Completed, InFlight or Mismatch
 * (a read in the claim's own statement would use its snapshot, older than the row it
 * conflicted with).
 *
 * Times are the caller's: a claim is judged by its `nowMs`; `complete` and `abandon`, which the
 * port gives no time, read Effect's `Clock` (as the in-memory store does), never the database's.
 * `complete` and `abandon` act only with the key's current token on an in-flight, unexpired row
 * (one conditional UPDATE each); anything else is `"stale"` and writes nothing.
 *
 * Nothing of a request or its answer sits in the clear: the fingerprint is stored as its SHA-256
 * digest (equal requests, equal digests) and the answer sealed with AES-256-GCM (PaymentCipher.ts),
 * since both can name a payment method's token or an address.
 */
import { type Errors, IdempotencyStore } from "@till/core"
import { createHash } from "node:crypto"
import { Clock, Effect, Layer } from "effect"
import { SqlClient } from "effect/sql"
import * as PaymentCipher from "./PaymentCipher.js"
import type * as PgLayer from "./PgLayer.js"
import { purge } from "./internal/purge.js"
import { answerRow } from "./internal/sealedRows.js"
import { gatedStatements } from "./internal/sqlErrors.js"

/** How often a claim that lost a race to a state change (an abandon, an expiry) tries again. */
export const maxClaimAttempts = 3

interface RecordRow {
  readonly scope: string
  readonly key: string
  readonly fingerprint: string
  readonly resource_id: string
  readonly state: "in_flight" | "completed"
  readonly outcome: unknown
  readonly outcome_key_id: string | null
  readonly outcome_sealed: Uint8Array | null
  readonly token: bigint
  readonly locked_until: bigint
  readonly expires_at: bigint
}

/**
 * What the `fingerprint` column holds: a digest of the request's fingerprint (the canonical
 * request, which may name a payment method or an address), never the request itself.
 */
const digest = (fingerprint: string): string =>
  createHash("sha256").update(fingerprint, "utf8").digest("base64url")

const requireTimes = (request: IdempotencyStore.ClaimRequest): Effect.Effect<void> =>
  [request.nowMs, request.leaseMs, request.ttlMs].every(Number.isSafeInteger)
    ? Effect.void
    : Effect.die(
        new Error(
          `idempotency claim: nowMs, leaseMs and ttlMs must be integers (milliseconds), got ${request.nowMs}, ${request.leaseMs}, ${request.ttlMs}`
        )
      )

/** The store over the pool in context. */
export const make: Effect.Effect<
  IdempotencyStore.IdempotencyStore["Service"],
  never,
  PgLayer.Client | PaymentCipher.PaymentCipher
> = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  const unavailable = yield* gatedStatements("idempotency")
  const cipher = yield* PaymentCipher.PaymentCipher

  /** The record of a row that matched `fingerprint` (stored as its digest), its answer opened. */
  const toRecord = (row: RecordRow, fingerprint: string): Effect.Effect<IdempotencyStore.IdempotencyRecord> =>
    Effect.map(
      row.state !== "completed"
        ? Effect.succeed(undefined)
        : row.outcome_key_id === null || row.outcome_sealed === null
          ? Effect.succeed(row.outcome) // stored before answers were sealed (migration 11)
          : Effect.map(
              cipher.open(
                { keyId: row.outcome_key_id, sealed: row.outcome_sealed },
                answerRow(row.scope, row.key)
              ),
              (json): unknown => JSON.parse(json)
            ),
      (outcome) => ({
        scope: row.scope,
        key: row.key,
        fingerprint,
        resourceId: row.resource_id,
        state: row.state,
        outcome,
        token: Number(row.token),
        lockedUntil: Number(row.locked_until),
        expiresAt: Number(row.expires_at)
      })
    )

  /** The claim's one statement: the row it took (inserted or taken over), or none. */
  const take = (request: IdempotencyStore.ClaimRequest) => {
    const now = request.nowMs
    return sql<RecordRow>`
      INSERT INTO idempotency_keys AS k
        (scope, key, fingerprint, resource_id, state, outcome, token, locked_until, expires_at)
      VALUES (${request.scope}::text, ${request.key}::text, ${digest(request.fingerprint)}::text,
              ${request.resourceId}::text, 'in_flight', NULL, nextval('idempotency_tokens'),
              ${now + request.leaseMs}::bigint, ${now + request.ttlMs}::bigint)
      ON CONFLICT (scope, key) DO UPDATE SET
        fingerprint = excluded.fingerprint,
        resource_id = CASE WHEN k.expires_at <= ${now}::bigint THEN excluded.resource_id ELSE k.resource_id END,
        state = 'in_flight',
        outcome = NULL,
        outcome_key_id = NULL,
        outcome_sealed = NULL,
        token = excluded.token,
        locked_until = excluded.locked_until,
        expires_at = CASE WHEN k.expires_at <= ${now}::bigint THEN excluded.expires_at
                          ELSE greatest(k.expires_at, excluded.expires_at) END
      WHERE k.expires_at <= ${now}::bigint
         OR (k.state = 'in_flight' AND k.locked_until <= ${now}::bigint AND k.fingerprint = excluded.fingerprint)
      RETURNING k.scope, k.key, k.fingerprint, k.resource_id, k.state, k.outcome, k.outcome_key_id,
                k.outcome_sealed, k.token, k.locked_until, k.expires_at`
  }

  /** Why nothing was taken, from the row as it stands now; `undefined` when it changed under us. */
  const refusal = (request: IdempotencyStore.ClaimRequest) =>
    Effect.flatMap(
      sql<RecordRow>`
        SELECT scope, key, fingerprint, resource_id, state, outcome, outcome_key_id, outcome_sealed, token,
               locked_until, expires_at
        FROM idempotency_keys WHERE scope = ${request.scope}::text AND key = ${request.key}::text`,
      (rows): Effect.Effect<IdempotencyStore.ClaimResult | undefined> => {
        const row = rows[0]
        if (row === undefined || Number(row.expires_at) <= request.nowMs) return Effect.succeed(undefined)
        if (row.fingerprint !== digest(request.fingerprint)) return Effect.succeed({ _tag: "Mismatch" })
        if (row.state === "completed")
          return Effect.map(toRecord(row, request.fingerprint), (record) => ({ _tag: "Completed", record }))
        if (Number(row.locked_until) > request.nowMs) return Effect.succeed({ _tag: "InFlight" })
        return Effect.succeed(undefined)
      }
    )

  const claim = Effect.fn("PostgresIdempotencyStore.claim")(function* (
    request: IdempotencyStore.ClaimRequest
  ) {
    yield* requireTimes(request)
    for (let attempt = 1; attempt <= maxClaimAttempts; attempt++) {
      const taken = (yield* unavailable(take(request)))[0]
      if (taken !== undefined)
        return { _tag: "Claimed", record: yield* toRecord(taken, request.fingerprint) } as const
      const answer = yield* unavailable(refusal(request))
      if (answer !== undefined) return answer
    }
    // The row kept changing between the claim and the read (abandoned, expired, purged): someone
    // else is working on the key right now, so the honest answer is that it is in flight.
    return { _tag: "InFlight" } as const
  })

  const complete = Effect.fn("PostgresIdempotencyStore.complete")(function* (
    scope: string,
    key: string,
    token: number,
    outcome: unknown
  ) {
    const now = yield* Clock.currentTimeMillis
    const sealed = cipher.seal(JSON.stringify(outcome ?? null), answerRow(scope, key))
    const rows = yield* unavailable(sql`
      UPDATE idempotency_keys
      SET state = 'completed', outcome = NULL, outcome_key_id = ${sealed.keyId}::text,
          outcome_sealed = ${sealed.sealed}::bytea
      WHERE scope = ${scope}::text AND key = ${key}::text AND token = ${token}::bigint
        AND state = 'in_flight' AND expires_at > ${now}::bigint
      RETURNING 1`)
    return rows.length === 0 ? "stale" : "completed"
  })

  const abandon = Effect.fn("PostgresIdempotencyStore.abandon")(function* (
    scope: string,
    key: string,
    token: number
  ) {
    const now = yield* Clock.currentTimeMillis
    // Lapsed at any time: the next claim takes over, whatever its `nowMs`.
    const rows = yield* unavailable(sql`
      UPDATE idempotency_keys SET locked_until = 0
      WHERE scope = ${scope}::text AND key = ${key}::text AND token = ${token}::bigint
        AND state = 'in_flight' AND expires_at > ${now}::bigint
      RETURNING 1`)
    return rows.length === 0 ? "stale" : "abandoned"
  })

  return IdempotencyStore.IdempotencyStore.of({
    claim: (request) => claim(request),
    complete: (scope, key, token, outcome) => complete(scope, key, token, outcome),
    abandon: (scope, key, token) => abandon(scope, key, token)
  })
})

/**
 * Deletes up to `limit` records expired at `nowMs` and answers how many went. Expired records
 * already count as absent; this only keeps the table from growing, e.g. from an hourly job.
 * @example yield* PostgresIdempotencyStore.purgeExpired(Date.now(), 10_000)
 */
export const purgeExpired = (
  nowMs: number,
  limit: number
): Effect.Effect<number, Errors.StoreUnavailable, PgLayer.Client> =>
  Effect.withSpan(
    purge(
      "idempotency",
      limit,
      (sql, size) => sql`
        DELETE FROM idempotency_keys k
        USING (SELECT scope, key FROM idempotency_keys WHERE expires_at <= ${Math.floor(nowMs)}::bigint
               LIMIT ${size} FOR UPDATE SKIP LOCKED) gone
        WHERE k.scope = gone.scope AND k.key = gone.key AND k.expires_at <= ${Math.floor(nowMs)}::bigint
        RETURNING 1`
    ),
    "PostgresIdempotencyStore.purgeExpired"
  )

/**
 * IdempotencyStore on the pool of `PgLayer` (migrated with `Migrations.migrate`).
 * @category layers
 */
export const layer: Layer.Layer<
  IdempotencyStore.IdempotencyStore,
  never,
  PgLayer.Client | PaymentCipher.PaymentCipher
> = Layer.effect(IdempotencyStore.IdempotencyStore, make)
