/**
 * Till for the shop, built once at startup by either app: every core service (`Till.layerConfig`)
 * and the background jobs (`Till.layerJobs`: payment retries, recovery, outbox relay, abandoned
 * carts) over ports chosen from the configuration, one service at a time:
 *
 * | set | ports | otherwise |
 * |---|---|---|
 * | `DATABASE_URL` | orders, stock, catalog, idempotency keys, payment queue, dead letters on Postgres | in memory |
 * | `REDIS_URL` | carts and rate limits on Redis | in memory |
 * | `KAFKA_BROKERS` | events from the outbox to Kafka | kept in memory |
 *
 * The payment gateway is always the testkit's fake (card 4242 4242 4242 4242 pays, 4000 0000 0000
 * 0002 is declined): a real one (Stripe, Adyen) is a `PaymentGateway` layer of your own, as are
 * shipping quotes and tax.
 */
import { KafkaClient, KafkaEventPublisher, Topics } from "@till/adapters/kafka"
import {
  Migrations,
  PaymentCipher,
  PgLayer,
  PostgresCatalog,
  PostgresDeadLetterStore,
  PostgresIdempotencyStore,
  PostgresInventoryStore,
  PostgresOrderStore,
  PostgresPaymentRetryQueue
} from "@till/adapters/postgres"
import { RedisCartStore, RedisClient, RedisRateLimitStore } from "@till/adapters/redis"
import {
  type Cart,
  type CartStore,
  Catalog,
  type DeadLetterStore,
  type EventPublisher,
  type IdempotencyStore,
  Ids,
  InventoryStore,
  Money,
  type OrderStore,
  type PaymentRetryQueue,
  type RateLimitStore,
  Sku,
  Till
} from "@till/core"
import {
  FakePaymentGateway,
  InMemoryCartStore,
  InMemoryCatalog,
  InMemoryDeadLetterStore,
  InMemoryEventPublisher,
  InMemoryIdempotencyStore,
  InMemoryInventoryStore,
  InMemoryOrderStore,
  InMemoryPaymentRetryQueue,
  InMemoryRateLimitStore,
  InMemoryShippingQuoter,
  InMemoryTaxCalculator
} from "@till/testkit"
import { Config, ConfigProvider, Effect, Layer, Option } from "effect"
import { SqlClient } from "effect/sql"
import { randomUUID } from "node:crypto"
import * as Shop from "./server.js"

/** The schema (`POSTGRES_SCHEMA`, default public), created if missing, then migrated. */
const migrated = Layer.effectDiscard(
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const schema = yield* Config.withDefault(Config.String("POSTGRES_SCHEMA"), "public")
    yield* sql`CREATE SCHEMA IF NOT EXISTS ${sql(schema)}`
    yield* Migrations.migrate // safe from several instances at once (an advisory lock)
  })
)

type Stores =
  | Catalog.Catalog
  | InventoryStore.InventoryStore
  | OrderStore.OrderStore
  | IdempotencyStore.IdempotencyStore
  | PaymentRetryQueue.PaymentRetryQueue
  | DeadLetterStore.DeadLetterStore

type Carts = CartStore.CartStore | RateLimitStore.RateLimitStore

// One database for all of them, so an order step and its stock movement stay one transaction.
const postgres = Layer.mergeAll(
  PostgresOrderStore.layer,
  PostgresInventoryStore.layer,
  PostgresCatalog.layer,
  PostgresIdempotencyStore.layer,
  PostgresPaymentRetryQueue.layer,
  PostgresDeadLetterStore.layer
).pipe(
  Layer.provide(PaymentCipher.layerConfig()), // PAYMENTS_KEYS, PAYMENTS_CURRENT_KEY_ID
  Layer.provide(migrated),
  Layer.provide(PgLayer.layerConfig()) // DATABASE_URL, POSTGRES_SCHEMA, POSTGRES_MAX_CONNECTIONS, ...
)

const inMemoryStores = Layer.mergeAll(
  // One set of stock tables behind both: an order step moves the stock it holds.
  InMemoryOrderStore.layer.pipe(Layer.provideMerge(InMemoryInventoryStore.layer)),
  InMemoryCatalog.layer,
  InMemoryIdempotencyStore.layer,
  InMemoryPaymentRetryQueue.layer,
  InMemoryDeadLetterStore.layer
)

const redis = Layer.mergeAll(RedisCartStore.layer, RedisRateLimitStore.layerConfig()).pipe(
  Layer.provide(RedisClient.layerConfig()) // REDIS_URL, REDIS_KEY_PREFIX, ...
)

const inMemoryCarts = Layer.mergeAll(InMemoryCartStore.layer, InMemoryRateLimitStore.layer)

// The topics (KAFKA_TOPICS_ORDERS, default till.orders) are created at startup if missing.
const kafka = KafkaEventPublisher.layer().pipe(
  Layer.provide(Topics.layerConfig().pipe(Layer.provideMerge(KafkaClient.layerConfig()))) // KAFKA_BROKERS
)

const always = Layer.mergeAll(
  FakePaymentGateway.layerWith({ seed: randomUUID() }),
  InMemoryShippingQuoter.layer,
  InMemoryTaxCalculator.layer,
  Ids.layer
)

const isSet = (name: string) =>
  Config.option(Config.String(name)).pipe(Config.map(Option.filter((value) => value.trim() !== "")))

/** Every port Till needs, and the dead letters and events of its jobs, from the configuration. */
const ports = Layer.unwrap(
  Effect.gen(function* () {
    const database = Option.isSome(yield* isSet("DATABASE_URL"))
    const cache = Option.isSome(yield* isSet("REDIS_URL"))
    const events = Option.isSome(yield* isSet("KAFKA_BROKERS"))
    yield* Effect.logInfo(
      `checkout on ${database ? "Postgres" : "in-memory stores"}, carts on ${cache ? "Redis" : "memory"}, events to ${events ? "Kafka" : "memory"}`
    )
    const stores: Layer.Layer<Stores, Layer.Error<typeof postgres>> = database ? postgres : inMemoryStores
    const carts: Layer.Layer<Carts, Layer.Error<typeof redis>> = cache ? redis : inMemoryCarts
    const publisher: Layer.Layer<EventPublisher.EventPublisher, Layer.Error<typeof kafka>> = events
      ? kafka
      : InMemoryEventPublisher.layer
    return Layer.mergeAll(stores, carts, publisher, always)
  })
)

/** Till for the shop: the core services and their jobs over `ports`, the ports kept in the output. */
export const layer = Till.layerJobs.pipe(Layer.provideMerge(Till.layerConfig), Layer.provideMerge(ports))

/**
 * `layer` configured from `env`, each name in CONSTANT_CASE as the adapters' and core's READMEs
 * list them (`DATABASE_URL`, `REDIS_KEY_PREFIX`, `CHECKOUT_HOLD_MS`, ...).
 */
export const layerFromEnv = (env: Readonly<Record<string, string | undefined>>) =>
  layer.pipe(
    Layer.provide(
      ConfigProvider.layer(
        ConfigProvider.fromEnv({ env: env as Record<string, string> }).pipe(ConfigProvider.constantCase)
      )
    )
  )

/**
 * The shop's products into Till's catalog (Till prices carts from it, never from the client), and
 * each one's first stock if Till has none for it yet: a restart keeps what was sold.
 */
export const syncCatalog = Effect.fn("Shop.syncCatalog")(function* () {
  const catalog = yield* Catalog.Catalog
  const inventory = yield* InventoryStore.InventoryStore
  for (const product of Shop.products) {
    const sku = Sku.make(product.sku)
    const price = Money.make(product.priceMinor, product.currency)
    yield* catalog.upsert(new Catalog.Product({ sku, name: product.name, price }))
    if (Option.isNone(yield* inventory.level(sku))) yield* inventory.setOnHand(sku, product.initialStock)
  }
})

const money = (m: Money.Money) => ({ amount: m.amount, currency: m.currency })

/** A cart as the shop's cart page shows it. */
export const cartJson = (cart: Cart.Cart) => ({
  cart_id: cart.cart_id,
  status: cart.status,
  items: cart.items.map((item) => ({
    sku: item.sku,
    name: item.name,
    quantity: item.quantity,
    unit_price: money(item.unit_price),
    line_total: money(item.line_total)
  })),
  subtotal: money(cart.subtotal)
})

/** The shop's error code for a Till error's tag: `CartNotActive` -> `cart_not_active`. */
export const errorCode = (tag: string): string => tag.replace(/(?<!^)([A-Z])/g, "_$1").toLowerCase()
