/**
 * Till's topics: one per aggregate family, keyed by aggregate id, so all of one order's (or one
 * cart's) events land in one partition, in the order they were published.
 *
 * - `till.orders`: `order.*`, `payment.*`, `inventory.*`, `shipment.*`, keyed by order id;
 * - `till.carts`: `cart.*`, keyed by cart id;
 * - beside each, `<topic>.dlq`: messages a consumer could not process (Consumer.ts).
 *
 * One topic per family rather than per event type: a consumer of an order sees its
 * `order.confirmed` after its `order.created`, which per-type topics could not promise.
 *
 * Building the layer provisions them with the admin client: the missing topics are created
 * (names, partitions and replication from the settings; a topic that exists is left as it is,
 * whatever its partition count: adding partitions moves keys to other partitions and would break
 * the order of the events in flight), then every partition of every topic is waited for until it
 * has a leader. Producers and consumers need `Topics`, so none starts before that.
 */
import type { Errors, Event } from "@till/core"
import { Context, Effect, Config as EffectConfig, Layer, Schema } from "effect"
import { call, KafkaClient } from "./KafkaClient.js"
import { decodeSettings as decodeSettingsAt } from "../internal/decodeSettings.js"

const TopicName = Schema.String.check(
  Schema.isPattern(/^[A-Za-z0-9._-]{1,200}$/, { message: "a topic name: 1-200 of A-Z a-z 0-9 . _ -" })
)

/** Topic settings. */
export const Settings = Schema.Struct({
  /** Order, payment, inventory and shipment events, keyed by order id. */
  orders: TopicName,
  /** Cart events, keyed by cart id. */
  carts: TopicName,
  /** Partitions of each topic created (the unit of consumer parallelism). */
  partitions: Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 1_000 })),
  /** Replicas of each partition (3 on a production cluster; 1 on a single broker). */
  replicationFactor: Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 16 })),
  /** Longest wait for the provisioning as a whole (creation and leaders). */
  provisionTimeoutMs: Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 600_000 }))
})
export type Settings = typeof Settings.Type

/** `till.orders` and `till.carts`, 6 partitions, replication 1, 30 s to provision. */
export const defaults: Settings = {
  orders: "till.orders",
  carts: "till.carts",
  partitions: 6,
  replicationFactor: 1,
  provisionTimeoutMs: 30_000
}

/** A topic family: what a consumer subscribes to. */
export type Family = "orders" | "carts"

/** The dead-letter topic beside `topic`. */
export const deadLetterOf = (topic: string): string => `${topic}.dlq`

/** The family an event type belongs to (`cart.*` to carts, everything else to orders). */
export const familyOf = (type: Event.EventType): Family => (type.startsWith("cart.") ? "carts" : "orders")

export class Topics extends Context.Service<
  Topics,
  {
    readonly settings: Settings
    /** The topic of a family. */
    readonly topic: (family: Family) => string
    /** The topic an event of `type` is published to. */
    readonly topicOf: (type: Event.EventType) => string
    /** Every topic provisioned, dead-letter topics included. */
    readonly all: ReadonlyArray<string>
  }
>()("@till/adapters/kafka/Topics") {}

const describe = (settings: Settings): Topics["Service"] => {
  const topic = (family: Family) => settings[family]
  const all = [settings.orders, settings.carts].flatMap((t) => [t, deadLetterOf(t)])
  return Topics.of({ settings, topic, topicOf: (type) => topic(familyOf(type)), all })
}

const alreadyExists = (error: unknown): boolean => {
  const errors = (error as { errors?: ReadonlyArray<{ type?: string }> } | null)?.errors
  return Array.isArray(errors) && errors.length > 0 && errors.every((e) => e?.type === "TOPIC_ALREADY_EXISTS")
}

/**
 * Creates the missing topics of `settings` and waits until every partition of each has a leader.
 * Idempotent, and safe from several instances at once (a topic another instance created
 * meanwhile counts as created).
 */
export const provision: (
  settings: Settings
) => Effect.Effect<Topics["Service"], Errors.StoreUnavailable, KafkaClient> = Effect.fn("Topics.provision")(
  function* (settings: Settings) {
    const { kafka, settings: client } = yield* KafkaClient
    const topics = describe(settings)
    const step = Math.max(client.requestTimeoutMs, settings.provisionTimeoutMs)
    const admin = kafka.admin({ retry: { retries: 5 } })
    yield* Effect.acquireRelease(
      call("connect the admin client", step, () => admin.connect()),
      () => Effect.ignore(call("disconnect the admin client", step, () => admin.disconnect()))
    )
    const existing = new Set(yield* call("list topics", step, () => admin.listTopics()))
    const missing = topics.all.filter((t) => !existing.has(t))
    if (missing.length > 0) {
      yield* call("create topics", step, () =>
        admin
          .createTopics({
            topics: missing.map((topic) => ({
              topic,
              numPartitions: settings.partitions,
              replicationFactor: settings.replicationFactor
            })),
            // Leaders are waited for below: kafkajs's own wait retries only LEADER_NOT_AVAILABLE, and a
            // broker that does not know a just-created topic yet (UNKNOWN_TOPIC_OR_PARTITION) made it
            // fail the whole start now and then.
            waitForLeaders: false,
            timeout: settings.provisionTimeoutMs
          })
          .catch((error: unknown) => {
            if (alreadyExists(error)) return false
            throw error
          })
      )
    }
    // Every topic, created here, by another instance, or left leaderless by a broker that is
    // starting, is waited for by its metadata. A metadata error until then (a topic the broker does
    // not know yet) means "not yet"; the last one is reported if the deadline passes.
    const deadline = Date.now() + step
    // The call's own timeout a second later: the loop's deadline answers first, with its reason.
    yield* call("wait for partition leaders", step + 1_000, async () => {
      let lastError: unknown = null
      while (Date.now() < deadline) {
        try {
          const { topics: metadata } = await admin.fetchTopicMetadata({ topics: [...topics.all] })
          const leaderless = metadata.filter(
            (t) => t.partitions.length === 0 || t.partitions.some((p) => p.leader < 0)
          )
          if (leaderless.length === 0 && metadata.length === topics.all.length) return
        } catch (error) {
          lastError = error
        }
        await new Promise((resolve) => setTimeout(resolve, 100))
      }
      throw new Error(
        `some partitions of ${topics.all.join(", ")} have no leader${lastError === null ? "" : ` (${String(lastError)})`}`
      )
    })
    return topics
  },
  Effect.scoped
)

const build = (settings: Settings): Layer.Layer<Topics, Errors.StoreUnavailable, KafkaClient> =>
  Layer.effect(Topics, provision(settings))

/**
 * The default topics, provisioned when the layer is built.
 * @category layers
 */
export const layer: Layer.Layer<Topics, Errors.StoreUnavailable, KafkaClient> = build(defaults)

/**
 * Topics with settings given in code, each defaulting to `defaults`, provisioned when the layer is
 * built; an invalid value is a defect.
 * @example Topics.layerWith({ partitions: 12, replicationFactor: 3 })
 * @category layers
 */
export const layerWith = (
  settings: Partial<Settings>
): Layer.Layer<Topics, Errors.StoreUnavailable, KafkaClient> =>
  Layer.unwrap(Effect.map(Effect.orDie(Schema.decodeEffect(Settings)({ ...defaults, ...settings })), build))

const decodeSettings = decodeSettingsAt(Settings, ["kafka", "topics"])

/**
 * The settings from Effect `Config`, under `kafka.topics.*` (`KAFKA_TOPICS_PARTITIONS=12` with
 * `ConfigProvider.constantCase`), each defaulting to `base`.
 */
export const config = (base: Settings = defaults): EffectConfig.Config<Settings> =>
  EffectConfig.all({
    orders: EffectConfig.withDefault(EffectConfig.String("orders"), base.orders),
    carts: EffectConfig.withDefault(EffectConfig.String("carts"), base.carts),
    partitions: EffectConfig.withDefault(EffectConfig.Int("partitions"), base.partitions),
    replicationFactor: EffectConfig.withDefault(
      EffectConfig.Int("replicationFactor"),
      base.replicationFactor
    ),
    provisionTimeoutMs: EffectConfig.withDefault(
      EffectConfig.Int("provisionTimeoutMs"),
      base.provisionTimeoutMs
    )
  }).pipe(EffectConfig.nested("topics"), EffectConfig.nested("kafka"), EffectConfig.mapEffect(decodeSettings))

/**
 * Topics with settings read from `Config` (`config()`), provisioned when the layer is built.
 * @category layers
 */
export const layerConfig = (
  settings: EffectConfig.Config<Settings> = config()
): Layer.Layer<Topics, EffectConfig.ConfigError | Errors.StoreUnavailable, KafkaClient> =>
  Layer.unwrap(Effect.map(settings, build))
