/**
 * The Redis adapter's failure behaviour, on a redis-server this file starts itself on a free port
 * (no persistence) and stops, pauses and restarts by its pid: carts answer `StoreUnavailable`
 * (503) at once while Redis is down, rate limits fall back to the instance's bounded limiter,
 * a hung Redis costs one command timeout per call until the breaker opens, and the same client
 * reconnects by itself when Redis is back. Real time throughout (`it.live`): these are the clocks
 * of a real outage. Needs the tests' Redis to be installed (the same gate as the other Redis
 * suites) and the redis-server binary.
 */
import { describe, expect, it } from "@effect/vitest"
import { RedisCartStore, RedisClient, RedisRateLimitStore } from "@till/adapters/redis"
import { CartStore, Carts, Catalog, Errors, Ids, Money, RateLimiter, Resilience, Sku } from "@till/core"
import { InMemoryCatalog } from "@till/testkit"
import { Duration, Effect, Exit, Layer, Redacted, Result } from "effect"
import { Redis } from "ioredis"
import { afterAll, beforeAll, beforeEach } from "vitest"
import { type OwnRedis, ownRedis } from "./support/redis.js"
import { describeService } from "./support/services.js"

const elapsedMs = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function* () {
    const started = performance.now()
    const result = yield* Effect.result(effect)
    return { result, ms: performance.now() - started }
  })

/** Polls `effect` every 100 ms until it succeeds, at most `withinMs`; the time it took. */
const eventually = <A, E, R>(effect: Effect.Effect<A, E, R>, withinMs: number) =>
  Effect.gen(function* () {
    const started = performance.now()
    while (performance.now() - started < withinMs) {
      const exit = yield* Effect.exit(effect)
      if (Exit.isSuccess(exit)) return performance.now() - started
      yield* Effect.sleep(Duration.millis(100))
    }
    return yield* Effect.die(new Error(`still failing after ${withinMs} ms`))
  })

const unavailable = <A, E>(result: Result.Result<A, E>) =>
  Result.isFailure(result) && (result.failure as { _tag?: string })._tag === "StoreUnavailable"

await describeService("redis", "Redis outages (own redis-server)", () => {
  let server: OwnRedis
  beforeAll(async () => {
    server = await ownRedis()
    await server.start()
  })
  // A case that failed half-way may have left it stopped.
  beforeEach(() => server.start())
  afterAll(async () => {
    await server.stop()
  })

  const client = (settings: Partial<RedisClient.Settings>) =>
    RedisClient.layerWith({ url: Redacted.make(server.url), keyPrefix: "outage:", ...settings })

  /** One instance: Carts and the rate limiter (checkout 3/min) on the own server's stores. */
  const instance = (settings: Partial<RedisClient.Settings>) =>
    Layer.mergeAll(Carts.layer, RateLimiter.layerWith({ checkout: { limit: 3, windowMs: 60_000 } })).pipe(
      Layer.provideMerge(
        Layer.mergeAll(RedisCartStore.layer, RedisRateLimitStore.layer).pipe(
          Layer.provideMerge(client(settings))
        )
      ),
      Layer.provideMerge(Layer.mergeAll(InMemoryCatalog.layer, Ids.layer, Resilience.layer))
    )

  const mug = new Catalog.Product({ sku: Sku.make("mug"), name: "Mug", price: Money.make(1_200, "USD") })

  describe("RedisClient", () => {
    it.live(
      "Redis restarted mid-test: cart calls fail at once while it is down, rate limits fall back (bounded), and the same client reconnects by itself",
      () =>
        Effect.gen(function* () {
          yield* Effect.flatMap(Catalog.Catalog, (c) => c.upsert(mug))
          const carts = yield* Carts.Carts
          const limiter = yield* RateLimiter.RateLimiter
          const cart = yield* carts.create("user_1")
          yield* carts.addItem("user_1", cart.cart_id, mug.sku, 1)
          yield* limiter.check("checkout", "user_1")

          yield* Effect.promise(() => server.stop())
          // The store refuses at once: no offline queue, no wait for the (5 s) command timeout.
          const store = yield* CartStore.CartStore
          for (let i = 0; i < 5; i++) {
            const { result, ms } = yield* elapsedMs(store.get(cart.cart_id))
            expect(unavailable(result)).toBe(true)
            expect(ms).toBeLessThan(50)
          }
          // Through Carts, a read is retried by the core store policy (100 + 500 ms of backoff), a
          // write is sent once: a 503 either way, long before any timeout.
          const read = yield* elapsedMs(carts.addItem("user_1", cart.cart_id, mug.sku, 1))
          expect(unavailable(read.result)).toBe(true)
          expect(read.ms).toBeLessThan(1_500)
          const created = yield* elapsedMs(carts.create("user_1"))
          expect(unavailable(created.result)).toBe(true)
          expect(created.ms).toBeLessThan(50)
          expect(Errors.httpStatus.StoreUnavailable).toBe(503)
          // Limits while down: this instance's own count, from empty: 3 admitted, then 429s, no 503.
          const checks = yield* Effect.forEach(Array.from({ length: 6 }), () =>
            Effect.result(limiter.check("checkout", "user_2"))
          )
          expect(checks.map((r) => (Result.isSuccess(r) ? "ok" : r.failure._tag))).toEqual([
            "ok",
            "ok",
            "ok",
            "RateLimited",
            "RateLimited",
            "RateLimited"
          ])

          const fallbacksBefore = RedisRateLimitStore.script.evalFallbacks()
          yield* Effect.promise(() => server.start())
          // Reconnection is ioredis's own (no new client): at most reconnectMaxDelayMs + a connect.
          const backAfterMs = yield* eventually(carts.create("user_1"), 5_000)
          expect(backAfterMs).toBeLessThan(2_000)
          // The new server holds no script: the first check after the restart falls back to EVAL.
          yield* limiter.check("checkout", "user_3")
          expect(RedisRateLimitStore.script.evalFallbacks()).toBeGreaterThan(fallbacksBefore)
          const raw = new Redis(server.url)
          const counted = yield* Effect.promise(() => raw.zcard("outage:rl:rl:checkout:user_3"))
          yield* Effect.promise(() => raw.quit())
          expect(counted).toBe(1)
        }).pipe(
          Effect.provide(instance({ commandTimeoutMs: 5_000, reconnectMaxDelayMs: 200 }), { local: true })
        ),
      20_000
    )

    it.live(
      "a hung Redis (SIGSTOP): each call ends at the command timeout until the breaker opens, then at once; after SIGCONT calls succeed again",
      () =>
        Effect.gen(function* () {
          const carts = yield* Carts.Carts
          const limiter = yield* RateLimiter.RateLimiter
          const store = yield* CartStore.CartStore
          const cart = yield* carts.create("user_1")
          server.pause()
          try {
            const timedOut = yield* Effect.forEach(Array.from({ length: 3 }), () =>
              elapsedMs(store.get(cart.cart_id))
            )
            for (const { result, ms } of timedOut) {
              expect(unavailable(result)).toBe(true)
              expect(ms).toBeGreaterThanOrEqual(250)
              expect(ms).toBeLessThan(1_000) // the command timeout (300 ms), never the outage's length
            }
            // 3 failures of the window's 4 calls (the create succeeded): the breaker is open, calls are
            // refused without a round trip.
            const refused = yield* elapsedMs(store.get(cart.cart_id))
            expect(unavailable(refused.result)).toBe(true)
            expect(refused.ms).toBeLessThan(100)
            expect(
              String((refused.result as Result.Failure<unknown, Errors.StoreUnavailable>).failure.reason)
            ).toContain("breaker open")
            // A rate-limit check is answered by the fallback at once too.
            const check = yield* elapsedMs(limiter.check("checkout", "user_4"))
            expect(Result.isSuccess(check.result)).toBe(true)
            expect(check.ms).toBeLessThan(100)
          } finally {
            server.resume()
          }
          // Probes go through once the breaker's open time (1 s) is over.
          yield* eventually(carts.get("user_1", cart.cart_id), 5_000)
        }).pipe(
          Effect.provide(instance({ commandTimeoutMs: 300, breakerMinimumCalls: 4, breakerOpenMs: 1_000 }), {
            local: true
          })
        ),
      20_000
    )

    it.live("a client whose Redis does not answer at startup fails its layer with StoreUnavailable", () =>
      Effect.gen(function* () {
        const { result, ms } = yield* elapsedMs(
          Layer.build(
            RedisClient.layerWith({ url: Redacted.make("redis://127.0.0.1:1/0"), connectTimeoutMs: 500 })
          ).pipe(Effect.scoped)
        )
        expect(unavailable(result)).toBe(true)
        expect(ms).toBeLessThan(2_000)
      })
    )
  })
})
