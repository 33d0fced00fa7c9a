import { PgClient } from "@effect/sql-pg"
import { it } from "@effect/vitest"
import { Effect, Redacted } from "effect"
import { SqlClient } from "effect/sql"
import { expect } from "vitest"
import { describeService, serviceUrl } from "./support/services.js"

const PgLive = PgClient.layer({ url: Redacted.make(serviceUrl("postgres")), maxConnections: 2 })

await describeService("postgres", "Postgres (real server)", () => {
  it.effect("answers a query through @effect/sql-pg", () =>
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const rows = yield* sql<{
        answer: number
        db: string
      }>`select 41 + 1 as answer, current_database() as db`
      expect(rows).toEqual([{ answer: 42, db: new URL(serviceUrl("postgres")).pathname.slice(1) }])
    }).pipe(Effect.provide(PgLive))
  )
})
