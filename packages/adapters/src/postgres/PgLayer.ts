/**
 * The Postgres connection pool Till's stores run on: `@effect/sql-pg`'s `PgClient` (its own
 * wire-protocol driver, prepared statements by default) with the seed's HikariCP-style settings.
 *
 * Every session is pinned to READ COMMITTED (the stores' conditional UPDATEs and row locks are
 * written for it: no SERIALIZABLE retry storms on hot SKUs) and carries a `statement_timeout`, so
 * a statement stuck on a lock or a runaway plan ends on the server instead of holding a
 * connection of the pool. `schema` puts Till's tables in a schema of their own (`search_path`).
 *
 * @example
 * const pg = PgLayer.layerWith({ url: Redacted.make("postgres://till@db:5432/till") })
 */
import { PgClient } from "@effect/sql-pg"
import { Config as EffectConfig, Effect, Layer, Redacted, Schedule, Schema } from "effect"
import type { SqlClient } from "effect/sql"
import type { SqlError } from "effect/sql/SqlError"
import * as PoolGate from "./PoolGate.js"
import { decodeSettings as decodeSettingsAt } from "../internal/decodeSettings.js"

const Millis = Schema.Int.check(Schema.isGreaterThanOrEqualTo(1))

/** Pool and session settings; every duration in milliseconds. */
export const Settings = Schema.Struct({
  /** `postgres://user[:password]@host:port/database` (a secret: it may hold the password). */
  url: Schema.Redacted(Schema.String),
  /** Most connections (HikariCP's maximumPoolSize). */
  maxConnections: Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 1_000 })),
  /** Connections kept open while idle (HikariCP's minimumIdle). */
  minConnections: Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 1_000 })),
  /** Longest wait to open a connection. */
  connectTimeoutMs: Millis,
  /** An idle connection beyond `minConnections` is closed after this long. */
  idleTimeoutMs: Millis,
  /** A connection is replaced once it is this old (HikariCP's maxLifetime). */
  maxLifetimeMs: Millis,
  /** The server cancels any statement running longer (`statement_timeout`). */
  statementTimeoutMs: Millis,
  /** The schema Till's tables live in (the sessions' `search_path`). */
  schema: Schema.String.check(
    Schema.isPattern(/^[a-z_][a-z0-9_]{0,62}$/, { message: "schema must be a lower-case SQL identifier" })
  ),
  /** `application_name` of every session, as `pg_stat_activity` shows it. */
  applicationName: Schema.String.check(Schema.isMinLength(1), Schema.isMaxLength(63)),
  /** Callers queued this long with none served: the pool is exhausted (PoolGate.ts). */
  exhaustedAfterMs: Millis,
  /** How long an exhausted pool fails fast the calls that would queue. */
  exhaustedOpenMs: Millis
}).check(
  Schema.makeFilter((s) => s.minConnections <= s.maxConnections || "minConnections exceeds maxConnections")
)
export type Settings = typeof Settings.Type

/** The seed's pool: 30 connections, 5 idle, 30 s to connect, 10 min idle, 30 min lifetime. */
export const defaults: Settings = {
  url: Redacted.make("postgres://postgres@127.0.0.1:5432/till"),
  maxConnections: 30,
  minConnections: 5,
  connectTimeoutMs: 30_000,
  idleTimeoutMs: 10 * 60_000,
  maxLifetimeMs: 30 * 60_000,
  statementTimeoutMs: 5_000,
  schema: "public",
  applicationName: "till",
  exhaustedAfterMs: 5_000,
  exhaustedOpenMs: 5_000
}

/** The `@effect/sql-pg` pool configuration of `settings`. */
export const poolConfig = (settings: Settings): PgClient.PgPoolConfig => ({
  url: settings.url,
  maxConnections: settings.maxConnections,
  minConnections: settings.minConnections,
  connectTimeout: settings.connectTimeoutMs,
  idleTimeout: settings.idleTimeoutMs,
  connectionTTL: settings.maxLifetimeMs,
  applicationName: settings.applicationName,
  startupParameters: {
    statement_timeout: String(settings.statementTimeoutMs),
    default_transaction_isolation: "read committed",
    search_path: settings.schema
  }
})

/** What the stores run on: the `@effect/sql-pg` client under both of its keys, and its gate. */
export type Client = PgClient.PgClient | SqlClient.SqlClient | PoolGate.PoolGate

/** The client and the gate every store call passes (PoolGate.ts), both from `settings`. */
const pool = (settings: Settings): Layer.Layer<Client, SqlError> =>
  Layer.merge(
    PgClient.layer(poolConfig(settings)),
    Layer.effect(
      PoolGate.PoolGate,
      Effect.tap(
        PoolGate.make({
          maxConnections: settings.maxConnections,
          exhaustedAfterMs: settings.exhaustedAfterMs,
          openMs: settings.exhaustedOpenMs
        }),
        (gate) => Effect.forkScoped(Effect.repeat(gate.publishMetrics, Schedule.spaced("1 second")))
      )
    )
  )

/**
 * The pool with the seed's defaults (against `postgres://postgres@127.0.0.1:5432/till`).
 * @category layers
 */
export const layer: Layer.Layer<Client, SqlError> = pool(defaults)

/**
 * The pool with settings given in code, each defaulting to `defaults`; an invalid value is a
 * defect when the layer is built.
 * @example PgLayer.layerWith({ url: Redacted.make(process.env.DATABASE_URL!), maxConnections: 10 })
 * @category layers
 */
export const layerWith = (settings: Partial<Settings>): Layer.Layer<Client, SqlError> =>
  Layer.unwrap(
    Effect.map(Effect.orDie(Schema.decodeEffect(Settings)({ ...defaults, ...settings })), (decoded) =>
      pool(decoded)
    )
  )

const decodeSettings = decodeSettingsAt(Settings, ["postgres"])

/**
 * The settings from Effect `Config`: the URL from `DATABASE_URL`, the rest under `postgres.*`
 * (`POSTGRES_MAX_CONNECTIONS=50` with `ConfigProvider.constantCase`), each defaulting to `base`.
 */
export const config = (base: Settings = defaults): EffectConfig.Config<Settings> =>
  EffectConfig.all({
    url: EffectConfig.withDefault(EffectConfig.Redacted("DATABASE_URL"), base.url),
    pool: EffectConfig.all({
      maxConnections: EffectConfig.withDefault(EffectConfig.Int("maxConnections"), base.maxConnections),
      minConnections: EffectConfig.withDefault(EffectConfig.Int("minConnections"), base.minConnections),
      connectTimeoutMs: EffectConfig.withDefault(EffectConfig.Int("connectTimeoutMs"), base.connectTimeoutMs),
      idleTimeoutMs: EffectConfig.withDefault(EffectConfig.Int("idleTimeoutMs"), base.idleTimeoutMs),
      maxLifetimeMs: EffectConfig.withDefault(EffectConfig.Int("maxLifetimeMs"), base.maxLifetimeMs),
      statementTimeoutMs: EffectConfig.withDefault(
        EffectConfig.Int("statementTimeoutMs"),
        base.statementTimeoutMs
      ),
      schema: EffectConfig.withDefault(EffectConfig.String("schema"), base.schema),
      applicationName: EffectConfig.withDefault(EffectConfig.String("applicationName"), base.applicationName),
      exhaustedAfterMs: EffectConfig.withDefault(EffectConfig.Int("exhaustedAfterMs"), base.exhaustedAfterMs),
      exhaustedOpenMs: EffectConfig.withDefault(EffectConfig.Int("exhaustedOpenMs"), base.exhaustedOpenMs)
    }).pipe(EffectConfig.nested("postgres"))
  }).pipe(EffectConfig.mapEffect(({ url, pool }) => decodeSettings({ ...pool, url })))

/**
 * The pool with settings read from `Config` (`config()`): an invalid value fails the layer at
 * startup with a `ConfigError` naming the key.
 * @category layers
 */
export const layerConfig = (
  settings: EffectConfig.Config<Settings> = config()
): Layer.Layer<Client, EffectConfig.ConfigError | SqlError> => Layer.unwrap(Effect.map(settings, pool))
