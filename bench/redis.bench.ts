/**
 * The Redis adapter (issue 14, point 5), on the tests' Redis, in one run:
 *
 * - **Rate-limit checks per second**, Till's `RedisRateLimitStore.acquire` (a sliding-window log,
 *   group-committed: one EVALSHA per batch of the checks waiting, through `RedisClient`'s breaker
 *   and the Effect runtime) against
 *   rate-limiter-flexible's `RateLimiterRedis.consume` (a fixed-window counter, one EVALSHA per
 *   check through ioredis's `defineCommand`), each on its own ioredis client with the same options
 *   (`RedisClient.clientOptions`), at concurrency 1 and 64. Each round sends `checks` checks over
 *   `checks / 20` fresh keys with a limit of 10 a minute, so half are admitted and half refused, and
 *   counts the admissions above 10 on any key (over-admission; the target is 0 for both).
 * - **Cart add-item operations per second**: `Carts.addItem` (read, price from the catalog in
 *   memory, compare-and-set in one script) over `RedisCartStore`, at concurrency 1 and 64 on
 *   distinct carts, against a straightforward GET + JSON + SET with PX on ioredis (no version, no
 *   schema: it loses writes when two land on one cart, so it only runs on distinct carts), and at
 *   concurrency 64 on one hot cart (Till only: the compare-and-set's retries, measured).
 *
 * Rounds alternate the variants (the order rotates every round); one warm-up round, then
 * `ROUNDS` timed; a row is the median of the timed rounds. Every key is under a prefix of the run,
 * deleted at the end. Env: TILL_TEST_REDIS_URL (default redis://127.0.0.1:6379/0),
 * TILL_BENCH_REDIS_ROUNDS (timed, default 5).
 */
import { RedisCartStore, RedisClient, RedisRateLimitStore } from "@till/adapters/redis"
import { Carts, Catalog, Ids, Money, RateLimitStore, Resilience, Sku } from "@till/core"
import { InMemoryCatalog } from "@till/testkit"
import { Effect, Layer, ManagedRuntime, Redacted, Result } from "effect"
import { Redis } from "ioredis"
import { readFileSync } from "node:fs"
import { RateLimiterRedis, RateLimiterRes } from "rate-limiter-flexible"
import type { Progress, Row } from "./run.js"

const url = process.env["TILL_TEST_REDIS_URL"] ?? "redis://127.0.0.1:6379/0"
const ROUNDS = Number(process.env["TILL_BENCH_REDIS_ROUNDS"] ?? 5)
const WARMUP_ROUNDS = 1
const LIMIT = 10
const WINDOW_MS = 60_000
const CHECKS_PER_KEY = 20
const checksAt: Record<number, number> = { 1: 4_000, 64: 40_000 }
const cartOpsAt: Record<number, number> = { 1: 1_000, 64: 6_000 }
const HOT_CART_OPS = 1_000
const OPS_PER_CART = 10

const runTag = `till-bench:${crypto.randomUUID().slice(0, 8)}:`
const settings: RedisClient.Settings = {
  ...RedisClient.defaults,
  url: Redacted.make(url),
  keyPrefix: runTag,
  // A bench at concurrency 64 on a shared 2-core machine: generous, so a GC pause is not a failure.
  commandTimeoutMs: 5_000
}

const median = (values: ReadonlyArray<number>): number => {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

/** Runs `work(i)` for i < n with at most `concurrency` in flight; the wall time in ms. */
const pool = async (n: number, concurrency: number, work: (i: number) => Promise<void>): Promise<number> => {
  let next = 0
  const started = performance.now()
  await Promise.all(
    Array.from({ length: Math.min(concurrency, n) }, async () => {
      while (next < n) await work(next++)
    })
  )
  return performance.now() - started
}

const connect = async (): Promise<Redis> => {
  const redis = new Redis(url, RedisClient.clientOptions(settings))
  redis.on("error", () => {})
  await redis.connect()
  return redis
}

// ---- rate limits ------------------------------------------------------------------------------

/**
 * `till` as shipped (refusals that hold answered in process), `tillNoCache` with that cache off,
 * `rlf` as shipped, `rlfBlock` with its own in-process block of refused keys
 * (`inMemoryBlockOnConsumed`), the comparable option, off by default.
 */
type LimiterVariant = "till" | "tillNoCache" | "rlf" | "rlfBlock"
const limiterVariants: ReadonlyArray<LimiterVariant> = ["till", "tillNoCache", "rlf", "rlfBlock"]
const zeroes = (): Record<LimiterVariant, number> => ({ till: 0, tillNoCache: 0, rlf: 0, rlfBlock: 0 })

interface LimitRound {
  readonly perSec: number
  /** CPU per check, µs: this Node process, and the Redis server (INFO cpu), over the round. */
  readonly nodeCpuUs?: number
  readonly redisCpuUs?: number
  readonly overAdmitted: number
  readonly failures: number
}

/** The keys of one round, `CHECKS_PER_KEY` checks each, interleaved (key 0, 1, ..., 0, 1, ...). */
const keysOf = (round: string, checks: number) => {
  const keyCount = Math.max(1, Math.floor(checks / CHECKS_PER_KEY))
  return (i: number) => `${round}:u${i % keyCount}`
}

/** The Redis server's CPU time so far (user + system), in seconds. */
const redisCpuSeconds = async (admin: Redis): Promise<number> => {
  const info = await admin.info("cpu")
  const field = (name: string) => Number(new RegExp(`${name}:(\\S+)`).exec(info)?.[1] ?? 0)
  return field("used_cpu_user") + field("used_cpu_sys")
}

const overAdmission = (admitted: Map<string, number>) =>
  [...admitted.values()].reduce((n, count) => n + Math.max(0, count - LIMIT), 0)

const tillLimitRound = async (
  store: RateLimitStore.RateLimitStore["Service"],
  runtime: ManagedRuntime.ManagedRuntime<never, never>,
  round: string,
  concurrency: number
): Promise<LimitRound> => {
  const checks = checksAt[concurrency]!
  const keyOf = keysOf(round, checks)
  const admitted = new Map<string, number>()
  let failures = 0
  // The same shape as the promise pool of the baseline: `concurrency` workers taking the next check.
  let next = 0
  const worker = Effect.gen(function* () {
    while (next < checks) {
      const key = keyOf(next++)
      const decision = yield* Effect.result(
        store.acquire({ key, limit: LIMIT, windowMs: WINDOW_MS, cost: 1, nowMs: Date.now() })
      )
      if (Result.isFailure(decision)) failures++
      else if (decision.success.allowed) admitted.set(key, (admitted.get(key) ?? 0) + 1)
    }
  })
  const started = performance.now()
  await runtime.runPromise(
    Effect.all(
      Array.from({ length: concurrency }, () => worker),
      { concurrency: "unbounded", discard: true }
    )
  )
  const ms = performance.now() - started
  return { perSec: (checks / ms) * 1000, overAdmitted: overAdmission(admitted), failures }
}

const rlfLimitRound = async (
  limiter: RateLimiterRedis,
  round: string,
  concurrency: number
): Promise<LimitRound> => {
  const checks = checksAt[concurrency]!
  const keyOf = keysOf(round, checks)
  const admitted = new Map<string, number>()
  let failures = 0
  const ms = await pool(checks, concurrency, async (i) => {
    const key = keyOf(i)
    try {
      await limiter.consume(key, 1)
      admitted.set(key, (admitted.get(key) ?? 0) + 1)
    } catch (error) {
      if (!(error instanceof RateLimiterRes)) failures++
    }
  })
  return { perSec: (checks / ms) * 1000, overAdmitted: overAdmission(admitted), failures }
}

// ---- carts ------------------------------------------------------------------------------------

type CartVariant = "till" | "straightforward"
const cartVariants: ReadonlyArray<CartVariant> = ["till", "straightforward"]
const products = ["mug", "tea", "pot", "cup", "tin"].map(
  (sku, i) => new Catalog.Product({ sku: Sku.make(sku), name: sku, price: Money.make(100 * (i + 1), "USD") })
)

interface CartRound {
  readonly perSec: number
  readonly failures: number
}

const cartsLayer = (prefix: string) =>
  Carts.layer.pipe(
    Layer.provideMerge(
      Layer.mergeAll(
        RedisCartStore.layer.pipe(Layer.provide(RedisClient.layerWith({ ...settings, keyPrefix: prefix }))),
        InMemoryCatalog.layer,
        Ids.layer,
        Resilience.layer
      )
    )
  )

const tillCartRound = async (
  runtime: ManagedRuntime.ManagedRuntime<Carts.Carts | Catalog.Catalog, unknown>,
  ops: number,
  concurrency: number,
  hot: boolean
): Promise<CartRound> => {
  const cartCount = hot ? 1 : Math.ceil(ops / OPS_PER_CART)
  const carts = await runtime.runPromise(
    Effect.flatMap(Carts.Carts, (c) =>
      Effect.forEach(Array.from({ length: cartCount }), () => c.create("bench_user"), { concurrency: 16 })
    )
  )
  let failures = 0
  const started = performance.now()
  await runtime.runPromise(
    Effect.flatMap(Carts.Carts, (c) =>
      Effect.forEach(
        Array.from({ length: ops }, (_, i) => i),
        (i) =>
          Effect.match(
            c.addItem("bench_user", carts[i % cartCount]!.cart_id, products[i % products.length]!.sku, 1),
            { onFailure: () => failures++, onSuccess: () => 0 }
          ),
        { concurrency, discard: true }
      )
    )
  )
  const ms = performance.now() - started
  return { perSec: (ops / ms) * 1000, failures }
}

/** What a team would write: GET the JSON cart, add the line, SET it back with its TTL. */
const straightforwardCartRound = async (
  redis: Redis,
  prefix: string,
  ops: number,
  concurrency: number
): Promise<CartRound> => {
  const cartCount = Math.ceil(ops / OPS_PER_CART)
  const ttlMs = 30 * 24 * 60 * 60 * 1000
  const keys = Array.from({ length: cartCount }, (_, i) => `${prefix}plain:${i}`)
  await pool(cartCount, 16, async (i) => {
    await redis.set(
      keys[i]!,
      JSON.stringify({ user_id: "bench_user", currency: "USD", items: [] }),
      "PX",
      ttlMs
    )
  })
  let failures = 0
  const ms = await pool(ops, concurrency, async (i) => {
    try {
      const key = keys[i % cartCount]!
      const product = products[i % products.length]!
      const cart = JSON.parse((await redis.get(key)) ?? "null") as {
        items: Array<{ sku: string; quantity: number; unit_price: number }>
      }
      const line = cart.items.find((l) => l.sku === product.sku)
      if (line) line.quantity += 1
      else cart.items.push({ sku: product.sku, quantity: 1, unit_price: product.price.amount })
      await redis.set(key, JSON.stringify(cart), "PX", ttlMs)
    } catch {
      failures++
    }
  })
  return { perSec: (ops / ms) * 1000, failures }
}

// ---- the run ----------------------------------------------------------------------------------

const deleteKeys = async (redis: Redis, prefix: string) => {
  let cursor = "0"
  do {
    const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 1_000)
    cursor = next
    if (keys.length > 0) await redis.unlink(...keys)
  } while (cursor !== "0")
}

const load = () => {
  try {
    return readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ")
  } catch {
    return "n/a"
  }
}

interface Notes {
  started: string
  loadBefore: string
  loadAfter: string
  redisVersion: string
  roundRatios: Array<{ what: string; ratios: Array<number> }>
}
const notes: Notes = { started: "", loadBefore: "", loadAfter: "", redisVersion: "", roundRatios: [] }

export const run = async (progress: Progress): Promise<ReadonlyArray<Row>> => {
  const log = (line: string) => process.stderr.write(`  [redis] ${line}\n`)
  notes.started = new Date().toISOString()
  notes.loadBefore = load()
  const rows: Array<Row> = []
  const admin = await connect()
  notes.redisVersion = /redis_version:(\S+)/.exec(await admin.info("server"))?.[1] ?? "?"
  const limiterRuntime = ManagedRuntime.make(
    RedisRateLimitStore.layer.pipe(Layer.provide(RedisClient.layerWith(settings)))
  )
  const noCacheRuntime = ManagedRuntime.make(
    RedisRateLimitStore.layerWith({ refusalCacheMaxKeys: 0 }).pipe(
      Layer.provide(RedisClient.layerWith(settings))
    )
  )
  const rlfClient = await connect()
  const cartsRuntime = ManagedRuntime.make(cartsLayer(`${runTag}carts:`))
  try {
    // Rate limits.
    const storeOf = (runtime: typeof limiterRuntime) =>
      runtime.runPromise(Effect.service(RateLimitStore.RateLimitStore))
    const tillStore = await storeOf(limiterRuntime)
    const noCacheStore = await storeOf(noCacheRuntime)
    const rlf = new RateLimiterRedis({
      storeClient: rlfClient,
      keyPrefix: `${runTag}rlf`,
      points: LIMIT,
      duration: WINDOW_MS / 1000
    })
    const rlfBlock = new RateLimiterRedis({
      storeClient: rlfClient,
      keyPrefix: `${runTag}rlfb`,
      points: LIMIT,
      duration: WINDOW_MS / 1000,
      // Blocked in process once a check is refused, until the window ends (rlf's own option).
      inMemoryBlockOnConsumed: LIMIT + 1
    })
    let roundNo = 0
    for (const concurrency of [1, 64]) {
      const results: Record<LimiterVariant, Array<LimitRound>> = {
        till: [],
        tillNoCache: [],
        rlf: [],
        rlfBlock: []
      }
      let over = zeroes()
      let failed = zeroes()
      for (let r = 0; r < WARMUP_ROUNDS + ROUNDS; r++) {
        const order = limiterVariants.map((_, i) => limiterVariants[(i + r) % limiterVariants.length]!)
        for (const v of order) {
          const round = `r${++roundNo}`
          const cpu0 = process.cpuUsage()
          const redis0 = await redisCpuSeconds(admin)
          const timed =
            v === "till"
              ? await tillLimitRound(tillStore, limiterRuntime as never, round, concurrency)
              : v === "tillNoCache"
                ? await tillLimitRound(noCacheStore, noCacheRuntime as never, round, concurrency)
                : await rlfLimitRound(v === "rlf" ? rlf : rlfBlock, round, concurrency)
          const cpu = process.cpuUsage(cpu0)
          const checks = checksAt[concurrency]!
          const result: LimitRound = {
            ...timed,
            nodeCpuUs: (cpu.user + cpu.system) / checks,
            redisCpuUs: (((await redisCpuSeconds(admin)) - redis0) * 1e6) / checks
          }
          const warm = r < WARMUP_ROUNDS
          if (!warm) results[v].push(result)
          over = { ...over, [v]: over[v] + result.overAdmitted }
          failed = { ...failed, [v]: failed[v] + result.failures }
          log(
            `rate limit c=${concurrency} round ${r + 1}/${WARMUP_ROUNDS + ROUNDS}${warm ? " (warm-up)" : ""} ${v}: ` +
              `${result.perSec.toFixed(0)} checks/s, CPU per check node ${result.nodeCpuUs!.toFixed(1)} µs redis ${result.redisCpuUs!.toFixed(1)} µs, over-admitted ${result.overAdmitted}, failures ${result.failures}`
          )
        }
      }
      const name = (v: LimiterVariant, key: string) => `redis.rateLimit.c${concurrency}.${v}.${key}`
      const perSec = (v: LimiterVariant) => median(results[v].map((x) => x.perSec))
      rows.push({
        name: name("rlf", "checksPerSec"),
        value: perSec("rlf"),
        unit: "checks/s",
        baseline: null,
        ratio: null
      })
      for (const v of ["till", "tillNoCache", "rlfBlock"] as const) {
        rows.push({
          name: name(v, "checksPerSec"),
          value: perSec(v),
          unit: "checks/s",
          baseline: name("rlf", "checksPerSec"),
          ratio: perSec(v) / perSec("rlf")
        })
      }
      // Each with the same option on: Till's refusal cache against rlf's in-memory block.
      rows.push({
        name: name("till", "checksPerSec"),
        value: perSec("till"),
        unit: "checks/s",
        baseline: name("rlfBlock", "checksPerSec"),
        ratio: perSec("till") / perSec("rlfBlock")
      })
      for (const side of ["nodeCpuUs", "redisCpuUs"] as const) {
        const cpu = (v: LimiterVariant) => median(results[v].map((x) => x[side]!))
        rows.push({
          name: name("rlf", side),
          value: cpu("rlf"),
          unit: "µs CPU/check",
          baseline: null,
          ratio: null
        })
        for (const v of ["till", "tillNoCache", "rlfBlock"] as const) {
          rows.push({
            name: name(v, side),
            value: cpu(v),
            unit: "µs CPU/check",
            baseline: name("rlf", side),
            ratio: cpu(v) / cpu("rlf")
          })
        }
      }
      const total = (WARMUP_ROUNDS + ROUNDS) * checksAt[concurrency]!
      for (const v of limiterVariants) {
        rows.push({
          name: name(v, "overAdmitted"),
          value: over[v],
          unit: `of ${total} checks`,
          baseline: null,
          ratio: null
        })
        rows.push({
          name: name(v, "failures"),
          value: failed[v],
          unit: `of ${total} checks`,
          baseline: null,
          ratio: null
        })
      }
      notes.roundRatios.push({
        what: `rate limit, concurrency ${concurrency}: Till / rate-limiter-flexible`,
        ratios: results.till.map((t, i) => t.perSec / results.rlf[i]!.perSec)
      })
      notes.roundRatios.push({
        what: `rate limit, concurrency ${concurrency}: Till without its refusal cache / rate-limiter-flexible`,
        ratios: results.tillNoCache.map((t, i) => t.perSec / results.rlf[i]!.perSec)
      })
      notes.roundRatios.push({
        what: `rate limit, concurrency ${concurrency}: Till / rate-limiter-flexible with inMemoryBlockOnConsumed`,
        ratios: results.till.map((t, i) => t.perSec / results.rlfBlock[i]!.perSec)
      })
      progress(
        `rate limit c=${concurrency}: till ${perSec("till").toFixed(0)}/s (no cache ${perSec("tillNoCache").toFixed(0)}/s), ` +
          `rate-limiter-flexible ${perSec("rlf").toFixed(0)}/s (in-memory block ${perSec("rlfBlock").toFixed(0)}/s); ` +
          `over-admitted ${limiterVariants.map((v) => `${v} ${over[v]}`).join(", ")}`
      )
    }

    // Carts.
    await cartsRuntime.runPromise(
      Effect.flatMap(Catalog.Catalog, (c) => Effect.forEach(products, (p) => c.upsert(p)))
    )
    for (const concurrency of [1, 64]) {
      const ops = cartOpsAt[concurrency]!
      const results: Record<CartVariant, Array<CartRound>> = { till: [], straightforward: [] }
      let failed: Record<CartVariant, number> = { till: 0, straightforward: 0 }
      for (let r = 0; r < WARMUP_ROUNDS + ROUNDS; r++) {
        const order = r % 2 === 0 ? cartVariants : [...cartVariants].reverse()
        for (const v of order) {
          const result =
            v === "till"
              ? await tillCartRound(cartsRuntime as never, ops, concurrency, false)
              : await straightforwardCartRound(admin, `${runTag}r${++roundNo}:`, ops, concurrency)
          const warm = r < WARMUP_ROUNDS
          if (!warm) results[v].push(result)
          failed = { ...failed, [v]: failed[v] + result.failures }
          log(
            `cart addItem c=${concurrency} round ${r + 1}/${WARMUP_ROUNDS + ROUNDS}${warm ? " (warm-up)" : ""} ${v}: ` +
              `${result.perSec.toFixed(0)} ops/s, failures ${result.failures}`
          )
        }
      }
      const name = (v: CartVariant, key: string) => `redis.cart.addItem.c${concurrency}.${v}.${key}`
      const perSec = (v: CartVariant) => median(results[v].map((x) => x.perSec))
      rows.push({
        name: name("straightforward", "opsPerSec"),
        value: perSec("straightforward"),
        unit: "ops/s",
        baseline: null,
        ratio: null
      })
      rows.push({
        name: name("till", "opsPerSec"),
        value: perSec("till"),
        unit: "ops/s",
        baseline: name("straightforward", "opsPerSec"),
        ratio: perSec("till") / perSec("straightforward")
      })
      rows.push({
        name: name("till", "failures"),
        value: failed.till,
        unit: `of ${(WARMUP_ROUNDS + ROUNDS) * ops} ops`,
        baseline: null,
        ratio: null
      })
      notes.roundRatios.push({
        what: `cart addItem, concurrency ${concurrency}, distinct carts: Till / straightforward`,
        ratios: results.till.map((t, i) => t.perSec / results.straightforward[i]!.perSec)
      })
      progress(
        `cart addItem c=${concurrency}: till ${perSec("till").toFixed(0)}/s, straightforward GET+SET ${perSec("straightforward").toFixed(0)}/s`
      )
    }
    const hot: Array<CartRound> = []
    let hotFailures = 0
    for (let r = 0; r < WARMUP_ROUNDS + ROUNDS; r++) {
      const result = await tillCartRound(cartsRuntime as never, HOT_CART_OPS, 64, true)
      if (r >= WARMUP_ROUNDS) hot.push(result)
      hotFailures += result.failures
      log(
        `cart addItem hot cart c=64 round ${r + 1}: ${result.perSec.toFixed(0)} ops/s, gave up ${result.failures}`
      )
    }
    rows.push({
      name: "redis.cart.addItem.hot.c64.till.opsPerSec",
      value: median(hot.map((x) => x.perSec)),
      unit: "ops/s",
      baseline: null,
      ratio: null
    })
    rows.push({
      name: "redis.cart.addItem.hot.c64.till.gaveUp",
      value: hotFailures,
      unit: `of ${(WARMUP_ROUNDS + ROUNDS) * HOT_CART_OPS} ops (8 lost compare-and-sets in a row)`,
      baseline: null,
      ratio: null
    })
    progress(
      `cart addItem, one hot cart, c=64: till ${median(hot.map((x) => x.perSec)).toFixed(0)}/s, gave up ${hotFailures}`
    )
  } finally {
    await deleteKeys(admin, runTag)
    await limiterRuntime.dispose()
    await noCacheRuntime.dispose()
    await cartsRuntime.dispose()
    rlfClient.disconnect()
    admin.disconnect()
  }
  notes.loadAfter = load()
  return rows
}

const fmt = (n: number | null | undefined): string =>
  n === null || n === undefined
    ? ""
    : Math.abs(n) >= 100
      ? n.toFixed(0)
      : Math.abs(n) >= 10
        ? n.toFixed(1)
        : n.toFixed(2)

export const markdown = (rows: ReadonlyArray<Row>): string => {
  const value = (name: string) => rows.find((r) => r.name === name)?.value
  const ratio = (name: string) => rows.find((r) => r.name === name && r.ratio !== null)?.ratio
  const lines = [
    "# Bench: redis",
    "",
    `Node ${process.version}, Redis ${notes.redisVersion}, ${notes.started}; load average ${notes.loadBefore} before, ` +
      `${notes.loadAfter} after (2 cores shared by Node, Redis and whatever else runs). ${ROUNDS} timed rounds after ` +
      `${WARMUP_ROUNDS} warm-up, variants alternating; every value is the median of the rounds. How it is measured: ` +
      "`bench/README.md`.",
    "",
    "## Rate-limit checks (limit 10/min per key, 20 checks per key: half admitted)",
    "",
    "Each library as shipped, then each with its in-process answer to refused keys off/on: Till's refusal cache is on by default (`refusalCacheMaxKeys`), rate-limiter-flexible's `inMemoryBlockOnConsumed` is off by default. Ratios are against rate-limiter-flexible as shipped.",
    "",
    "| concurrency | variant | checks/s | / rlf | Node CPU/check | Redis CPU/check | over-admitted |",
    "|---:|---|---:|---:|---:|---:|---:|"
  ]
  const labels: Record<LimiterVariant, string> = {
    till: "Till (`RedisRateLimitStore`, sliding-window log), as shipped",
    tillNoCache: "Till, refusal cache off",
    rlf: "rate-limiter-flexible (`RateLimiterRedis`, fixed window), as shipped",
    rlfBlock: "rate-limiter-flexible, `inMemoryBlockOnConsumed` on"
  }
  for (const c of [1, 64]) {
    const n = (v: string, k: string) => `redis.rateLimit.c${c}.${v}.${k}`
    for (const v of limiterVariants) {
      const vsRlf =
        v === "rlf"
          ? 1
          : rows.find((r) => r.name === n(v, "checksPerSec") && r.baseline === n("rlf", "checksPerSec"))
              ?.ratio
      lines.push(
        `| ${c} | ${labels[v]} | ${fmt(value(n(v, "checksPerSec")))} | ${fmt(vsRlf)} | ` +
          `${fmt(value(n(v, "nodeCpuUs")))} µs | ${fmt(value(n(v, "redisCpuUs")))} µs | ${fmt(value(n(v, "overAdmitted")))} |`
      )
    }
    lines.push(
      `| ${c} | Till / rlf with its block on | | ${fmt(rows.find((r) => r.name === n("till", "checksPerSec") && r.baseline === n("rlfBlock", "checksPerSec"))?.ratio)} | | | |`
    )
  }
  lines.push(
    "",
    "## Cart add-item operations (`Carts.addItem`: read, price, compare-and-set)",
    "",
    "| workload | Till (`RedisCartStore`) | straightforward GET + SET (no version) | Till / straightforward |",
    "|---|---:|---:|---:|"
  )
  for (const c of [1, 64]) {
    const n = (v: string) => `redis.cart.addItem.c${c}.${v}.opsPerSec`
    lines.push(
      `| distinct carts, concurrency ${c} | ${fmt(value(n("till")))} ops/s | ${fmt(value(n("straightforward")))} ops/s | ${fmt(ratio(n("till")))} |`
    )
  }
  lines.push(
    `| one hot cart, concurrency 64 | ${fmt(value("redis.cart.addItem.hot.c64.till.opsPerSec"))} ops/s (gave up: ${fmt(value("redis.cart.addItem.hot.c64.till.gaveUp"))}) | (loses writes) | |`,
    ""
  )
  for (const { what, ratios } of notes.roundRatios) {
    const sorted = [...ratios].sort((a, b) => a - b)
    lines.push(
      `- ${what}, round by round: ${ratios.map((r) => r.toFixed(2)).join(", ")}; median ${fmt(median(ratios))}, ` +
        `range ${fmt(sorted[0])}–${fmt(sorted[sorted.length - 1])}.`
    )
  }
  lines.push(
    "",
    "## All rows",
    "",
    "| name | value | unit | baseline | ratio |",
    "|---|---:|---|---|---:|",
    ...rows.map((r) => `| ${r.name} | ${fmt(r.value)} | ${r.unit} | ${r.baseline ?? ""} | ${fmt(r.ratio)} |`)
  )
  return `${lines.join("\n")}\n`
}
