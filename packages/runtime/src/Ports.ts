/**
 * The ports `till start` runs on, chosen per configured service (Settings.ts):
 * - `DATABASE_URL`: the Postgres stores (orders and stock in one database, so an order step and
 *   its stock movement stay one transaction), catalog, idempotency keys, payment queue, dead
 *   letters; migrated at start (safe from several instances at once: an advisory lock);
 * - `REDIS_URL`: carts and rate limits on Redis;
 * - `KAFKA_BROKERS`: events published to Kafka, and the fulfillment and notification consumers;
 * - anything not configured: the testkit's in-memory port. The payment gateway is always the
 *   testkit's fake: a real gateway is a port a deployment provides (PaymentGateway in core).
 *
 * The adapters' modules are loaded only when their service is configured.
 *
 * Payment data at rest needs keys with Postgres (`PAYMENTS_KEYS=id=base64,...`,
 * `PAYMENTS_CURRENT_KEY_ID`). In development without them a fixed development key is used, and
 * said so in the log: sealed rows then open after a restart, but the key is public.
 */
// The adapters are imported when their service is configured, never on the embedded default:
// their drivers (kafkajs, ioredis, sql-pg) are ~15 MB of resident memory each (bench/runtime).
import type * as KafkaAdapters from "@till/adapters/kafka"
import type * as PostgresAdapters from "@till/adapters/postgres"
import {
  type CartStore,
  type Catalog,
  type DeadLetterStore,
  Degradation,
  type Errors,
  type EventPublisher,
  type IdempotencyStore,
  Ids,
  type InventoryStore,
  type Notifier,
  type OrderStore,
  type PaymentRetryQueue,
  type RateLimitStore,
  type Till
} from "@till/core"
import {
  FakePaymentGateway,
  InMemoryCartStore,
  InMemoryCatalog,
  InMemoryDeadLetterStore,
  InMemoryEventPublisher,
  InMemoryIdempotencyStore,
  InMemoryInventoryStore,
  InMemoryNotifier,
  InMemoryOrderStore,
  InMemoryPaymentRetryQueue,
  InMemoryRateLimitStore,
  InMemoryShippingQuoter,
  InMemoryTaxCalculator
} from "@till/testkit"
import { Config, Effect, Layer, Option, Redacted, Schedule } from "effect"
import { SqlClient } from "effect/sql"
import type { MigrationError } from "effect/sql/Migrator"
import type { SqlError } from "effect/sql/SqlError"
import { randomUUID } from "node:crypto"
import * as Housekeeping from "./Housekeeping.js"
import * as Health from "./http/Health.js"
import type { Settings } from "./Settings.js"

/** The public development key of payment data (development only, and logged as such). */
const developmentKeys: PostgresAdapters.PaymentCipher.Settings = {
  currentKeyId: "development",
  keys: { development: Redacted.make(Buffer.alloc(32, "till-development-key").toString("base64")) }
}

const loadPostgres = Effect.promise(() => import("@till/adapters/postgres"))
const loadRedis = Effect.promise(() => import("@till/adapters/redis"))
const loadKafka = Effect.promise(() => import("@till/adapters/kafka"))

const cipher = ({ PaymentCipher }: typeof PostgresAdapters, settings: Settings) =>
  Layer.unwrap(
    Effect.gen(function* () {
      const configured = yield* Config.option(PaymentCipher.config)
      if (Option.isSome(configured)) return PaymentCipher.layerWith(configured.value)
      if (settings.environment === "production")
        return yield* Effect.die(
          new Error("PAYMENTS_KEYS and PAYMENTS_CURRENT_KEY_ID are required with DATABASE_URL in production")
        )
      yield* Effect.logWarning("payment data sealed with the public development key (set PAYMENTS_KEYS)")
      return PaymentCipher.layerWith(developmentKeys)
    })
  )

/** The configured schema, created if missing, then migrated. */
const migrated = ({ Migrations }: typeof PostgresAdapters) =>
  Layer.effectDiscard(
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const schema = yield* Config.withDefault(Config.String("POSTGRES_SCHEMA"), "public")
      yield* sql`CREATE SCHEMA IF NOT EXISTS ${sql(schema)}`
      const ran = yield* Migrations.migrate
      if (ran.length > 0)
        yield* Effect.logInfo(
          "migrations applied",
          ran.map(([id, name]) => `${id} ${name}`)
        )
    })
  )

/** Seconds the pool's load is averaged over before it moves the degradation level. */
export const poolWindowSeconds = 5

/**
 * The pool's load into the degradation level (DegradationSignals.ts has the breakers): the mean
 * share of connections in use over the last `poolWindowSeconds`, sampled every second. Callers
 * queueing for a connection do not count as more than full here (PoolGate.degradationSignal's
 * reading): a queue is normal at saturation, and one busy second is not stress. What the pool
 * alone may ask for is capped in Start.ts.
 */
const poolSignal = ({ PoolGate }: typeof PostgresAdapters) =>
  Layer.effectDiscard(
    Effect.gen(function* () {
      const degradation = yield* Degradation.Degradation
      const gate = yield* PoolGate.PoolGate
      const samples: Array<number> = []
      const sample = Effect.flatMap(gate.saturation, (s) => {
        samples.push(s.utilizationPercent)
        if (samples.length > poolWindowSeconds) samples.shift()
        const mean = samples.reduce((sum, x) => sum + x, 0) / samples.length
        return degradation.signal({ _tag: "PoolSaturation", pool: "postgres", utilizationPercent: mean })
      })
      yield* Effect.forkScoped(Effect.repeat(sample, Schedule.spaced("1 second")))
    })
  )

const postgres = (pg: typeof PostgresAdapters, settings: Settings) =>
  Layer.mergeAll(
    poolSignal(pg),
    pg.PostgresOrderStore.layer,
    pg.PostgresInventoryStore.layer,
    pg.PostgresCatalog.layer,
    pg.PostgresIdempotencyStore.layer,
    pg.PostgresPaymentRetryQueue.layer,
    pg.PostgresDeadLetterStore.layer,
    Housekeeping.postgres(pg, { outboxRetentionMs: settings.outboxRetentionMs })
  ).pipe(
    Layer.provide(cipher(pg, settings)),
    Layer.provideMerge(migrated(pg)),
    Layer.provideMerge(pg.PgLayer.layerConfig())
  )

const inMemoryStores = Layer.mergeAll(
  InMemoryOrderStore.layer.pipe(Layer.provideMerge(InMemoryInventoryStore.layer)),
  InMemoryCatalog.layer,
  InMemoryIdempotencyStore.layer,
  InMemoryPaymentRetryQueue.layer,
  InMemoryDeadLetterStore.layer,
  Housekeeping.none
)

const redis = Layer.unwrap(
  Effect.map(loadRedis, ({ RedisCartStore, RedisClient, RedisRateLimitStore }) =>
    Layer.mergeAll(RedisCartStore.layer, RedisRateLimitStore.layerConfig()).pipe(
      Layer.provideMerge(RedisClient.layerConfig())
    )
  )
)

const inMemoryCarts = Layer.mergeAll(InMemoryCartStore.layer, InMemoryRateLimitStore.layer)

/** Consumer groups are `KAFKA_GROUP_PREFIX`.fulfillment and .notifications (default prefix `till`). */
const kafka = ({
  Fulfillment,
  KafkaClient,
  KafkaEventPublisher,
  Notifications,
  Topics
}: typeof KafkaAdapters) =>
  Layer.unwrap(
    Effect.map(Config.withDefault(Config.String("KAFKA_GROUP_PREFIX"), "till"), (prefix) =>
      KafkaEventPublisher.layer().pipe(
        Layer.provideMerge(
          Layer.mergeAll(
            Fulfillment.layer({ groupId: `${prefix}.fulfillment` }),
            Notifications.layer({ groupId: `${prefix}.notifications` })
          )
        ),
        Layer.provideMerge(Topics.layerConfig()),
        Layer.provideMerge(KafkaClient.layerConfig())
      )
    )
  )

/** The ports every setup shares; the fake gateway answers after `TILL_GATEWAY_LATENCY_MS`. */
const common = (settings: Settings) =>
  Layer.mergeAll(
    InMemoryShippingQuoter.layer,
    InMemoryTaxCalculator.layer,
    InMemoryNotifier.layer,
    FakePaymentGateway.layerWith({ seed: randomUUID(), faults: { latencyMs: settings.gatewayLatencyMs } }),
    Ids.layer
  )

/** Readiness probes of the configured services. */
const checks = (settings: Settings): Layer.Layer<Health.Health> =>
  Layer.effect(
    Health.Health,
    Effect.gen(function* () {
      const probes: Array<Health.Check> = []
      // Each client is in the context exactly when its service is configured.
      const sql = yield* Effect.serviceOption(SqlClient.SqlClient)
      if (Option.isSome(sql)) probes.push({ name: "postgres", probe: sql.value`SELECT 1` })
      if (Option.isSome(settings.redisUrl)) {
        const { RedisClient } = yield* loadRedis
        const client = Option.getOrThrow(yield* Effect.serviceOption(RedisClient.RedisClient))
        probes.push({ name: "redis", probe: client.call("health", (r) => r.ping()) })
      }
      if (Option.isSome(settings.kafkaBrokers)) {
        const { KafkaClient } = yield* loadKafka
        const client = Option.getOrThrow(yield* Effect.serviceOption(KafkaClient.KafkaClient))
        const admin = client.kafka.admin()
        probes.push({
          name: "kafka",
          probe: client.call("describe the cluster", 1_000, async () => {
            await admin.connect()
            return admin.describeCluster()
          })
        })
      }
      return Health.make(probes)
    })
  )

/** What `layer` provides. */
export type Provided =
  | Till.Ports
  | Housekeeping.Housekeeping
  | DeadLetterStore.DeadLetterStore
  | EventPublisher.EventPublisher
  | Notifier.Notifier
  | Health.Health

/** What building the ports may fail with. */
export type Failure = Errors.StoreUnavailable | Config.ConfigError | SqlError | MigrationError

/** The stores of orders, stock, catalog, keys and queues, and where events go. */
type Stores =
  | Housekeeping.Housekeeping
  | Catalog.Catalog
  | InventoryStore.InventoryStore
  | OrderStore.OrderStore
  | IdempotencyStore.IdempotencyStore
  | PaymentRetryQueue.PaymentRetryQueue
  | DeadLetterStore.DeadLetterStore
  | EventPublisher.EventPublisher

const storesOf = (
  settings: Settings
): Layer.Layer<Stores, Failure, Notifier.Notifier | Degradation.Degradation> => {
  if (Option.isNone(settings.databaseUrl)) return Layer.merge(inMemoryStores, InMemoryEventPublisher.layer)
  return Layer.unwrap(
    Effect.gen(function* (): Effect.fn.Return<
      Layer.Layer<Stores, Failure, Notifier.Notifier | Degradation.Degradation>
    > {
      const pg = postgres(yield* loadPostgres, settings)
      if (Option.isNone(settings.kafkaBrokers)) return Layer.merge(pg, InMemoryEventPublisher.layer)
      // The consumers write their dedupe rows and shipments through the stores' SQL client.
      return kafka(yield* loadKafka).pipe(Layer.provideMerge(pg))
    })
  )
}

/**
 * Every port and the health checks of the configured services. Fails at start when a configured
 * service does not answer or a setting is invalid.
 */
export const layer = (settings: Settings): Layer.Layer<Provided, Failure, Degradation.Degradation> => {
  const carts: Layer.Layer<CartStore.CartStore | RateLimitStore.RateLimitStore, Failure> = Option.isSome(
    settings.redisUrl
  )
    ? redis
    : inMemoryCarts
  return checks(settings).pipe(
    Layer.provideMerge(Layer.mergeAll(storesOf(settings), carts).pipe(Layer.provideMerge(common(settings))))
  )
}
