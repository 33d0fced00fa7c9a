/**
 * `till start` as a process (issue 16, point 7 and the logging budget of point 3): its resident
 * memory idle and under load, and what its logging costs.
 *
 * The server is the built binary (`packages/runtime/dist/bin.js`, `pnpm build` first; the bench
 * builds it when missing) on the embedded default, so the numbers are the process a platform team
 * runs, not a dev loader's. RSS comes from `/proc/<pid>/status` (VmRSS), sampled every 100 ms.
 *
 * - idle: after start, 5 s of nothing, then the highest RSS of the next 3 s; and the same on the
 *   tests' Postgres, Redis and Kafka when their TILL_TEST_* URLs are set (after 15 s: the cluster
 *   starts its jobs after `ready`), where the adapters and the cluster's runner add theirs;
 * - load: 64 concurrent buyers, each looping new cart → add item → tokenize → checkout over HTTP
 *   (4 requests a checkout) until `TILL_BENCH_RUNTIME_CHECKOUTS` (default 6,000) have been sent;
 *   the highest RSS seen. A fixed number, not a fixed time: the embedded in-memory stores keep
 *   every cart, order, event and key (≈ 5 KB a checkout, by design: they are the development
 *   ports), so a time-bound load would measure the machine's speed (the same build gave 287 MB at
 *   270 checkouts/s and 332 MB at 460/s over 20 s), not the process's working set;
 * - logging: the same load on two fresh servers, `TILL_LOG_LEVEL=Info` (the default) and `None`,
 *   rounds alternating; checkouts/s at Info over None is what logging costs (budget: >= 0.90).
 *
 * Targets (issue 16): RSS below 150 MB idle and 300 MB under load.
 */
import { type ChildProcess, execSync, spawn } from "node:child_process"
import { existsSync, readFileSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import * as Jwt from "../packages/runtime/src/http/Jwt.js"
import type { Progress, Row } from "./run.js"
import { freePort } from "../packages/adapters/test/support/net.js"

const root = join(dirname(fileURLToPath(import.meta.url)), "..")
const bin = join(root, "packages/runtime/dist/bin.js")
const CHECKOUTS = Number(process.env["TILL_BENCH_RUNTIME_CHECKOUTS"] ?? 6_000)
const CONCURRENCY = 64
const ROUNDS = Number(process.env["TILL_BENCH_RUNTIME_ROUNDS"] ?? 5)

const rssMb = (pid: number): number => {
  const status = readFileSync(`/proc/${pid}/status`, "utf8")
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0)
  return kb / 1024
}

interface Server {
  readonly child: ChildProcess
  readonly port: number
  readonly secret: string
  readonly stop: () => Promise<void>
}

const startServer = async (logLevel: string, services: Record<string, string> = {}): Promise<Server> => {
  const port = await freePort()
  const secret = `bench-secret-${Math.random().toString(36).slice(2)}-0123456789abcdef`
  // The binary itself, so its shebang's V8 flags apply as they do for `till start`.
  const child = spawn(bin, ["start"], {
    env: {
      ...process.env,
      TILL_HTTP_PORT: String(port),
      TILL_JWT_SECRET: secret,
      TILL_LOG_LEVEL: logLevel,
      // One rate limit of the seed (checkout 10/min/user) would make every buyer a new user; the
      // bench's buyers are few and busy, so it raises the limit instead.
      RATE_LIMITS_CHECKOUT_LIMIT: "100000",
      ...services
    },
    stdio: ["ignore", "ignore", "inherit"]
  })
  const deadline = Date.now() + 30_000
  for (;;) {
    try {
      const r = await fetch(`http://127.0.0.1:${port}/health/ready`, { signal: AbortSignal.timeout(1_000) })
      if (r.status === 200) break
    } catch {
      // not yet listening
    }
    if (Date.now() > deadline) {
      child.kill("SIGKILL")
      throw new Error("till start did not become ready")
    }
    await new Promise((r) => setTimeout(r, 100))
  }
  return {
    child,
    port,
    secret,
    stop: () =>
      new Promise<void>((resolve) => {
        child.once("exit", () => resolve())
        child.kill("SIGTERM")
      })
  }
}

const sign = async (secret: string, sub: string, admin = false): Promise<string> => {
  return Jwt.sign(secret, {
    sub,
    exp: Math.floor(Date.now() / 1000) + 3600,
    ...(admin ? { role: "admin" as const } : {})
  })
}

interface Load {
  readonly checkouts: number
  readonly errors: number
  readonly perSec: number
  readonly p50: number
  readonly p99: number
  readonly maxRssMb: number
}

const percentile = (sorted: ReadonlyArray<number>, p: number) =>
  sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!

/** 64 buyers looping the checkout journey over HTTP until `checkouts` have been sent. */
const load = async (server: Server, checkouts: number): Promise<Load> => {
  const base = `http://127.0.0.1:${server.port}`
  const admin = await sign(server.secret, "ops", true)
  await fetch(`${base}/v1/admin/products/bench`, {
    method: "PUT",
    headers: { authorization: `Bearer ${admin}`, "content-type": "application/json" },
    body: JSON.stringify({
      name: "Bench item",
      price: { amount: 1000, currency: "USD" },
      on_hand: 100_000_000
    })
  })
  let maxRss = rssMb(server.child.pid!)
  const sampler = setInterval(() => {
    maxRss = Math.max(maxRss, rssMb(server.child.pid!))
  }, 100)
  let sent = 0
  const latencies: Array<number> = []
  let errors = 0
  const buyer = async (n: number) => {
    const auth = {
      authorization: `Bearer ${await sign(server.secret, `buyer${n}`)}`,
      "content-type": "application/json"
    }
    const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
      fetch(`${base}${path}`, {
        method: "POST",
        headers: { ...auth, ...headers },
        body: JSON.stringify(body)
      })
    for (let i = 0; sent++ < checkouts; i++) {
      const t = performance.now()
      try {
        const cart = (await (await post("/v1/carts", {})).json()) as { cart_id: string }
        await post(`/v1/carts/${cart.cart_id}/items`, { sku: "bench", quantity: 1 })
        const method = (await (
          await post("/v1/payment-methods", {
            card: { number: "4242424242424242", exp_month: 12, exp_year: 2030, cvc: "123" }
          })
        ).json()) as { payment_method_id: string }
        const answer = await post(
          "/v1/checkout",
          {
            cart_id: cart.cart_id,
            payment_method_id: method.payment_method_id,
            shipping_address: { name: "A", line1: "1 St", city: "London", postal_code: "SW1", country: "GB" }
          },
          { "idempotency-key": `b${n}-${i}` }
        )
        await answer.arrayBuffer()
        if (answer.status !== 201) errors += 1
        else latencies.push(performance.now() - t)
      } catch {
        errors += 1
      }
    }
  }
  const started = performance.now()
  await Promise.all(Array.from({ length: CONCURRENCY }, (_, n) => buyer(n)))
  const elapsed = (performance.now() - started) / 1000
  clearInterval(sampler)
  latencies.sort((a, b) => a - b)
  return {
    checkouts: latencies.length,
    errors,
    perSec: latencies.length / elapsed,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    maxRssMb: maxRss
  }
}

const median = (xs: ReadonlyArray<number>) => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]!
}

/** After start, `settleMs` of nothing, then the highest RSS of the next 3 s. */
const idleRss = async (server: Server, settleMs: number): Promise<number> => {
  await new Promise((r) => setTimeout(r, settleMs))
  let idle = 0
  for (let i = 0; i < 30; i++) {
    idle = Math.max(idle, rssMb(server.child.pid!))
    await new Promise((r) => setTimeout(r, 100))
  }
  return idle
}

/**
 * `till start` idle on the tests' Postgres, Redis and Kafka (TILL_TEST_DATABASE_URL,
 * TILL_TEST_REDIS_URL, TILL_TEST_KAFKA_BROKERS; a schema and key prefix of its own, dropped after):
 * the adapters' clients, the cluster's runner and its jobs add to the embedded figure. Undefined
 * when a service is not configured.
 */
const idleOnServices = async (progress: Progress): Promise<number | undefined> => {
  const database = process.env["TILL_TEST_DATABASE_URL"]
  const redis = process.env["TILL_TEST_REDIS_URL"]
  const kafka = process.env["TILL_TEST_KAFKA_BROKERS"]
  if (database === undefined || redis === undefined || kafka === undefined) {
    progress(
      "idle RSS on real services: skipped (set TILL_TEST_DATABASE_URL, TILL_TEST_REDIS_URL, TILL_TEST_KAFKA_BROKERS)"
    )
    return undefined
  }
  const tag = `bench_rss_${Math.random().toString(36).slice(2, 10)}`
  const server = await startServer("Info", {
    DATABASE_URL: database,
    POSTGRES_SCHEMA: tag,
    REDIS_URL: redis,
    REDIS_KEY_PREFIX: `${tag}:`,
    KAFKA_BROKERS: kafka,
    TILL_CLUSTER_PORT: String(await freePort()),
    // The development payment key (production requires PAYMENTS_KEYS with a database).
    TILL_ENV: "development"
  })
  try {
    // Longer than embedded: the cluster takes its shards and starts the jobs after `ready`.
    return await idleRss(server, 15_000)
  } finally {
    await server.stop()
    execSync(`psql "${database}" -qc "DROP SCHEMA IF EXISTS ${tag} CASCADE"`, { stdio: "ignore" })
  }
}

export const run = async (progress: Progress): Promise<ReadonlyArray<Row>> => {
  if (!existsSync(bin)) {
    progress("building packages (dist/bin.js missing)")
    execSync("pnpm -r build", { cwd: root, stdio: "ignore" })
  }
  // Memory: one server, idle then loaded.
  const onServices = await idleOnServices(progress)
  if (onServices !== undefined) progress(`idle RSS on Postgres, Redis and Kafka ${onServices.toFixed(0)} MB`)
  const server = await startServer("Info")
  const idle = await idleRss(server, 5_000)
  progress(`idle RSS ${idle.toFixed(0)} MB`)
  const loaded = await load(server, CHECKOUTS)
  progress(
    `load: ${loaded.perSec.toFixed(0)} checkouts/s, p50 ${loaded.p50.toFixed(1)} ms, p99 ${loaded.p99.toFixed(1)} ms, ` +
      `${loaded.errors} errors, max RSS ${loaded.maxRssMb.toFixed(0)} MB`
  )
  await server.stop()

  // Logging: Info (default) against None, alternating, fresh server each round.
  const perLevel: Record<"Info" | "None", Array<number>> = { Info: [], None: [] }
  for (let r = 0; r < ROUNDS; r++) {
    for (const level of r % 2 === 0 ? (["Info", "None"] as const) : (["None", "Info"] as const)) {
      const s = await startServer(level)
      const result = await load(s, Math.max(500, Math.floor(CHECKOUTS / 2)))
      await s.stop()
      perLevel[level].push(result.perSec)
      progress(`logging round ${r + 1}/${ROUNDS} ${level}: ${result.perSec.toFixed(0)} checkouts/s`)
    }
  }
  const info = median(perLevel.Info)
  const none = median(perLevel.None)
  // Same-round pairs: the machine's load moves more between rounds than logging does.
  const pairs = perLevel.Info.map((v, i) => v / perLevel.None[i]!)
  progress(
    `logging Info/None by round: ${pairs.map((r) => r.toFixed(2)).join(", ")}; median ${median(pairs).toFixed(2)}`
  )
  return [
    { name: "runtime.rss.idle", value: idle, unit: "MB", baseline: null, ratio: null },
    { name: "runtime.rss.target.idle", value: 150, unit: "MB", baseline: null, ratio: null },
    {
      name: "runtime.rss.idle",
      value: idle,
      unit: "MB",
      baseline: "runtime.rss.target.idle",
      ratio: idle / 150
    },
    ...(onServices === undefined
      ? []
      : [
          {
            name: "runtime.rss.idle.services",
            value: onServices,
            unit: "MB",
            baseline: "runtime.rss.target.idle",
            ratio: onServices / 150
          }
        ]),
    { name: "runtime.rss.load", value: loaded.maxRssMb, unit: "MB", baseline: null, ratio: null },
    { name: "runtime.rss.target.load", value: 300, unit: "MB", baseline: null, ratio: null },
    {
      name: "runtime.rss.load",
      value: loaded.maxRssMb,
      unit: "MB",
      baseline: "runtime.rss.target.load",
      ratio: loaded.maxRssMb / 300
    },
    {
      name: "runtime.load.checkoutsPerSec",
      value: loaded.perSec,
      unit: "checkouts/s",
      baseline: null,
      ratio: null
    },
    { name: "runtime.load.latency.p50", value: loaded.p50, unit: "ms", baseline: null, ratio: null },
    { name: "runtime.load.latency.p99", value: loaded.p99, unit: "ms", baseline: null, ratio: null },
    { name: "runtime.load.errors", value: loaded.errors, unit: "checkouts", baseline: null, ratio: null },
    {
      name: "runtime.logging.none.checkoutsPerSec",
      value: none,
      unit: "checkouts/s",
      baseline: null,
      ratio: null
    },
    {
      name: "runtime.logging.info.checkoutsPerSec",
      value: info,
      unit: "checkouts/s",
      baseline: null,
      ratio: null
    },
    {
      name: "runtime.logging.info.sameRoundRatio",
      value: median(pairs),
      unit: "Info/None (median of same-round pairs)",
      baseline: null,
      ratio: null
    }
  ]
}
