/**
 * The Redis connection Till's Redis stores share: one ioredis client (Redis multiplexes every
 * command of a process over one connection; a pool would only add sockets), and the rules every
 * command of the stores follows.
 *
 * Failure behaviour, decided here once for every store on the connection:
 * - **A timeout on every command** (`commandTimeoutMs`, 1 s, under the core `store` policy's 2 s so
 *   the adapter's own, clearer answer comes first): a Redis that accepts and never answers (a hung
 *   server, a network that drops packets) fails the call instead of hanging it.
 * - **Fail fast while disconnected**: `enableOfflineQueue: false`, and a call is refused before it
 *   is sent while the client is not `ready`. ioredis's default would queue commands while it
 *   reconnects and send them later: a request would hang for the outage, then act on a state its
 *   caller stopped waiting for. Commands in flight when the connection drops are failed, never
 *   resent (`maxRetriesPerRequest: 0`, `autoResendUnfulfilledCommands: false`): a rate-limit check
 *   sent twice would count twice.
 * - **A breaker on every call** (core's `CircuitBreaker`, one per connection: the connection is
 *   the failure domain): timeouts and transient errors at 50 % of a 10 s window open it for
 *   `breakerOpenMs`, and calls then fail at once instead of each waiting its timeout. A refused
 *   disconnected call does not count: it costs nothing already, and counting it would keep the
 *   breaker open after Redis is back.
 * - **Reconnects by itself**: ioredis's `retryStrategy`, 50 ms doubling up to
 *   `reconnectMaxDelayMs`, for ever; the first call after `ready` goes through.
 *
 * Every failure is `Errors.StoreUnavailable` naming the store (503 at the HTTP edge); an error
 * reply that is a bug (a broken script, WRONGTYPE) is a defect (internal/redisErrors.ts). Building
 * the layer waits for the first connection (at most `connectTimeoutMs`) and fails if there is
 * none: an instance that starts without its Redis says so at once instead of answering 503s.
 *
 * @example
 * const redis = RedisClient.layerWith({ url: Redacted.make("redis://cache:6379/0"), keyPrefix: "shop:" })
 */
import { CircuitBreaker, Errors } from "@till/core"
import { Redis } from "ioredis"
import { Context, Effect, Config as EffectConfig, Layer, Redacted, Schema, type Scope } from "effect"
import { fromRejection } from "./internal/redisErrors.js"
import { decodeSettings as decodeSettingsAt } from "../internal/decodeSettings.js"

const Millis = (maximum: number) => Schema.Int.check(Schema.isBetween({ minimum: 1, maximum }))

/** Connection settings; every duration in milliseconds. */
export const Settings = Schema.Struct({
  /** `redis://[user:password@]host:port/db` (a secret: it may hold the password). */
  url: Schema.Redacted(Schema.String),
  /** Put before every key Till writes (`till:cart:…`), so one Redis can serve several apps. */
  keyPrefix: Schema.String.check(
    Schema.isPattern(/^[A-Za-z0-9:_.{}-]{0,64}$/, {
      message: "keyPrefix: at most 64 of A-Z a-z 0-9 : _ . { } -"
    })
  ),
  /** Longest wait to open a connection (ioredis `connectTimeout`). */
  connectTimeoutMs: Millis(60_000),
  /** Longest wait for any command's reply (ioredis `commandTimeout`). */
  commandTimeoutMs: Millis(60_000),
  /** Longest pause between two reconnection attempts (they start at 50 ms and double). */
  reconnectMaxDelayMs: Millis(60_000),
  /** How long the breaker stays open before it lets probes through. */
  breakerOpenMs: Millis(600_000),
  /** Calls the breaker's 10 s window must hold before it judges the failure rate. */
  breakerMinimumCalls: Millis(10_000)
})
export type Settings = typeof Settings.Type

/** Local Redis, prefix `till:`, 5 s to connect, 1 s per command, breaker open 5 s. */
export const defaults: Settings = {
  url: Redacted.make("redis://127.0.0.1:6379/0"),
  keyPrefix: "till:",
  connectTimeoutMs: 5_000,
  commandTimeoutMs: 1_000,
  reconnectMaxDelayMs: 2_000,
  breakerOpenMs: 5_000,
  breakerMinimumCalls: 20
}

export class RedisClient extends Context.Service<
  RedisClient,
  {
    readonly settings: Settings
    /** `settings.keyPrefix`: every key of the stores starts with it. */
    readonly keyPrefix: string
    /**
     * Sends what `send` sends (one command or script, its promise) under the breaker; a refusal, a
     * timeout or a transient error reply is `StoreUnavailable` naming `store`.
     * @example client.call("cart", (redis) => redis.hget(key, "doc"))
     */
    readonly call: <A>(
      store: string,
      send: (redis: Redis) => Promise<A>
    ) => Effect.Effect<A, Errors.StoreUnavailable>
    /** ioredis's connection status: "ready" while commands are sent. */
    readonly status: Effect.Effect<string>
    readonly breaker: CircuitBreaker.Service
  }
>()("@till/adapters/redis/RedisClient") {}

/** The ioredis options of `settings` (exported for a caller who opens a client of its own alike). */
export const clientOptions = (settings: Settings) =>
  ({
    lazyConnect: true,
    connectTimeout: settings.connectTimeoutMs,
    commandTimeout: settings.commandTimeoutMs,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    retryStrategy: (attempt: number) =>
      Math.min(settings.reconnectMaxDelayMs, 50 * 2 ** Math.min(attempt, 16)),
    connectionName: "till"
  }) as const

const open = (
  settings: Settings
): Effect.Effect<{ redis: Redis; lastError: () => string }, Errors.StoreUnavailable> =>
  Effect.tryPromise({
    try: async () => {
      const redis = new Redis(Redacted.value(settings.url), clientOptions(settings))
      let last = ""
      // Every failure also rejects the command it hit; the event only keeps the latest cause for
      // the reason of the calls refused while reconnecting (and spares the "unhandled error" log).
      redis.on("error", (error: Error) => {
        last = error.message.slice(0, 200)
      })
      try {
        await redis.connect()
      } catch (error) {
        redis.disconnect()
        throw error
      }
      return { redis, lastError: () => last }
    },
    catch: (error) =>
      new Errors.StoreUnavailable({
        store: "redis",
        reason: `could not connect: ${error instanceof Error ? error.message : String(error)}`
      })
  })

/** A command's rejection, as a value (see `send`). */
class Rejected {
  constructor(readonly error: unknown) {}
}
const rejected = (error: unknown) => new Rejected(error)

/** `quit` lets replies in flight arrive (bounded by the command timeout); `disconnect` ends it regardless. */
const close = (redis: Redis): Effect.Effect<void> =>
  Effect.promise(() => redis.quit().catch(() => "")).pipe(
    Effect.ensuring(Effect.sync(() => redis.disconnect()))
  )

/** A client on `settings`, closed with the scope. */
export const make: (
  settings: Settings
) => Effect.Effect<RedisClient["Service"], Errors.StoreUnavailable, Scope.Scope> = Effect.fn(
  "RedisClient.make"
)(function* (settings: Settings) {
  const { redis, lastError } = yield* Effect.acquireRelease(open(settings), ({ redis }) => close(redis))
  const breaker = yield* CircuitBreaker.make({
    name: "redis",
    slidingWindowType: "timeBased",
    slidingWindowSize: 10,
    minimumNumberOfCalls: settings.breakerMinimumCalls,
    failureRateThreshold: 50,
    slowCallRateThreshold: 100,
    slowCallDurationThresholdMs: settings.commandTimeoutMs,
    waitDurationInOpenStateMs: settings.breakerOpenMs,
    permittedNumberOfCallsInHalfOpenState: 3
  })

  // The command's promise never rejects (a rejection becomes a `Rejected`), so the success path is
  // one `Effect.promise` and a check; no closure is bound to a name per call (tsx's keepNames wraps
  // each such closure). Measured at concurrency 64: about a third cheaper than `Effect.callback`.
  const send = <A>(store: string, command: (redis: Redis) => Promise<A>) =>
    Effect.flatMap(
      Effect.promise(() => command(redis).then(undefined, rejected)),
      (reply): Effect.Effect<A, Errors.StoreUnavailable> =>
        reply instanceof Rejected ? fromRejection(store, reply.error) : Effect.succeed(reply)
    )

  const breakerOpen = (store: string) =>
    Effect.fail(new Errors.StoreUnavailable({ store, reason: "redis circuit breaker open" }))

  const call = <A>(store: string, command: (redis: Redis) => Promise<A>) =>
    Effect.suspend((): Effect.Effect<A, Errors.StoreUnavailable> => {
      if (redis.status !== "ready") {
        const cause = lastError()
        return Effect.fail(
          new Errors.StoreUnavailable({
            store,
            reason: `redis is ${redis.status}${cause === "" ? "" : ` (last error: ${cause})`}`
          })
        )
      }
      return Effect.catchTag(breaker.execute(send(store, command)), "CallNotPermitted", () =>
        breakerOpen(store)
      )
    })

  return RedisClient.of({
    settings,
    keyPrefix: settings.keyPrefix,
    call,
    status: Effect.sync(() => redis.status),
    breaker
  })
})

const build = (settings: Settings): Layer.Layer<RedisClient, Errors.StoreUnavailable> =>
  Layer.effect(RedisClient, make(settings))

/**
 * The client with the defaults (`redis://127.0.0.1:6379/0`, prefix `till:`).
 * @category layers
 */
export const layer: Layer.Layer<RedisClient, Errors.StoreUnavailable> = build(defaults)

/**
 * The client with settings given in code, each defaulting to `defaults`; an invalid value is a
 * defect when the layer is built.
 * @example RedisClient.layerWith({ url: Redacted.make("redis://cache:6379/0"), commandTimeoutMs: 500 })
 * @category layers
 */
export const layerWith = (settings: Partial<Settings>): Layer.Layer<RedisClient, Errors.StoreUnavailable> =>
  Layer.unwrap(Effect.map(Effect.orDie(Schema.decodeEffect(Settings)({ ...defaults, ...settings })), build))

const decodeSettings = decodeSettingsAt(Settings, ["redis"])

/**
 * The settings from Effect `Config`: the URL from `REDIS_URL`, the rest under `redis.*`
 * (`REDIS_COMMAND_TIMEOUT_MS=500` with `ConfigProvider.constantCase`), each defaulting to `base`.
 */
export const config = (base: Settings = defaults): EffectConfig.Config<Settings> =>
  EffectConfig.all({
    url: EffectConfig.withDefault(EffectConfig.Redacted("REDIS_URL"), base.url),
    rest: EffectConfig.all({
      keyPrefix: EffectConfig.withDefault(EffectConfig.String("keyPrefix"), base.keyPrefix),
      connectTimeoutMs: EffectConfig.withDefault(EffectConfig.Int("connectTimeoutMs"), base.connectTimeoutMs),
      commandTimeoutMs: EffectConfig.withDefault(EffectConfig.Int("commandTimeoutMs"), base.commandTimeoutMs),
      reconnectMaxDelayMs: EffectConfig.withDefault(
        EffectConfig.Int("reconnectMaxDelayMs"),
        base.reconnectMaxDelayMs
      ),
      breakerOpenMs: EffectConfig.withDefault(EffectConfig.Int("breakerOpenMs"), base.breakerOpenMs),
      breakerMinimumCalls: EffectConfig.withDefault(
        EffectConfig.Int("breakerMinimumCalls"),
        base.breakerMinimumCalls
      )
    }).pipe(EffectConfig.nested("redis"))
  }).pipe(EffectConfig.mapEffect(({ url, rest }) => decodeSettings({ ...rest, url })))

/**
 * The client with settings read from `Config` (`config()`): an invalid value fails the layer at
 * startup with a `ConfigError` naming the key.
 * @category layers
 */
export const layerConfig = (
  settings: EffectConfig.Config<Settings> = config()
): Layer.Layer<RedisClient, EffectConfig.ConfigError | Errors.StoreUnavailable> =>
  Layer.unwrap(Effect.map(settings, build))
