/**
 * Where the embedded world keeps its carts and rate limits, and what `redis-down` does to them.
 *
 * - **With `REDIS_URL`** (read as `till start` reads it): on that Redis, as `till start` keeps
 *   them: `RedisCartStore` and `RedisRateLimitStore` over one `RedisClient`, its clock compressed
 *   like the rest of the world's (breaker open 1.5 s, reconnections backing off to 500 ms at most).
 *   Keys go under `till:sim-<6 hex>:`, removed at the end. When the schedule has a `redis-down`,
 *   the client connects through the simulator's proxy (RedisProxy.ts), which the fault takes down:
 *   the outage the ioredis client sees is a real one (connections reset, reconnections refused),
 *   and its recovery is its own. Everything else stays in memory, since the invariants are read
 *   from the in-memory stores. The world edits carts directly, as embedded `till start` does
 *   (`till start` with `REDIS_URL` sends edits through the cart entity, which needs the cluster);
 *   the store's failures reach the HTTP edge the same way. After the window the client reconnects
 *   by itself (its backoff), and the carts' breaker (`store.cart`, core's `store` policy, which a run of failed
 *   cart calls opens: 1.5 s open in the world, 30 s in production) lets calls through again; the
 *   run measures both (Faults.ts, `Outage`).
 * - **Without**: the testkit's in-memory stores, and `redis-down` makes the cart store fail
 *   `StoreUnavailable` for the window, as the Redis adapter fails while disconnected (at once: no
 *   offline queue); rate limits keep answering, as the adapter's per-instance fallback does. Why
 *   not refuse the fault: what the runtime answers when its carts cannot be reached (503 with
 *   `Retry-After`, no order without a claimed cart) does not depend on the store, and this checks
 *   it on a bare machine. What it cannot show is ioredis reconnecting: for that, set `REDIS_URL`.
 *
 * A `--target` run has no world here: the fault is refused (Options.ts), since the simulator cannot
 * stand between another process and its Redis.
 */
import type * as RedisAdapters from "@till/adapters/redis"
import { CartStore, Errors, type RateLimitStore } from "@till/core"
import { InMemoryCartStore } from "@till/testkit"
import { Duration, Effect, Layer, Redacted, type Scope } from "effect"
import { randomBytes } from "node:crypto"
import type * as Faults from "./Faults.js"
import { SimulateRefused } from "./Options.js"
import * as RedisProxy from "./RedisProxy.js"

export interface Redis {
  /** Where the carts and rate limits are. */
  readonly store: "redis" | "in-memory"
  /** The world's cart and rate-limit stores (undefined: the testkit's own). */
  readonly cartStore: Layer.Layer<CartStore.CartStore> | undefined
  readonly rateLimitStore: Layer.Layer<RateLimitStore.RateLimitStore> | undefined
  /** Takes Redis down; says what that did (for the run's notes). */
  readonly down: Effect.Effect<string>
  /** Brings it back. */
  readonly up: Effect.Effect<void>
  /** Whether carts can be reached now (with Redis: the client is connected and ready). */
  readonly ready: Effect.Effect<boolean>
  /** The proxy's counts (null without one). */
  readonly counts: () => RedisProxy.Counts | null
}

/** Keys a run's cleanup deletes at most (a bound, not an expectation: a run writes far fewer). */
export const maxCleanupKeys = 10_000_000
/** Longest the cleanup may take at the end of a run. */
export const cleanupTimeoutMs = 10_000

/** The world's Redis settings on the simulator's compressed clock (the rest: RedisClient.defaults). */
const compressed = { breakerOpenMs: 1_500, reconnectMaxDelayMs: 500 } as const

/** The ioredis connection a `RedisClient.call` hands its command. */
type Connection = Parameters<Parameters<RedisAdapters.RedisClient.RedisClient["Service"]["call"]>[1]>[0]

const hasRedisDown = (faults: ReadonlyArray<Faults.Fault>) => faults.some((f) => f.kind === "redis-down")

/**
 * The in-memory carts; when `faulted`, the testkit's store behind a switch that makes every call
 * fail as a disconnected Redis does (else the testkit's own store, untouched).
 */
const inMemory = (faulted: boolean): Redis => {
  let isDown = false
  const gate = <A>(call: Effect.Effect<A, Errors.StoreUnavailable>) =>
    Effect.suspend(() =>
      isDown
        ? Effect.fail(
            new Errors.StoreUnavailable({
              store: "cart",
              reason: "redis is down (simulated, in-memory carts)"
            })
          )
        : call
    )
  const cartStore = Layer.effect(
    CartStore.CartStore,
    Effect.map(InMemoryCartStore.make(), (inner) =>
      CartStore.CartStore.of({
        get: (cartId) => gate(inner.get(cartId)),
        insert: (cart, ttlMs) => gate(inner.insert(cart, ttlMs)),
        update: (next, expectedVersion, ttlMs) => gate(inner.update(next, expectedVersion, ttlMs)),
        incrementViews: (cartId) => gate(inner.incrementViews(cartId)),
        idleSince: (idleForMs, limit) => gate(inner.idleSince(idleForMs, limit)),
        forgetIdle: (idle) => gate(inner.forgetIdle(idle))
      })
    )
  )
  return {
    store: "in-memory",
    cartStore: faulted ? cartStore : undefined,
    rateLimitStore: undefined,
    down: Effect.sync(() => {
      isDown = true
      return "every cart call fails StoreUnavailable (in-memory carts: set REDIS_URL for a real Redis)"
    }),
    up: Effect.sync(() => {
      isDown = false
    }),
    ready: Effect.sync(() => !isDown),
    counts: () => null
  }
}

/** Where `url` points, or why the proxy cannot stand in front of it. */
const upstreamOf = (url: string): { host: string; port: number } | string => {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    return "REDIS_URL is not a URL"
  }
  if (parsed.protocol !== "redis:")
    return `redis-down needs a redis:// REDIS_URL, not ${parsed.protocol}// (the simulator's proxy sits in the TCP stream: TLS would check the certificate against the proxy's address)`
  return { host: parsed.hostname.replace(/^\[(.*)\]$/, "$1"), port: Number(parsed.port || 6379) }
}

/** `url` with its host and port replaced by the proxy's (credentials and database kept). */
const throughProxy = (url: string, port: number): string => {
  const parsed = new URL(url)
  parsed.hostname = "127.0.0.1"
  parsed.port = String(port)
  return parsed.toString()
}

const refused = (reason: string) => new SimulateRefused({ reason: `till simulate: ${reason}` })

/** Deletes the keys under `prefix` (SCAN, then UNLINK each page), at most `maxCleanupKeys`. */
const deleteUnder = async (redis: Connection, prefix: string) => {
  let cursor = "0"
  let deleted = 0
  do {
    const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 1_000)
    if (keys.length > 0) deleted += await redis.unlink(...keys)
    cursor = next
  } while (cursor !== "0" && deleted < maxCleanupKeys)
  return deleted
}

/** The Redis of `url`, through a proxy when `faults` take it down; its keys deleted with the scope. */
const onRedis = (
  url: Redacted.Redacted<string>,
  faults: ReadonlyArray<Faults.Fault>
): Effect.Effect<Redis, SimulateRefused, Scope.Scope> =>
  Effect.gen(function* () {
    const upstream = hasRedisDown(faults) ? upstreamOf(Redacted.value(url)) : undefined
    if (typeof upstream === "string") return yield* Effect.fail(refused(upstream))
    // Loaded only here: an in-memory run never loads ioredis (as Ports.ts does for `till start`).
    const { RedisCartStore, RedisClient, RedisRateLimitStore } = yield* Effect.promise(
      () => import("@till/adapters/redis")
    )
    let proxy: RedisProxy.Proxy | undefined
    let connectTo = Redacted.value(url)
    if (upstream !== undefined) {
      proxy = yield* Effect.mapError(RedisProxy.open(upstream), (e) =>
        refused(`the Redis proxy could not listen on 127.0.0.1: ${e.reason}`)
      )
      connectTo = throughProxy(connectTo, proxy.port)
    }
    const keyPrefix = `till:sim-${randomBytes(3).toString("hex")}:`
    const client = yield* Effect.mapError(
      RedisClient.make({ ...RedisClient.defaults, ...compressed, url: Redacted.make(connectTo), keyPrefix }),
      (e) => refused(`REDIS_URL: ${e.reason}`)
    )
    yield* Effect.addFinalizer(() =>
      Effect.gen(function* () {
        if (proxy !== undefined) yield* proxy.up
        yield* waitReady(client.status, 3_000)
        yield* client.call("cleanup", (redis) => deleteUnder(redis, keyPrefix))
      }).pipe(Effect.timeout(Duration.millis(cleanupTimeoutMs)), Effect.ignore)
    )
    const withClient = Layer.succeed(RedisClient.RedisClient, client)
    return {
      store: "redis",
      cartStore: Layer.provide(RedisCartStore.layer, withClient),
      rateLimitStore: Layer.provide(RedisRateLimitStore.layer, withClient),
      down:
        proxy === undefined
          ? Effect.die(new Error("redis-down without the proxy (a simulate bug)"))
          : Effect.map(
              proxy.down,
              (dropped) =>
                `the proxy reset ${dropped} connection${dropped === 1 ? "" : "s"} to Redis and refuses new ones`
            ),
      up: proxy === undefined ? Effect.void : proxy.up,
      ready: Effect.map(client.status, (status) => status === "ready"),
      counts: () => proxy?.counts() ?? null
    } satisfies Redis
  })

/** Waits until `status` says ready, at most `timeoutMs`; whether it did. */
const waitReady = (status: Effect.Effect<string>, timeoutMs: number): Effect.Effect<boolean> =>
  Effect.gen(function* () {
    const untilMs = Date.now() + timeoutMs
    while (Date.now() < untilMs) {
      if ((yield* status) === "ready") return true
      yield* Effect.sleep(20)
    }
    return false
  })

/**
 * The world's carts and rate limits: on the Redis of `url` when given (through the proxy when
 * `faults` take it down), else in memory.
 */
export const open = (
  url: Redacted.Redacted<string> | undefined,
  faults: ReadonlyArray<Faults.Fault>
): Effect.Effect<Redis, SimulateRefused, Scope.Scope> =>
  url === undefined ? Effect.succeed(inMemory(hasRedisDown(faults))) : onRedis(url, faults)
