/**
 * The Redis stores beyond their port contracts, on the real Redis (keys under this run's prefix):
 * exact rate limits under 1,000 concurrent checks (beside the seed's GET-then-SET, which
 * over-admits on the same server), two Carts instances writing one cart, the abandonment index,
 * bad input at the boundary, and a checkout on Redis carts and limits that leaves no card number in
 * any key or value. Skipped (with a message) when Redis is not running locally; a failure under CI=true.
 */
import { describe, expect, it } from "@effect/vitest"
import { RedisCartStore, RedisClient, RedisRateLimitStore } from "@till/adapters/redis"
import {
  Address,
  Cart,
  CartStore,
  Carts,
  Catalog,
  Checkout,
  Ids,
  Money,
  Payments,
  RateLimitStore,
  Resilience,
  Sku
} from "@till/core"
import { FakePaymentGateway, InMemoryCatalog, TestTill } from "@till/testkit"
import { Cause, ConfigProvider, Effect, Exit, Layer, Option, Result, Schema } from "effect"
import { TestClock } from "effect/testing"
import * as fc from "fast-check"
import { afterAll } from "vitest"
import {
  clientLayer,
  dumpRunKeys,
  deleteRunKeys,
  rateLimitStore,
  rawClient,
  runPrefix
} from "./support/redis.js"
import { describeService } from "./support/services.js"

const minuteMs = 60_000
const hourMs = 60 * minuteMs

/** The seed's limiter on the same Redis: GET the count, then SET it plus one. Never use it. */
const getThenSet = async (
  redis: ReturnType<typeof rawClient>,
  key: string,
  limit: number,
  windowMs: number
) => {
  const count = Number((await redis.get(key)) ?? 0)
  if (count + 1 > limit) return false
  await redis.set(key, count + 1, "PX", windowMs)
  return true
}

const address = Schema.decodeUnknownSync(Address.Address)({
  name: "Ada Lovelace",
  line1: "12 St James's Square",
  city: "London",
  postal_code: "SW1Y 4JH",
  country: "GB"
})

const dies = <A, E>(exit: Exit.Exit<A, E>) => Exit.isFailure(exit) && Cause.hasDies(exit.cause)

/** A cart store on keys of its own under the run's prefix (its own index). */
const cartStoreOn = (sub: string) => RedisCartStore.layer.pipe(Layer.provideMerge(clientLayer({}, sub)))

const newCart = (cartId: string, userId = "user_1") =>
  Cart.empty(cartId, userId, Money.currency("USD"), "2030-01-01T00:00:00.000Z")

const products = ["mug", "tea", "pot", "cup", "tin"].map(
  (sku, i) => new Catalog.Product({ sku: Sku.make(sku), name: sku, price: Money.make(100 * (i + 1), "USD") })
)

/** One app instance's Carts: its own Redis connection, catalog, ids and policies, on the shared carts. */
const cartsInstance = (sub: string) =>
  Carts.layer.pipe(
    Layer.provideMerge(Layer.mergeAll(cartStoreOn(sub), InMemoryCatalog.layer, Ids.layer, Resilience.layer))
  )

await describeService("redis", "Redis stores", () => {
  const raw = rawClient()
  afterAll(async () => {
    await deleteRunKeys(raw)
    await raw.quit()
  })

  describe("RedisRateLimitStore", () => {
    it.effect(
      "1,000 concurrent checks against a limit of 10: exactly 10 admitted, one member each; the seed's GET-then-SET on the same Redis admits more",
      () =>
        Effect.gen(function* () {
          const store = yield* RateLimitStore.RateLimitStore
          const key = `checkout:${crypto.randomUUID()}`
          const nowMs = 1_700_000_000_000 // one millisecond for all 1,000: members must still be unique
          const decisions = yield* Effect.all(
            Array.from({ length: 1_000 }, () =>
              store.acquire({ key, limit: 10, windowMs: minuteMs, cost: 1, nowMs })
            ),
            { concurrency: "unbounded" }
          )
          expect(decisions.filter((d) => d.allowed)).toHaveLength(10)
          expect(yield* Effect.promise(() => raw.zcard(`${runPrefix}rl:${key}`))).toBe(10)

          const foilKey = `${runPrefix}foil:${crypto.randomUUID()}`
          const foil = yield* Effect.promise(() =>
            Promise.all(Array.from({ length: 1_000 }, () => getThenSet(raw, foilKey, 10, minuteMs)))
          )
          const overAdmitted = foil.filter(Boolean).length
          expect(overAdmitted).toBeGreaterThan(10)
        }).pipe(Effect.provide(rateLimitStore(), { local: true }))
    )

    it.effect(
      "checks made together go to Redis as batches, decided in arrival order: two of one key in a batch count each other",
      () =>
        Effect.gen(function* () {
          const store = yield* RateLimitStore.RateLimitStore
          const keys = Array.from({ length: 40 }, () => `batch:${crypto.randomUUID()}`)
          const nowMs = 1_700_000_000_000
          const runsBefore = RedisRateLimitStore.script.runs()
          // 400 checks, 10 on each key (interleaved, so a batch holds several of one key), limit 3.
          const decisions = yield* Effect.all(
            Array.from({ length: 400 }, (_, i) =>
              store.acquire({ key: keys[i % keys.length]!, limit: 3, windowMs: minuteMs, cost: 1, nowMs })
            ),
            { concurrency: "unbounded" }
          )
          const runs = RedisRateLimitStore.script.runs() - runsBefore
          expect(runs).toBeGreaterThanOrEqual(Math.ceil(400 / RedisRateLimitStore.maxBatch))
          expect(runs).toBeLessThan(40)
          for (const [k, key] of keys.entries()) {
            const own = decisions.filter((_, i) => i % keys.length === k)
            // In arrival order: the first three admitted with 2, 1, 0 left, the rest refused.
            expect(own.map((d) => d.allowed)).toEqual([true, true, true, ...Array(7).fill(false)])
            expect(own.slice(0, 3).map((d) => d.remaining)).toEqual([2, 1, 0])
            expect(own.slice(3).every((d) => d.retryAfterMs === minuteMs)).toBe(true)
            expect(yield* Effect.promise(() => raw.zcard(`${runPrefix}rl:${key}`))).toBe(3)
          }
        }).pipe(Effect.provide(rateLimitStore(), { local: true }))
    )

    it.effect("a key expires by itself two windows after its last admission, refusals do not extend it", () =>
      Effect.gen(function* () {
        const store = yield* RateLimitStore.RateLimitStore
        const key = `payment:${crypto.randomUUID()}`
        const redisKey = `${runPrefix}rl:${key}`
        const t0 = Date.now()
        yield* store.acquire({ key, limit: 1, windowMs: 5_000, cost: 1, nowMs: t0 })
        // Two windows: a check carrying an earlier time still finds the unit (RateLimitStore.retainedAfter).
        const ttl = yield* Effect.promise(() => raw.pttl(redisKey))
        expect(ttl).toBeGreaterThan(9_000)
        expect(ttl).toBeLessThanOrEqual(10_000)
        yield* Effect.promise(() => raw.pexpire(redisKey, 1_000))
        expect(
          (yield* store.acquire({ key, limit: 1, windowMs: 5_000, cost: 1, nowMs: t0 + 1 })).allowed
        ).toBe(false)
        expect(yield* Effect.promise(() => raw.pttl(redisKey))).toBeLessThanOrEqual(1_000)
      }).pipe(Effect.provide(rateLimitStore(), { local: true }))
    )

    it.effect(
      "a refused unit is refused again without Redis, with Redis's answer, until its blocking unit leaves the window",
      () =>
        Effect.gen(function* () {
          const store = yield* RateLimitStore.RateLimitStore
          const key = `refused:${crypto.randomUUID()}`
          const t0 = 1_700_000_000_000
          const check = (nowMs: number, more: Partial<RateLimitStore.AcquireRequest> = {}) =>
            store.acquire({ key, limit: 3, windowMs: 1_000, cost: 1, nowMs, ...more })
          for (const at of [0, 100, 200]) expect((yield* check(t0 + at)).allowed).toBe(true)
          expect(yield* check(t0 + 300)).toEqual({ allowed: false, remaining: 0, retryAfterMs: 700 })
          const runs = RedisRateLimitStore.script.runs()
          // Answered here: Redis is not asked, and says nothing else.
          expect(yield* check(t0 + 400)).toEqual({ allowed: false, remaining: 0, retryAfterMs: 600 })
          expect(yield* check(t0 + 999)).toEqual({ allowed: false, remaining: 0, retryAfterMs: 1 })
          expect(yield* check(t0 + 50)).toEqual({ allowed: false, remaining: 0, retryAfterMs: 950 })
          expect(RedisRateLimitStore.script.runs()).toBe(runs)
          // Another limit, window or cost is Redis's to decide.
          expect((yield* check(t0 + 500, { cost: 2 })).retryAfterMs).toBe(600)
          expect((yield* check(t0 + 500, { windowMs: 2_000 })).allowed).toBe(false)
          expect(RedisRateLimitStore.script.runs()).toBe(runs + 2)
          // The first unit has left at t0 + 1000: Redis admits again.
          expect(yield* check(t0 + 1_000)).toEqual({ allowed: true, remaining: 0, retryAfterMs: 0 })
          expect(RedisRateLimitStore.script.runs()).toBe(runs + 3)
        }).pipe(Effect.provide(rateLimitStore(), { local: true }))
    )

    it.effect("with the refusal cache off, every check asks Redis", () =>
      Effect.gen(function* () {
        const store = yield* RateLimitStore.RateLimitStore
        const request = { key: `uncached:${crypto.randomUUID()}`, limit: 1, windowMs: minuteMs, cost: 1 }
        expect((yield* store.acquire({ ...request, nowMs: 1_000 })).allowed).toBe(true)
        const runs = RedisRateLimitStore.script.runs()
        for (let i = 1; i <= 3; i++)
          expect((yield* store.acquire({ ...request, nowMs: 1_000 + i })).allowed).toBe(false)
        expect(RedisRateLimitStore.script.runs()).toBe(runs + 3)
      }).pipe(
        Effect.provide(
          RedisRateLimitStore.layerWith({ refusalCacheMaxKeys: 0 }).pipe(Layer.provideMerge(clientLayer())),
          { local: true }
        )
      )
    )

    it.effect(
      "settings from the environment: REDIS_RATE_LIMIT_REFUSAL_CACHE_MAX_KEYS, and a negative one refused",
      () =>
        Effect.gen(function* () {
          const read = (env: Record<string, string>) =>
            Effect.result(
              RedisRateLimitStore.config().parse(
                ConfigProvider.fromEnv({ env }).pipe(ConfigProvider.constantCase)
              )
            )
          const read0 = yield* read({ REDIS_RATE_LIMIT_REFUSAL_CACHE_MAX_KEYS: "0" })
          expect(Result.isSuccess(read0) && read0.success.refusalCacheMaxKeys).toBe(0)
          const defaults = yield* read({})
          expect(Result.isSuccess(defaults) && defaults.success).toEqual(RedisRateLimitStore.defaults)
          expect(Result.isFailure(yield* read({ REDIS_RATE_LIMIT_REFUSAL_CACHE_MAX_KEYS: "-1" }))).toBe(true)
        })
    )

    it.effect(
      "property: with refusals answered here, every decision is the sliding-window model's (same limit per key)",
      () =>
        Effect.gen(function* () {
          const store = yield* RateLimitStore.RateLimitStore
          const runsBefore = RedisRateLimitStore.script.runs()
          let checks = 0
          const step = fc.record({
            key: fc.integer({ min: 0, max: 2 }),
            // A number of ms, or to just around the key's last refusal's end (where answers change).
            advance: fc.oneof(
              { arbitrary: fc.integer({ min: 0, max: 300 }), weight: 1 },
              { arbitrary: fc.constantFrom(-1, 0, 1).map((d) => ({ d })), weight: 2 }
            ),
            cost: fc.constantFrom(1, 1, 1, 2)
          })
          yield* Effect.promise(() =>
            fc.assert(
              fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 40 }), async (steps) => {
                const run = crypto.randomUUID()
                const logs = new Map<number, Array<number>>()
                const refusedUntil = new Map<number, number>()
                let nowMs = 1_700_000_000_000
                for (const { key, advance, cost } of steps) {
                  const until = refusedUntil.get(key)
                  if (typeof advance === "number") nowMs += advance
                  else if (until !== undefined) nowMs = Math.max(nowMs, until + advance.d)
                  const request = { key: `${run}:${key}`, limit: 3, windowMs: 1_000, cost, nowMs }
                  const log = logs.get(key) ?? []
                  logs.set(key, log)
                  const expected = RateLimitStore.decideOnLog(log, 3, cost, 1_000, nowMs)
                  if (!expected.allowed) refusedUntil.set(key, nowMs + expected.retryAfterMs)
                  expect(await Effect.runPromise(store.acquire(request))).toEqual(expected)
                  checks++
                }
              }),
              { numRuns: 60 }
            )
          )
          // The cache was in play: fewer script runs than checks.
          expect(RedisRateLimitStore.script.runs() - runsBefore).toBeLessThan(checks)
        }).pipe(Effect.provide(rateLimitStore(), { local: true }))
    )

    it.effect("a cost of thousands of units is recorded unit by unit (beyond Lua's unpack limit)", () =>
      Effect.gen(function* () {
        const store = yield* RateLimitStore.RateLimitStore
        const key = `bulk:${crypto.randomUUID()}`
        const request = { key, limit: 10_000, windowMs: minuteMs, cost: 2_500, nowMs: 1_700_000_000_000 }
        expect(yield* store.acquire(request)).toEqual({ allowed: true, remaining: 7_500, retryAfterMs: 0 })
        expect(yield* Effect.promise(() => raw.zcard(`${runPrefix}rl:${key}`))).toBe(2_500)
        expect(yield* store.acquire({ ...request, cost: 7_501, nowMs: request.nowMs + 10 })).toEqual({
          allowed: false,
          remaining: 7_500,
          retryAfterMs: minuteMs - 10
        })
      }).pipe(Effect.provide(rateLimitStore(), { local: true }))
    )
  })

  describe("RedisCartStore", () => {
    it.effect("two Carts instances adding items to one cart at once lose nothing", () =>
      Effect.gen(function* () {
        const [a, b] = yield* Effect.all([
          Layer.build(cartsInstance("two:")),
          Layer.build(cartsInstance("two:"))
        ])
        for (const instance of [a, b])
          yield* Effect.forEach(products, (p) => Effect.flatMap(Catalog.Catalog, (c) => c.upsert(p))).pipe(
            Effect.provide(instance)
          )
        const cart = yield* Effect.flatMap(Carts.Carts, (carts) => carts.create("user_2")).pipe(
          Effect.provide(a)
        )
        const adds = (instance: typeof a, n: number) =>
          Effect.forEach(
            Array.from({ length: n }, (_, i) => products[i % products.length]!.sku),
            (sku) =>
              Effect.result(
                Effect.flatMap(Carts.Carts, (carts) => carts.addItem("user_2", cart.cart_id, sku, 1)).pipe(
                  Effect.provide(instance),
                  Effect.as(sku)
                )
              ),
            { concurrency: 2 }
          )
        const [fromA, fromB] = yield* Effect.all([adds(a, 30), adds(b, 30)], { concurrency: 2 })
        const results = [...fromA, ...fromB]
        // A write that kept losing gives up with StoreUnavailable (and wrote nothing); nothing else fails.
        for (const failure of results.filter(Result.isFailure))
          expect([failure.failure._tag, failure.failure.message]).toMatchObject([
            "StoreUnavailable",
            expect.stringContaining("kept changing")
          ])
        const added = results.filter(Result.isSuccess).map((r) => r.success)
        expect(fromA.some(Result.isSuccess) && fromB.some(Result.isSuccess)).toBe(true)
        const final = yield* Effect.flatMap(Carts.Carts, (carts) => carts.get("user_2", cart.cart_id)).pipe(
          Effect.provide(b)
        )
        for (const p of products)
          expect([p.sku, Cart.quantityOf(final, p.sku)]).toEqual([
            p.sku,
            added.filter((s) => s === p.sku).length
          ])
        expect(final.version).toBe(1 + added.length)
      })
    )

    it.effect(
      "the abandonment index: carts idle past the cutoff, oldest first; a change or a checkout takes a cart out; forgetIdle only if unchanged",
      () =>
        Effect.gen(function* () {
          const store = yield* CartStore.CartStore
          const [a, b, c] = ["cart_idle_a", "cart_idle_b", "cart_idle_c"].map((id) => newCart(id))
          for (const cart of [a!, b!, c!]) expect(yield* store.insert(cart, 30 * 24 * hourMs)).toBe(true)
          yield* TestClock.adjust(30 * minuteMs)
          const b2 = Option.getOrThrow(yield* store.update(b!, 1, 30 * 24 * hourMs))
          yield* TestClock.adjust(10 * minuteMs)
          yield* store.update(
            new Cart.Cart({ ...c!, status: "checked_out", order_id: "ord_1" }),
            1,
            30 * 24 * hourMs
          )
          yield* TestClock.adjust(21 * minuteMs) // 61 min after a's last change, 31 after b's
          expect(yield* RedisCartStore.idleSince(hourMs, 10)).toEqual([
            { cartId: "cart_idle_a", lastChangeMs: 0 }
          ])
          yield* TestClock.adjust(30 * minuteMs)
          const idle = yield* RedisCartStore.idleSince(hourMs, 10)
          expect(idle).toEqual([
            { cartId: "cart_idle_a", lastChangeMs: 0 },
            { cartId: "cart_idle_b", lastChangeMs: 30 * minuteMs }
          ])
          expect(yield* RedisCartStore.idleSince(hourMs, 1)).toEqual([idle[0]])
          // Reported: a is dropped; b changed after it was listed, so it stays, with its new time.
          expect(yield* RedisCartStore.forgetIdle(idle[0]!)).toBe(true)
          yield* store.update(b2, 2, 30 * 24 * hourMs)
          expect(yield* RedisCartStore.forgetIdle(idle[1]!)).toBe(false)
          expect(yield* RedisCartStore.idleSince(hourMs, 10)).toEqual([])
          yield* TestClock.adjust(2 * hourMs)
          expect(yield* RedisCartStore.idleSince(hourMs, 10)).toEqual([
            { cartId: "cart_idle_b", lastChangeMs: 91 * minuteMs }
          ])
        }).pipe(Effect.provide(cartStoreOn("idle:"), { local: true }))
    )

    it.effect("a cart that expired leaves the index when idleSince passes it", () =>
      Effect.gen(function* () {
        const store = yield* CartStore.CartStore
        yield* store.insert(newCart("cart_gone"), hourMs)
        yield* store.insert(newCart("cart_kept"), hourMs)
        const index = `${runPrefix}gone:carts:active`
        // What PEXPIRE does when the TTL runs out.
        yield* Effect.promise(() => raw.del(`${runPrefix}gone:cart:cart_gone`))
        yield* TestClock.adjust(2 * hourMs)
        expect((yield* RedisCartStore.idleSince(hourMs, 10)).map((i) => i.cartId)).toEqual(["cart_kept"])
        expect(yield* Effect.promise(() => raw.zrange(index, 0, -1))).toEqual(["cart_kept"])
      }).pipe(Effect.provide(cartStoreOn("gone:"), { local: true }))
    )

    it.effect(
      "bad input never reaches Redis as a crash: impossible ids are None, bad TTLs and pages are defects",
      () =>
        Effect.gen(function* () {
          const store = yield* CartStore.CartStore
          for (const id of ["", "x".repeat(65), "y".repeat(100_000)]) {
            expect(yield* store.get(id)).toEqual(Option.none())
            expect(yield* store.incrementViews(id)).toEqual(Option.none())
          }
          const cart = newCart("cart_bad_input")
          expect(dies(yield* Effect.exit(store.insert(cart, 1.5)))).toBe(true)
          expect(dies(yield* Effect.exit(store.insert(cart, Number.NaN)))).toBe(true)
          expect(dies(yield* Effect.exit(store.insert(new Cart.Cart({ ...cart, version: 2 }), hourMs)))).toBe(
            true
          )
          expect(yield* store.insert(cart, hourMs)).toBe(true)
          expect(yield* store.update(cart, Number.NaN, hourMs)).toEqual(Option.none())
          expect(yield* store.update(cart, 0, hourMs)).toEqual(Option.none())
          for (const [idleForMs, limit] of [
            [-1, 10],
            [hourMs, 0],
            [hourMs, RedisCartStore.maxIdlePage + 1],
            [hourMs, 2.5]
          ] as const)
            expect(dies(yield* Effect.exit(RedisCartStore.idleSince(idleForMs, limit)))).toBe(true)
          // A document Till cannot read is a bug, not a missing cart: a defect naming the cart.
          yield* Effect.promise(() =>
            raw.hset(`${runPrefix}bad:cart:cart_corrupt`, "doc", "{not json", "version", 1)
          )
          const exit = yield* Effect.exit(store.get("cart_corrupt"))
          expect(
            dies(exit) && String(Cause.squash((exit as Exit.Failure<unknown, unknown>).cause))
          ).toContain("cart_corrupt")
        }).pipe(Effect.provide(cartStoreOn("bad:"), { local: true }))
    )

    it.effect("the client refuses a key prefix it cannot keep apart", () =>
      Effect.gen(function* () {
        const exit = yield* Effect.exit(
          Layer.build(RedisClient.layerWith({ keyPrefix: "spaces are not allowed" }))
        )
        expect(dies(exit)).toBe(true)
      })
    )
  })

  describe("checkout on Redis carts and rate limits", () => {
    it.effect(
      "carts and limits live in Redis, a checked-out cart leaves the index, and no key or value holds a card number",
      () =>
        Effect.gen(function* () {
          yield* TestTill.stock("mug", "Till mug", 1_500, 10)
          const carts = yield* Carts.Carts
          const cart = yield* carts.create("alice")
          yield* carts.addItem("alice", cart.cart_id, Sku.make("mug"), 2)
          const method = yield* Effect.flatMap(Payments.Payments, (p) =>
            p.tokenize(FakePaymentGateway.card(FakePaymentGateway.successCard))
          )
          const placed = yield* Effect.flatMap(Checkout.Checkout, (c) =>
            c.place({
              userId: "alice",
              idempotencyKey: "key-1",
              request: new Checkout.CheckoutRequest({
                cart_id: cart.cart_id,
                shipping_address: address,
                payment_method_id: method.payment_method_id
              })
            })
          )
          expect(placed.order.status).toBe("confirmed")
          expect((yield* carts.get("alice", cart.cart_id)).status).toBe("checked_out")
          const prefix = `${runPrefix}checkout:`
          const keys = yield* Effect.promise(() => dumpRunKeys(raw, prefix))
          expect(keys.map(([k]) => k)).toEqual(
            expect.arrayContaining([`${prefix}cart:${cart.cart_id}`, `${prefix}rl:rl:checkout:alice`])
          )
          const index = keys.find(([k]) => k === `${prefix}carts:active`)
          expect(index === undefined || !index[1].includes(cart.cart_id)).toBe(true)
          for (const [key, value] of keys) {
            expect(`${key} ${value}`).not.toContain(FakePaymentGateway.successCard)
            // No run of 13-19 digits at all (scores are 13 digits only past 2001: TestClock starts at 0).
            expect(`${key} ${value}`).not.toMatch(/\d{13,19}/)
          }
        }).pipe(
          Effect.provide(
            TestTill.layer({
              seed: 14,
              cartStore: Layer.orDie(RedisCartStore.layer.pipe(Layer.provide(clientLayer({}, "checkout:")))),
              rateLimitStore: Layer.orDie(
                RedisRateLimitStore.layer.pipe(Layer.provide(clientLayer({}, "checkout:")))
              )
            })
          )
        )
    )
  })
})
