/**
 * The Kafka client Till's producer, admin and consumers share: one kafkajs `Kafka` instance (it
 * holds no connection itself; each producer, admin and consumer opens its own) and the settings
 * every Kafka call of the adapter is bounded by.
 *
 * - `connectionTimeoutMs` bounds opening a connection, `requestTimeoutMs` every request to a
 *   broker (kafkajs's `enforceRequestTimeout`), and the adapter also bounds each whole call
 *   (a connect, a send, a provisioning) with an Effect timeout, since kafkajs retries inside a
 *   call (an idempotent producer retries a send for ever).
 * - kafkajs logs through its own logger; `logLevel` picks what it prints (`error` by default:
 *   a broker going away is reported by the calls that fail, as `StoreUnavailable`).
 *
 * @example
 * const kafka = KafkaClient.layerWith({ brokers: ["kafka-1:9092", "kafka-2:9092"], clientId: "shop" })
 */
import { Errors } from "@till/core"
import { Context, Effect, Config as EffectConfig, Layer, Schema } from "effect"
import { Kafka, logLevel as KafkaLogLevel } from "kafkajs"
import { decodeSettings as decodeSettingsAt } from "../internal/decodeSettings.js"

const Millis = (maximum: number) => Schema.Int.check(Schema.isBetween({ minimum: 1, maximum }))

export const LogLevel = Schema.Literals(["nothing", "error", "warn", "info", "debug"])
export type LogLevel = typeof LogLevel.Type

/** Client settings; every duration in milliseconds. */
export const Settings = Schema.Struct({
  /** `host:port` of the bootstrap brokers (at least one, at most 64). */
  brokers: Schema.Array(
    Schema.String.check(Schema.isPattern(/^[A-Za-z0-9.\-_[\]:]{1,255}:\d{1,5}$/, { message: "host:port" }))
  ).check(Schema.isMinLength(1), Schema.isMaxLength(64)),
  /** The client id brokers log and quota by. */
  clientId: Schema.String.check(
    Schema.isPattern(/^[A-Za-z0-9._-]{1,64}$/, { message: "clientId: 1-64 of A-Z a-z 0-9 . _ -" })
  ),
  /** Longest wait to open a connection to a broker. */
  connectionTimeoutMs: Millis(60_000),
  /** Longest wait for a broker's answer to one request. */
  requestTimeoutMs: Millis(300_000),
  /** Longest pause between two of kafkajs's retries of a request or a reconnection (they start at 100 ms). */
  retryMaxDelayMs: Millis(60_000),
  /** What kafkajs's own logger prints. */
  logLevel: LogLevel
})
export type Settings = typeof Settings.Type

/**
 * Local broker, client `till`, 3 s to connect, 30 s per request, retries at most 5 s apart (kafkajs's
 * 30 s would leave a producer idle for half a minute after its broker came back), errors logged.
 */
export const defaults: Settings = {
  brokers: ["127.0.0.1:9092"],
  clientId: "till",
  connectionTimeoutMs: 3_000,
  requestTimeoutMs: 30_000,
  retryMaxDelayMs: 5_000,
  logLevel: "error"
}

export class KafkaClient extends Context.Service<
  KafkaClient,
  {
    readonly settings: Settings
    readonly kafka: Kafka
    /**
     * `run`'s promise bounded by `timeoutMs`; a rejection or the timeout is `StoreUnavailable`
     * (store `kafka`) saying `what` failed.
     * @example client.call("connect the producer", 5_000, () => producer.connect())
     */
    readonly call: <A>(
      what: string,
      timeoutMs: number,
      run: () => Promise<A>
    ) => Effect.Effect<A, Errors.StoreUnavailable>
  }
>()("@till/adapters/kafka/KafkaClient") {}

const levels: Record<LogLevel, KafkaLogLevel> = {
  nothing: KafkaLogLevel.NOTHING,
  error: KafkaLogLevel.ERROR,
  warn: KafkaLogLevel.WARN,
  info: KafkaLogLevel.INFO,
  debug: KafkaLogLevel.DEBUG
}

/** A short, single-line reason from whatever kafkajs threw. */
export const reasonOf = (error: unknown): string => {
  const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error)
  return text.replace(/\s+/g, " ").slice(0, 500)
}

/** `run` under a timeout, its failure as `StoreUnavailable` (shared by every Kafka module). */
export const call = <A>(
  what: string,
  timeoutMs: number,
  run: () => Promise<A>
): Effect.Effect<A, Errors.StoreUnavailable> =>
  Effect.tryPromise({
    try: run,
    catch: (error) => new Errors.StoreUnavailable({ store: "kafka", reason: `${what}: ${reasonOf(error)}` })
  }).pipe(
    Effect.timeoutOrElse({
      duration: timeoutMs,
      orElse: () =>
        Effect.fail(
          new Errors.StoreUnavailable({ store: "kafka", reason: `${what}: no answer within ${timeoutMs} ms` })
        )
    })
  )

/** The client on `settings` (no connection is opened until a producer, admin or consumer connects). */
export const make = (settings: Settings): Effect.Effect<KafkaClient["Service"]> =>
  Effect.sync(() =>
    KafkaClient.of({
      settings,
      kafka: new Kafka({
        brokers: [...settings.brokers],
        clientId: settings.clientId,
        connectionTimeout: settings.connectionTimeoutMs,
        requestTimeout: settings.requestTimeoutMs,
        enforceRequestTimeout: true,
        retry: { initialRetryTime: 100, maxRetryTime: settings.retryMaxDelayMs },
        logLevel: levels[settings.logLevel]
      }),
      call
    })
  )

const build = (settings: Settings): Layer.Layer<KafkaClient> => Layer.effect(KafkaClient, make(settings))

/**
 * The client with the defaults (`127.0.0.1:9092`, client id `till`).
 * @category layers
 */
export const layer: Layer.Layer<KafkaClient> = build(defaults)

/**
 * The client with settings given in code, each defaulting to `defaults`; an invalid value is a
 * defect when the layer is built.
 * @example KafkaClient.layerWith({ brokers: ["kafka:9092"], requestTimeoutMs: 10_000 })
 * @category layers
 */
export const layerWith = (settings: Partial<Settings>): Layer.Layer<KafkaClient> =>
  Layer.unwrap(Effect.map(Effect.orDie(Schema.decodeEffect(Settings)({ ...defaults, ...settings })), build))

const decodeSettings = decodeSettingsAt(Settings, ["kafka"])

/**
 * The settings from Effect `Config`: the brokers from `KAFKA_BROKERS` (comma-separated), the rest
 * under `kafka.*` (`KAFKA_REQUEST_TIMEOUT_MS=10000` with `ConfigProvider.constantCase`), each
 * defaulting to `base`.
 */
export const config = (base: Settings = defaults): EffectConfig.Config<Settings> =>
  EffectConfig.all({
    brokers: EffectConfig.withDefault(EffectConfig.String("KAFKA_BROKERS"), base.brokers.join(",")),
    rest: EffectConfig.all({
      clientId: EffectConfig.withDefault(EffectConfig.String("clientId"), base.clientId),
      connectionTimeoutMs: EffectConfig.withDefault(
        EffectConfig.Int("connectionTimeoutMs"),
        base.connectionTimeoutMs
      ),
      requestTimeoutMs: EffectConfig.withDefault(EffectConfig.Int("requestTimeoutMs"), base.requestTimeoutMs),
      retryMaxDelayMs: EffectConfig.withDefault(EffectConfig.Int("retryMaxDelayMs"), base.retryMaxDelayMs),
      logLevel: EffectConfig.withDefault(EffectConfig.String("logLevel"), base.logLevel)
    }).pipe(EffectConfig.nested("kafka"))
  }).pipe(
    EffectConfig.mapEffect(({ brokers, rest }) =>
      decodeSettings({
        ...rest,
        brokers: brokers
          .split(",")
          .map((b) => b.trim())
          .filter((b) => b !== "")
      })
    )
  )

/**
 * The client with settings read from `Config` (`config()`): an invalid value fails the layer at
 * startup with a `ConfigError` naming the key.
 * @category layers
 */
export const layerConfig = (
  settings: EffectConfig.Config<Settings> = config()
): Layer.Layer<KafkaClient, EffectConfig.ConfigError> => Layer.unwrap(Effect.map(settings, build))
