/**
 * Housekeeping on Postgres (src/Housekeeping.ts): expired idempotency keys and events published
 * before the retention go, in batches until none is left; live keys, recent and unsent events stay.
 */
import { it } from "@effect/vitest"
import * as PostgresAdapters from "@till/adapters/postgres"
import { Effect } from "effect"
import { SqlClient } from "effect/sql"
import { expect } from "vitest"
import { onFreshSchema } from "../../adapters/test/support/postgres.js"
import * as Housekeeping from "../src/Housekeeping.js"
import { describeServices } from "./support/services.js"

const retentionMs = 60_000

await describeServices(["postgres"], "housekeeping on Postgres", () => {
  it.live(
    "deletes expired keys and events published before the retention, batch after batch; the rest stays",
    () =>
      Effect.gen(function* () {
        const sql = yield* SqlClient.SqlClient
        const now = Date.now()
        const key = (n: number, expiresAt: number) => sql`
          INSERT INTO idempotency_keys (scope, key, fingerprint, resource_id, state, token, locked_until, expires_at)
          VALUES ('user-1', ${`key-${n}`}, 'f', ${`ord-${n}`}, 'in_flight', ${n + 1}, 0, ${expiresAt})`
        // A sent event's time is `published_at`; an unsent one's claim `claimed_until`.
        const event = (n: number, published: boolean, at: number | null) => sql`
          INSERT INTO outbox (event_id, aggregate_id, type, event, published, published_at, claimed_until)
          VALUES (${`ev-${n}`}, 'ord-1', 'order.created', '{}'::jsonb, ${published},
                  ${published ? at : null}, ${published ? null : at})`
        // 7 of each to delete with batches of 3: three statements each, the last one short.
        for (let n = 0; n < 7; n++) yield* key(n, now - 1_000)
        for (let n = 7; n < 9; n++) yield* key(n, now + 3_600_000)
        for (let n = 0; n < 7; n++) yield* event(n, true, now - 2 * retentionMs)
        yield* event(7, true, now - retentionMs / 2) // published recently: kept for the retention
        yield* event(8, false, null) // never sent: never purged
        yield* event(9, false, now - 2 * retentionMs) // claimed long ago, still unsent
        const purged = yield* (yield* Housekeeping.Housekeeping).run
        expect(purged).toEqual({ idempotencyKeys: 7, outboxEvents: 7 })
        const keys = yield* sql<{ key: string }>`SELECT key FROM idempotency_keys ORDER BY key`
        expect(keys.map((k) => k.key)).toEqual(["key-7", "key-8"])
        const events = yield* sql<{ event_id: string }>`SELECT event_id FROM outbox ORDER BY seq`
        expect(events.map((e) => e.event_id)).toEqual(["ev-7", "ev-8", "ev-9"])
        expect(yield* (yield* Housekeeping.Housekeeping).run).toEqual({ idempotencyKeys: 0, outboxEvents: 0 })
      }).pipe(
        Effect.provide(
          onFreshSchema(
            Housekeeping.postgres(PostgresAdapters, { outboxRetentionMs: retentionMs, batchSize: 3 })
          ),
          { local: true }
        )
      )
  )
})
