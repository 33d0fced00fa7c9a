/**
 * The runtime's own settings, read once from the environment and Schema-checked: a bad value
 * names its variable and `till start` exits non-zero before it opens a port.
 *
 * | variable | default | meaning |
 * |---|---|---|
 * | `DATABASE_URL` | (none) | Postgres: orders, stock, catalog, idempotency, payment queue, dead letters |
 * | `REDIS_URL` | (none) | Redis: carts and rate limits |
 * | `KAFKA_BROKERS` | (none) | Kafka: events out of the outbox, fulfillment and notification consumers (needs `DATABASE_URL`) |
 * | `TILL_HTTP_PORT` | 8080 | the HTTP port |
 * | `TILL_JWT_SECRET` | (none) | the HS256 secret of bearer tokens, at least 32 characters |
 * | `TILL_ENV` | `development` without service URLs, else `production` | `production` refuses to start without a secret |
 * | `TILL_LOG_LEVEL` | `Info` | `Trace` `Debug` `Info` `Warn` `Error` `Fatal` `None` |
 * | `TILL_SHUTDOWN_GRACE_MS` | 25000 | how long SIGTERM waits for in-flight requests and jobs |
 * | `TILL_RECOVERY_EVERY_MS` | 30000 | pause between two recovery sweeps (orders a crash left behind) |
 * | `TILL_RECOVERY_STALE_AFTER_MS` | 60000 | how old an in-flight order must be before the sweeper takes it over from its request |
 * | `TILL_ABANDONMENT_EVERY_MS` | 3600000 | pause between two rounds of the cart-abandonment job |
 * | `TILL_ABANDONED_AFTER_MS` | 3600000 | how long a cart stays unchanged before it is abandoned (`cart.abandoned`) |
 * | `TILL_RECONCILIATION_EVERY_MS` | 60000 | pause between two payment reconciliation runs (captures checked against orders) |
 * | `TILL_HOUSEKEEPING_EVERY_MS` | 3600000 | with `DATABASE_URL`: pause between two housekeeping runs (expired idempotency keys, sent events an older Till kept) |
 * | `TILL_OUTBOX_RETENTION_MS` | 86400000 | with `DATABASE_URL`: age at which housekeeping deletes the sent events an older Till kept in the outbox (the relay deletes a sent event as it sends it) |
 * | `TILL_CLUSTER_HOST` | the host name | with `DATABASE_URL`: the address other instances reach this one's cluster runner at |
 * | `TILL_CLUSTER_PORT` | 34431 | with `DATABASE_URL`: the cluster runner's port |
 * | `TILL_CLUSTER_LOCK_EXPIRATION_MS` | 10000 | how long a stopped instance keeps its shards (and jobs) before another takes them |
 * | `TILL_CLUSTER_MAX_ENTITIES` | 10000 | live entities (carts being edited) per instance; past it an edit answers 503 |
 * | `TILL_CART_MAILBOX` | 256 | edits of one cart waiting in its mailbox; past it an edit answers 503 |
 * | `TILL_CART_CALL_TIMEOUT_MS` | 5000 | longest wait for a cart edit through its entity (a moving shard); then 503 |
 * | `TILL_CART_IDLE_MS` | 5000 | a cart entity without edits this long is passivated |
 * | `TILL_GATEWAY_LATENCY_MS` | 0 | how long the fake payment gateway takes per call (rehearsals and benchmarks: the seed's gateway takes ~1 s) |
 * | `TILL_ORDER_MAILBOX` | 64 | resumes of one order waiting in its entity's mailbox (the jobs'); past it the job retries later |
 * | `TILL_ORDER_CALL_TIMEOUT_MS` | 60000 | longest wait for an order's resume through its entity; then the job retries later |
 * | `TILL_HOT_SKUS` | (none) | with `DATABASE_URL`: comma-separated SKUs whose orders are created in batches by their hot-SKU entity (a flash sale) |
 * | `TILL_HOT_SKU_BATCH` | 64 | most orders of a hot SKU in one transaction |
 * | `TILL_HOT_SKU_MAILBOX` | 4096 | orders of one hot SKU waiting; past it a checkout answers 503 |
 * | `TILL_HOT_SKU_CALL_TIMEOUT_MS` | 5000 | longest wait for a hot-SKU order's creation through its entity; then 503 |
 *
 * The core's policies and limits are read with the same provider (ConfigProvider.constantCase):
 * `CHECKOUT_HOLD_MS`, `RATE_LIMITS_CHECKOUT_LIMIT`, `RESILIENCE_PAYMENT_TIMEOUT_MS`, ... (see
 * each core module's `config`), and the adapters' as their READMEs say (`POSTGRES_MAX_CONNECTIONS`,
 * `PAYMENTS_KEYS`, ...).
 */
import { Config, ConfigProvider, Effect, Option, Redacted, Schema, SchemaIssue } from "effect"
import { Sku } from "@till/core"
import { hostname } from "node:os"

export const LogLevel = Schema.Literals(["All", "Trace", "Debug", "Info", "Warn", "Error", "Fatal", "None"])

export interface Settings {
  readonly databaseUrl: Option.Option<Redacted.Redacted<string>>
  readonly redisUrl: Option.Option<Redacted.Redacted<string>>
  readonly kafkaBrokers: Option.Option<ReadonlyArray<string>>
  readonly port: number
  readonly jwtSecret: Option.Option<Redacted.Redacted<string>>
  readonly environment: "development" | "production"
  readonly logLevel: typeof LogLevel.Type
  readonly shutdownGraceMs: number
  readonly recoveryEveryMs: number
  readonly recoveryStaleAfterMs: number
  readonly abandonmentEveryMs: number
  readonly abandonedAfterMs: number
  readonly reconciliationEveryMs: number
  readonly housekeepingEveryMs: number
  readonly outboxRetentionMs: number
  readonly clusterHost: string
  readonly clusterPort: number
  readonly clusterLockExpirationMs: number
  readonly clusterMaxEntities: number
  readonly cartMailbox: number
  readonly cartCallTimeoutMs: number
  readonly cartIdleMs: number
  readonly gatewayLatencyMs: number
  readonly orderMailbox: number
  readonly orderCallTimeoutMs: number
  readonly hotSkus: ReadonlyArray<string>
  readonly hotSkuBatch: number
  readonly hotSkuMailbox: number
  readonly hotSkuCallTimeoutMs: number
}

/** The provider every part of the runtime reads: environment variables, `CONSTANT_CASE`. */
export const provider = (env: Record<string, string | undefined> = process.env) =>
  ConfigProvider.fromEnv({ env: env as Record<string, string> }).pipe(ConfigProvider.constantCase)

/** A config error naming `variable`, with `message` (what `till start` prints before it exits 1). */
export const invalid = (variable: string, message: string): Config.ConfigError =>
  new Config.ConfigError(
    new Schema.SchemaError(new SchemaIssue.Pointer([variable], new SchemaIssue.InvalidValue({ message })))
  )

const nonEmpty = (name: string) =>
  Config.option(Config.Redacted(name)).pipe(
    Config.map((o) => Option.filter(o, (r) => Redacted.value(r).trim().length > 0))
  )

/** The non-empty items of a comma-separated variable, trimmed. */
const commaList = (value: string): Array<string> =>
  value
    .split(",")
    .map((item) => item.trim())
    .filter((item) => item !== "")

const brokers = Config.option(Config.String("KAFKA_BROKERS")).pipe(
  Config.mapEffect((o) => {
    if (Option.isNone(o) || o.value.trim() === "") return Effect.succeed(Option.none<ReadonlyArray<string>>())
    const list = commaList(o.value)
    const bad = list.find((b) => !/^[A-Za-z0-9.-]+:[0-9]{1,5}$/.test(b))
    return bad === undefined
      ? Effect.succeed(Option.some(list))
      : Effect.fail(invalid("KAFKA_BROKERS", `"${bad}" is not host:port`))
  })
)

const hotSkus = Config.withDefault(Config.String("TILL_HOT_SKUS"), "").pipe(
  Config.mapEffect((value) => {
    const list = [...new Set(commaList(value))]
    const bad = list.find((sku) => !Schema.is(Sku.Sku)(sku))
    return bad === undefined
      ? Effect.succeed(list)
      : Effect.fail(invalid("TILL_HOT_SKUS", `"${bad}" is not a SKU`))
  })
)

const portOf = (variable: string, fallback: number) =>
  Config.withDefault(Config.Int(variable), fallback).pipe(
    Config.mapEffect((p) =>
      p >= 1 && p <= 65535
        ? Effect.succeed(p)
        : Effect.fail(invalid(variable, `${p} is not a port (1-65535)`))
    )
  )

const clusterHost = Config.withDefault(Config.String("TILL_CLUSTER_HOST"), hostname()).pipe(
  Config.mapEffect((h) =>
    /^[A-Za-z0-9.-]{1,253}$/.test(h)
      ? Effect.succeed(h)
      : Effect.fail(invalid("TILL_CLUSTER_HOST", `"${h}" is not a host name or IPv4 address`))
  )
)

/** An integer variable (milliseconds, or a count) in `minimum`..`maximum`, named when it is not. */
const intBetween = (variable: string, fallback: number, minimum: number, maximum: number) =>
  Config.withDefault(Config.Int(variable), fallback).pipe(
    Config.mapEffect((ms) =>
      ms >= minimum && ms <= maximum
        ? Effect.succeed(ms)
        : Effect.fail(invalid(variable, `${ms} is not ${minimum}-${maximum}`))
    )
  )

const grace = intBetween("TILL_SHUTDOWN_GRACE_MS", 25_000, 0, 600_000)
const recoveryEvery = intBetween("TILL_RECOVERY_EVERY_MS", 30_000, 100, 3_600_000)
const recoveryStaleAfter = intBetween("TILL_RECOVERY_STALE_AFTER_MS", 60_000, 1_000, 86_400_000)
const abandonmentEvery = intBetween("TILL_ABANDONMENT_EVERY_MS", 3_600_000, 100, 86_400_000)
const abandonedAfter = intBetween("TILL_ABANDONED_AFTER_MS", 3_600_000, 1_000, 30 * 86_400_000)
const reconciliationEvery = intBetween("TILL_RECONCILIATION_EVERY_MS", 60_000, 100, 86_400_000)

export const config: Config.Config<Settings> = Config.all({
  databaseUrl: nonEmpty("DATABASE_URL"),
  redisUrl: nonEmpty("REDIS_URL"),
  kafkaBrokers: brokers,
  port: portOf("TILL_HTTP_PORT", 8080),
  jwtSecret: nonEmpty("TILL_JWT_SECRET"),
  environment: Config.option(Config.Literals(["development", "production"], "TILL_ENV")),
  logLevel: Config.withDefault(Config.Literals(LogLevel.literals, "TILL_LOG_LEVEL"), "Info" as const),
  shutdownGraceMs: grace,
  recoveryEveryMs: recoveryEvery,
  recoveryStaleAfterMs: recoveryStaleAfter,
  abandonmentEveryMs: abandonmentEvery,
  abandonedAfterMs: abandonedAfter,
  reconciliationEveryMs: reconciliationEvery,
  housekeepingEveryMs: intBetween("TILL_HOUSEKEEPING_EVERY_MS", 3_600_000, 1_000, 86_400_000),
  outboxRetentionMs: intBetween("TILL_OUTBOX_RETENTION_MS", 86_400_000, 0, 30 * 86_400_000),
  clusterHost,
  clusterPort: portOf("TILL_CLUSTER_PORT", 34_431),
  clusterLockExpirationMs: intBetween("TILL_CLUSTER_LOCK_EXPIRATION_MS", 10_000, 3_000, 300_000),
  clusterMaxEntities: intBetween("TILL_CLUSTER_MAX_ENTITIES", 10_000, 1, 10_000_000),
  cartMailbox: intBetween("TILL_CART_MAILBOX", 256, 1, 100_000),
  cartCallTimeoutMs: intBetween("TILL_CART_CALL_TIMEOUT_MS", 5_000, 100, 60_000),
  cartIdleMs: intBetween("TILL_CART_IDLE_MS", 5_000, 100, 3_600_000),
  gatewayLatencyMs: intBetween("TILL_GATEWAY_LATENCY_MS", 0, 0, 60_000),
  orderMailbox: intBetween("TILL_ORDER_MAILBOX", 64, 1, 100_000),
  orderCallTimeoutMs: intBetween("TILL_ORDER_CALL_TIMEOUT_MS", 60_000, 1_000, 600_000),
  hotSkus,
  hotSkuBatch: intBetween("TILL_HOT_SKU_BATCH", 64, 1, 1_000),
  hotSkuMailbox: intBetween("TILL_HOT_SKU_MAILBOX", 4_096, 1, 1_000_000),
  hotSkuCallTimeoutMs: intBetween("TILL_HOT_SKU_CALL_TIMEOUT_MS", 5_000, 100, 60_000)
}).pipe(
  Config.mapEffect((s): Effect.Effect<Settings, Config.ConfigError> => {
    const embedded =
      Option.isNone(s.databaseUrl) && Option.isNone(s.redisUrl) && Option.isNone(s.kafkaBrokers)
    const environment: Settings["environment"] = Option.getOrElse(s.environment, () =>
      embedded ? "development" : "production"
    )
    if (Option.isSome(s.kafkaBrokers) && Option.isNone(s.databaseUrl))
      return Effect.fail(
        invalid(
          "KAFKA_BROKERS",
          "needs DATABASE_URL: events leave through the Postgres outbox and consumers dedupe in Postgres"
        )
      )
    if (Option.isSome(s.jwtSecret) && Redacted.value(s.jwtSecret.value).length < 32)
      return Effect.fail(invalid("TILL_JWT_SECRET", "must be at least 32 characters"))
    if (environment === "production" && Option.isNone(s.jwtSecret))
      return Effect.fail(invalid("TILL_JWT_SECRET", "is required outside development (TILL_ENV=production)"))
    return Effect.succeed({ ...s, environment })
  })
)

/** Which store serves what, for the startup log. */
export const describe = (s: Settings): Record<string, string> => {
  const pg = Option.isSome(s.databaseUrl) ? "postgres" : "in-memory"
  const redis = Option.isSome(s.redisUrl) ? "redis" : "in-memory"
  return {
    orders: pg,
    stock: pg,
    catalog: pg,
    idempotency: pg,
    paymentQueue: pg,
    carts: redis,
    rateLimits: redis,
    events: Option.isSome(s.kafkaBrokers) ? "kafka" : "in-memory",
    paymentGateway: "fake (testkit)"
  }
}
