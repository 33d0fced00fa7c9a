/**
 * The end-to-end benchmark (issue 18, point 3), `pnpm bench:e2e`: `till start` on real Postgres,
 * Redis and Kafka against a hand-written baseline (`e2e/baseline/`: node:http, pg, ioredis, kafkajs,
 * the same durable work per checkout), both driven over loopback HTTP by one load generator in a
 * process of its own (`e2e/load.ts`). A checkout is a shopper's whole journey: new cart, add an
 * item, tokenize a card, POST /v1/checkout (4 requests); "confirmed" is a 201.
 *
 * Each server's life is a fresh server (own schema, Redis prefix, topics, consumer groups) seeded
 * with `SKUS` products of ample stock (no 409 unless something is wrong), running two phases in
 * turn, the second once the first's background work is done (outbox sent, shipments written):
 * 1. gateway at 0 ms, `ROUNDS` rounds, the servers' order alternating (Till first in round 1):
 *    - saturation: `CONCURRENCY` shoppers in a closed loop, `WARMUP` s then `SECONDS` s measured;
 *    - rate: open-loop arrivals at `rate` a second for `RATE_SECONDS`: 500, or half Till's round-1
 *      saturation when that is below 1,000/s (issue 18: "p99 < 50 ms at half the saturation
 *      rate"); latencies count from each journey's scheduled arrival;
 * 2. gateway at 1 s on every call (tokenize and charge; Till through `TILL_GATEWAY_LATENCY_MS`),
 *    one round: saturation with enough shoppers to keep the faster server busy (2.5 s of its
 *    saturation rate), then the same open-loop rate.
 * After each server's phases the bench waits for its outbox to empty and its consumers to write a
 * shipment per confirmed order, and checks the database against the 201s the client saw.
 *
 * Env knobs: TILL_BENCH_E2E_SECONDS (measured seconds per phase, default 12; 3 for a smoke run),
 * TILL_BENCH_E2E_RATE_SECONDS (measured seconds of an open-loop phase, default 30 or SECONDS if longer),
 * TILL_BENCH_E2E_WARMUP_SECONDS (4), TILL_BENCH_E2E_ROUNDS (2), TILL_BENCH_E2E_CONCURRENCY (64),
 * TILL_BENCH_E2E_GW_CONCURRENCY (default: 2.5 s worth of the faster server's saturation rate, so
 * both servers have enough journeys in flight to stay busy; 0 skips the 1 s gateway phases), TILL_BENCH_E2E_SKUS (500), TILL_BENCH_E2E_USD_PER_HOUR
 * (0.096, see bench/README.md), TILL_BENCH_E2E_DATABASE_URL (…/till_e2e, created if missing),
 * TILL_BENCH_E2E_REDIS_URL (redis://127.0.0.1:6379/7), TILL_BENCH_E2E_KAFKA_BROKERS
 * (127.0.0.1:9092), TILL_BENCH_E2E_CPU_PROF_DIR (write a --cpu-prof of every server there).
 */
import { type ChildProcess, execSync, fork } from "node:child_process"
import { createHmac, randomBytes } from "node:crypto"
import { existsSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import kafkajs from "kafkajs"
import { Redis } from "ioredis"
import pg from "pg"
import type { Phase, Result, Setup } from "./e2e/load.js"
import * as Servers from "./e2e/servers.js"
import type { Progress, Row } from "./run.js"

const here = dirname(fileURLToPath(import.meta.url))
const num = (name: string, fallback: number) => Number(process.env[name] ?? fallback)
const SECONDS = num("TILL_BENCH_E2E_SECONDS", 12)
/**
 * Measured seconds of an open-loop (rate) phase. Longer than a saturation phase because its p99
 * is the target: at 60 checkouts/s a 12 s window has 720 checkouts, so its p99 is the 8th slowest,
 * and one stall of the shared 2-core machine (a major GC of the server, ~every 4 s at that rate,
 * puts 3-5 checkouts in flight at 40-70 ms; a checkpoint; the broker's GC) moves it by tens of ms
 * (Till's p99 was 67 and 97 ms in two rounds of one run, the baseline's 32 and 157).
 */
const RATE_SECONDS = num("TILL_BENCH_E2E_RATE_SECONDS", Math.max(SECONDS, 30))
const WARMUP = num("TILL_BENCH_E2E_WARMUP_SECONDS", 4)
const ROUNDS = num("TILL_BENCH_E2E_ROUNDS", 2)
const CONCURRENCY = num("TILL_BENCH_E2E_CONCURRENCY", 64)
/** Shoppers of the 1 s gateway's saturation; by default 2.5 s of the faster server's saturation rate. */
const GW_CONCURRENCY = process.env["TILL_BENCH_E2E_GW_CONCURRENCY"]
/** A journey with the 1 s gateway lasts a little over 2 s (tokenize and charge each wait 1 s). */
const GW_JOURNEY_SECONDS = 2.5
const SKUS = num("TILL_BENCH_E2E_SKUS", 500)
const USD_PER_HOUR = num("TILL_BENCH_E2E_USD_PER_HOUR", 0.096)
const GATEWAY_LATENCY_MS = 1_000
const SEED_USD_PER_MILLION = 67
const TARGET_PER_SEC = 500
const TARGET_RATIO = 0.8
const TARGET_P99_MS = 50
/** Distinct shoppers: at 1,500 checkouts/s each checks out 3 times a minute, under the limit of 10. */
const USERS = 30_000
const databaseUrl =
  process.env["TILL_BENCH_E2E_DATABASE_URL"] ?? "postgres://postgres@127.0.0.1:5432/till_e2e"
const services: Servers.Services = {
  databaseUrl,
  redisUrl: process.env["TILL_BENCH_E2E_REDIS_URL"] ?? "redis://127.0.0.1:6379/7",
  kafkaBrokers: process.env["TILL_BENCH_E2E_KAFKA_BROKERS"] ?? "127.0.0.1:9092"
}
const profileDir = process.env["TILL_BENCH_E2E_CPU_PROF_DIR"]

type PhaseName = "sat" | "rate" | "gw1s.sat" | "gw1s.rate"

interface Measured {
  readonly kind: Servers.Kind
  readonly phase: PhaseName
  readonly result: Result
  readonly rssMaxMb: number
  readonly serverCpuMsPerCheckout: number
  readonly postgresCpuMsPerCheckout: number
  /** Commits and rollbacks in the bench's database (only the server under test uses it). */
  readonly postgresTransactionsPerCheckout: number
}

const startedAt = performance.now()
const say = (line: string) =>
  process.stderr.write(
    `  e2e ${((performance.now() - startedAt) / 1000).toFixed(0).padStart(4)} s  ${line}\n`
  )
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))
const median = (xs: ReadonlyArray<number>) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length === 0
    ? 0
    : s.length % 2 === 1
      ? s[(s.length - 1) / 2]!
      : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2
}

/**
 * Transactions committed or rolled back in the bench's database so far. Every statement sent
 * outside BEGIN ... COMMIT is a transaction of its own, reads included, so this counts a server's
 * statements and transactions, near enough its Postgres round trips (Postgres publishes its
 * counters within a second: read over a window of many seconds).
 */
const transactions = async (): Promise<number> => {
  const client = new pg.Client({ connectionString: databaseUrl })
  await client.connect()
  try {
    const { rows } = await client.query<{ n: string }>(
      "SELECT (xact_commit + xact_rollback)::text AS n FROM pg_stat_database WHERE datname = current_database()"
    )
    // This very read is one more transaction: not the server's.
    return Number(rows[0]?.n ?? 0) - 1
  } finally {
    await client.end()
  }
}

/** The load generator: one process for the whole run, one message and one answer per phase. */
const loadGenerator = () => {
  const { NODE_OPTIONS: _inherited, ...env } = process.env
  const child: ChildProcess = fork(join(here, "e2e/load.ts"), [], {
    execPath: process.execPath,
    execArgv: ["--no-warnings"],
    env
  })
  let pending: ((message: unknown) => void) | undefined
  child.on("message", (message) => pending?.(message))
  child.on("exit", (code) => {
    if (code !== 0 && pending !== undefined) throw new Error(`the load generator exited with ${code}`)
  })
  const ask = <A>(message: Setup | Phase): Promise<A> =>
    new Promise((resolve) => {
      pending = (answer) => resolve(answer as A)
      child.send(message)
    })
  return { ask, stop: () => child.send({ type: "exit" }) }
}

const sign = (secret: string) => {
  const head = Buffer.from(JSON.stringify({ alg: "HS256", typ: "JWT" })).toString("base64url")
  const body = Buffer.from(
    JSON.stringify({ sub: "ops", role: "admin", exp: Math.floor(Date.now() / 1000) + 3600 })
  )
  const unsigned = `${head}.${body.toString("base64url")}`
  return `${unsigned}.${createHmac("sha256", secret).update(unsigned).digest("base64url")}`
}

const skuList = Array.from({ length: SKUS }, (_, i) => `sku-${String(i).padStart(4, "0")}`)

/** Every SKU through PUT /v1/admin/products, 16 at a time. */
const seed = async (server: Servers.Server) => {
  const auth = `Bearer ${sign(server.secret)}`
  let next = 0
  const worker = async () => {
    while (next < skuList.length) {
      const sku = skuList[next++]!
      const answer = await fetch(`${server.baseUrl}/v1/admin/products/${sku}`, {
        method: "PUT",
        headers: { authorization: auth, "content-type": "application/json" },
        body: JSON.stringify({
          name: `Bench ${sku}`,
          price: { amount: 1_000 + (next % 50) * 10, currency: "USD" },
          on_hand: 1_000_000_000
        })
      })
      await answer.arrayBuffer()
      if (answer.status >= 300) throw new Error(`seeding ${sku} answered ${answer.status}`)
    }
  }
  await Promise.all(Array.from({ length: 16 }, worker))
}

/** A phase on `server`, its RSS sampled every 250 ms and its CPU (and Postgres's) counted. */
const measure = async (
  load: ReturnType<typeof loadGenerator>,
  server: Servers.Server,
  phase: PhaseName,
  spec: Omit<Phase, "type">
): Promise<Measured> => {
  let rssMaxMb = server.rssMb()
  const sampler = setInterval(() => {
    rssMaxMb = Math.max(rssMaxMb, server.rssMb())
  }, 250)
  // CPU is counted over the measured window only: read it when the warm-up ends.
  let cpu0 = 0
  let pg0 = 0
  let tx0 = 0
  let cpu1 = 0
  let pg1 = 0
  let tx1 = 0
  const marks = [
    sleep(spec.warmupMs).then(async () => {
      cpu0 = server.cpuMs()
      pg0 = Servers.cpuMsByName(["postgres"]).postgres
      tx0 = await transactions()
    }),
    sleep(spec.warmupMs + spec.durationMs).then(async () => {
      cpu1 = server.cpuMs()
      pg1 = Servers.cpuMsByName(["postgres"]).postgres
      tx1 = await transactions()
    })
  ]
  const result = await load.ask<Result>({ type: "run", ...spec })
  await Promise.all(marks)
  clearInterval(sampler)
  const per = Math.max(1, result.confirmed)
  const failures = Object.entries(result.failures)
    .map(([k, n]) => `${k} ${n}`)
    .join(", ")
  say(
    `${server.kind.padEnd(8)} ${phase.padEnd(9)} ${result.confirmedPerSec.toFixed(0).padStart(5)} confirmed/s, ` +
      `checkout p50 ${result.checkoutMs.p50.toFixed(1)} / p99 ${result.checkoutMs.p99.toFixed(1)} ms, ` +
      `journey p99 ${result.journeyMs.p99.toFixed(0)} ms, ${((cpu1 - cpu0) / per).toFixed(2)} ms CPU and ${((tx1 - tx0) / per).toFixed(1)} Postgres transactions a checkout, ` +
      `RSS ${rssMaxMb.toFixed(0)} MB${failures === "" ? "" : `; not confirmed: ${failures}`}${result.shed > 0 ? `; shed ${result.shed}` : ""}` +
      (result.drainMs > 2_000
        ? `; in-flight journeys drained in ${(result.drainMs / 1000).toFixed(1)} s`
        : "")
  )
  return {
    kind: server.kind,
    phase,
    result,
    rssMaxMb,
    serverCpuMsPerCheckout: (cpu1 - cpu0) / per,
    postgresCpuMsPerCheckout: (pg1 - pg0) / per,
    postgresTransactionsPerCheckout: (tx1 - tx0) / per
  }
}

/** Waits (up to 30 s) for the outbox to empty and a shipment per confirmed order; what it found. */
const settle = async (names: Servers.Names, answered201: number) => {
  const client = new pg.Client({ connectionString: databaseUrl })
  await client.connect()
  const t0 = performance.now()
  let row = { confirmed: 0, unsent: 0, shipments: 0 }
  try {
    for (;;) {
      const { rows } = await client.query<{ confirmed: number; unsent: number; shipments: number }>(
        `SELECT (SELECT count(*) FROM ${names.schema}.orders WHERE status = 'confirmed')::int AS confirmed,
                (SELECT count(*) FROM ${names.schema}.outbox WHERE NOT published)::int AS unsent,
                (SELECT count(*) FROM ${names.schema}.shipments)::int AS shipments`
      )
      row = rows[0]!
      if ((row.unsent === 0 && row.shipments >= row.confirmed) || performance.now() - t0 > 30_000) break
      await sleep(250)
    }
  } finally {
    await client.end()
  }
  return { ...row, seconds: (performance.now() - t0) / 1000, unconfirmed201: answered201 - row.confirmed }
}

/** One server's life: start, seed, its phases, the settle check, stop. */
const serve = async (
  load: ReturnType<typeof loadGenerator>,
  run: string,
  kind: Servers.Kind,
  label: string,
  gatewayLatencyMs: number,
  phases: ReadonlyArray<{ readonly name: PhaseName; readonly spec: () => Omit<Phase, "type"> }>,
  maxInFlight: number,
  /** Where each phase's measurement goes as soon as it is taken (a later phase's spec may read it). */
  sink: Array<Measured>
) => {
  const names = Servers.namesOf(run, kind, label)
  const flags = profileDir === undefined ? [] : ["--cpu-prof", `--cpu-prof-dir=${profileDir}`]
  const t0 = performance.now()
  const server = await Servers.start(kind, services, names, gatewayLatencyMs, flags)
  const startSeconds = (performance.now() - t0) / 1000
  await seed(server)
  say(`${kind.padEnd(8)} ${label}: ready in ${startSeconds.toFixed(1)} s, ${SKUS} SKUs seeded`)
  await load.ask({
    type: "setup",
    baseUrl: server.baseUrl,
    secret: server.secret,
    users: USERS,
    skus: skuList,
    maxInFlight
  } satisfies Setup)
  const measured: Array<Measured> = []
  try {
    for (const [i, phase] of phases.entries()) {
      if (i > 0) {
        // A phase starts on a settled server: the previous one's outbox sent and its shipments
        // written (a saturation phase leaves seconds of consumer work behind), so a rate phase
        // measures the server at that rate, not its catching up.
        const answered = measured.reduce((sum, m) => sum + m.result.confirmedTotal, 0)
        const check = await settle(server.names, answered)
        say(`${kind.padEnd(8)} ${label}: settled in ${check.seconds.toFixed(1)} s before ${phase.name}`)
      }
      const m = await measure(load, server, phase.name, phase.spec())
      measured.push(m)
      sink.push(m)
    }
    const answered = measured.reduce((sum, m) => sum + m.result.confirmedTotal, 0)
    const check = await settle(names, answered)
    say(
      `${kind.padEnd(8)} ${label}: ${check.confirmed} confirmed orders in the database for ${answered} 201s, ` +
        `${check.shipments} shipments, ${check.unsent} events unsent, settled in ${check.seconds.toFixed(1)} s`
    )
    return { check, startSeconds }
  } finally {
    await server.stop()
  }
}

/** Drops the schemas, Redis keys and topics of this run. */
const cleanUp = async (run: string) => {
  const client = new pg.Client({ connectionString: databaseUrl })
  await client.connect()
  const { rows } = await client.query<{ nspname: string }>(
    "SELECT nspname FROM pg_namespace WHERE nspname LIKE $1",
    [`e2e\\_${run}\\_%`]
  )
  for (const { nspname } of rows) await client.query(`DROP SCHEMA ${nspname} CASCADE`)
  await client.end()
  const redis = new Redis(services.redisUrl)
  let cursor = "0"
  do {
    const [next, keys] = await redis.scan(cursor, "MATCH", `e2e:${run}:*`, "COUNT", 1000)
    cursor = next
    if (keys.length > 0) await redis.del(...keys)
  } while (cursor !== "0")
  await redis.quit()
  const admin = new kafkajs.Kafka({
    brokers: services.kafkaBrokers.split(","),
    logLevel: kafkajs.logLevel.NOTHING
  }).admin()
  await admin.connect()
  const topics = (await admin.listTopics()).filter((t) => t.startsWith(`e2e.${run}.`))
  if (topics.length > 0) await admin.deleteTopics({ topics }).catch(() => undefined)
  const groups = (await admin.listGroups()).groups
    .map((g) => g.groupId)
    .filter((g) => g.startsWith(`e2e.${run}.`))
  if (groups.length > 0) await admin.deleteGroups(groups).catch(() => undefined)
  await admin.disconnect()
}

const ensureDatabase = async () => {
  const url = new URL(databaseUrl)
  const name = url.pathname.slice(1)
  url.pathname = "/postgres"
  const client = new pg.Client({ connectionString: url.toString() })
  await client.connect()
  const { rows } = await client.query("SELECT 1 FROM pg_database WHERE datname = $1", [name])
  if (rows.length === 0) await client.query(`CREATE DATABASE "${name.replace(/"/g, "")}"`)
  await client.end()
}

export const run = async (_progress: Progress): Promise<ReadonlyArray<Row>> => {
  if (!existsSync(Servers.bin)) {
    say("building packages (dist/bin.js missing)")
    execSync("pnpm -r build", { cwd: Servers.root, stdio: "ignore" })
  }
  await ensureDatabase()
  const run = randomBytes(3).toString("hex")
  say(
    `run ${run}: ${ROUNDS} rounds of ${WARMUP} + ${SECONDS} s phases (open loop: ${RATE_SECONDS} s), ${CONCURRENCY} shoppers at saturation, ` +
      `${SKUS} SKUs, ${USERS} users`
  )
  const load = loadGenerator()
  const measured: Array<Measured> = []
  const checks: Array<{
    kind: Servers.Kind
    check: Awaited<ReturnType<typeof settle>>
    startSeconds: number
  }> = []
  let rate: number | undefined
  const closed = (concurrency: number) => (): Omit<Phase, "type"> => ({
    mode: "closed",
    concurrency,
    rate: 0,
    warmupMs: WARMUP * 1000,
    durationMs: SECONDS * 1000
  })
  /** The open-loop rate, fixed once from Till's first saturation: the same for both servers. */
  const open = (): Omit<Phase, "type"> => {
    if (rate === undefined) {
      const tillSat = measured.find((m) => m.kind === "till" && m.phase === "sat")?.result.confirmedPerSec
      rate =
        tillSat === undefined || tillSat >= 2 * TARGET_PER_SEC
          ? TARGET_PER_SEC
          : Math.max(10, Math.round(tillSat / 2 / 10) * 10)
      say(`open-loop rate: ${rate} checkouts/s`)
    }
    return {
      mode: "open",
      concurrency: 0,
      rate,
      warmupMs: Math.min(3, WARMUP) * 1000,
      durationMs: RATE_SECONDS * 1000
    }
  }
  let gwConcurrency = GW_CONCURRENCY === undefined ? undefined : Number(GW_CONCURRENCY)
  const life = async (
    kind: Servers.Kind,
    label: string,
    latencyMs: number,
    phases: ReadonlyArray<PhaseName>
  ) => {
    const specs = phases.map((name) => ({
      name,
      spec: name === "sat" ? closed(CONCURRENCY) : name === "gw1s.sat" ? closed(gwConcurrency ?? 0) : open
    }))
    const maxInFlight = latencyMs > 0 ? Math.max(gwConcurrency ?? 0, 4_000) : 1_024
    const lived = await serve(load, run, kind, label, latencyMs, specs, maxInFlight, measured)
    checks.push({ kind, check: lived.check, startSeconds: lived.startSeconds })
  }
  try {
    for (let round = 1; round <= ROUNDS; round++) {
      for (const kind of round % 2 === 1 ? (["till", "baseline"] as const) : (["baseline", "till"] as const))
        await life(kind, `r${round}`, 0, ["sat", "rate"])
    }
    if (gwConcurrency === undefined) {
      const sat = (kind: Servers.Kind) =>
        median(
          measured.filter((m) => m.kind === kind && m.phase === "sat").map((m) => m.result.confirmedPerSec)
        )
      gwConcurrency = Math.min(
        2_000,
        Math.max(50, Math.ceil(GW_JOURNEY_SECONDS * Math.max(sat("till"), sat("baseline"))))
      )
    }
    say(`1 s gateway: ${gwConcurrency} shoppers at saturation`)
    if (gwConcurrency > 0)
      for (const kind of ["baseline", "till"] as const)
        await life(kind, "gw1s", GATEWAY_LATENCY_MS, ["gw1s.sat", "gw1s.rate"])
  } finally {
    load.stop()
    await cleanUp(run).catch((error: unknown) => say(`clean-up failed: ${String(error)}`))
  }
  return rows(measured, checks, rate ?? TARGET_PER_SEC, gwConcurrency ?? 0)
}

type Check = {
  readonly kind: Servers.Kind
  readonly check: Awaited<ReturnType<typeof settle>>
  readonly startSeconds: number
}

const phaseNames: ReadonlyArray<PhaseName> = ["sat", "rate", "gw1s.sat", "gw1s.rate"]

const metrics: ReadonlyArray<readonly [string, string, (m: Measured) => number]> = [
  ["checkoutsPerSec", "checkouts/s", (m) => m.result.confirmedPerSec],
  ["checkout.p50", "ms", (m) => m.result.checkoutMs.p50],
  ["checkout.p99", "ms", (m) => m.result.checkoutMs.p99],
  ["journey.p50", "ms", (m) => m.result.journeyMs.p50],
  ["journey.p99", "ms", (m) => m.result.journeyMs.p99],
  ["serverCpuPerCheckout", "ms CPU", (m) => m.serverCpuMsPerCheckout],
  ["postgresCpuPerCheckout", "ms CPU", (m) => m.postgresCpuMsPerCheckout],
  ["postgresTransactionsPerCheckout", "transactions", (m) => m.postgresTransactionsPerCheckout],
  ["rss.max", "MB", (m) => m.rssMaxMb]
]

const isHonest = (failure: string) => failure.endsWith(":409") || failure.endsWith(":429")

const row = (
  name: string,
  value: number,
  unit: string,
  baseline: string | null = null,
  of?: number
): Row => ({
  name,
  value,
  unit,
  baseline,
  ratio: baseline === null || of === undefined || of === 0 ? null : value / of
})

const usdPerMillion = (perSec: number) => (perSec <= 0 ? 0 : (USD_PER_HOUR / (perSec * 3600)) * 1e6)

const rows = (
  measured: ReadonlyArray<Measured>,
  checks: ReadonlyArray<Check>,
  rate: number,
  gwConcurrency: number
): Array<Row> => {
  const out: Array<Row> = []
  const of = (kind: Servers.Kind, phase: PhaseName) =>
    measured.filter((m) => m.kind === kind && m.phase === phase)
  const value = (kind: Servers.Kind, phase: PhaseName, f: (m: Measured) => number) =>
    median(of(kind, phase).map(f))
  for (const phase of phaseNames) {
    if (of("till", phase).length === 0) continue
    for (const [metric, unit, f] of metrics) {
      const base = `e2e.${phase}.baseline.${metric}`
      const b = value("baseline", phase, f)
      out.push(row(base, b, unit))
      out.push(row(`e2e.${phase}.till.${metric}`, value("till", phase, f), unit, base, b))
    }
    for (const kind of ["baseline", "till"] as const) {
      const failures: Record<string, number> = {}
      for (const m of of(kind, phase)) {
        for (const [k, n] of Object.entries(m.result.failures)) failures[k] = (failures[k] ?? 0) + n
        if (m.result.shed > 0) failures["shed"] = (failures["shed"] ?? 0) + m.result.shed
      }
      const sum = (honest: boolean) =>
        Object.entries(failures).reduce((t, [k, n]) => (isHonest(k) === honest ? t + n : t), 0)
      out.push(row(`e2e.${phase}.${kind}.errors.honest`, sum(true), "journeys (409, 429), all rounds"))
      out.push(row(`e2e.${phase}.${kind}.errors.other`, sum(false), "journeys, all rounds"))
      for (const [k, n] of Object.entries(failures))
        out.push(row(`e2e.${phase}.${kind}.failures.${k}`, n, "journeys"))
    }
  }
  const tillSat = value("till", "sat", (m) => m.result.confirmedPerSec)
  const baseSat = value("baseline", "sat", (m) => m.result.confirmedPerSec)
  out.push(row("e2e.rate.offeredPerSec", rate, "checkouts/s"))
  out.push(row("e2e.sat.shoppers", CONCURRENCY, "concurrent journeys"))
  out.push(row("e2e.gw1s.sat.shoppers", gwConcurrency, "concurrent journeys"))
  out.push(row("e2e.target.sat.checkoutsPerSec", TARGET_PER_SEC, "checkouts/s"))
  out.push(
    row(
      "e2e.sat.till.checkoutsPerSec",
      tillSat,
      "checkouts/s",
      "e2e.target.sat.checkoutsPerSec",
      TARGET_PER_SEC
    )
  )
  out.push(row("e2e.target.sat.tillOverBaseline", TARGET_RATIO, "ratio"))
  out.push(
    row(
      "e2e.sat.tillOverBaseline",
      tillSat / baseSat,
      "ratio",
      "e2e.target.sat.tillOverBaseline",
      TARGET_RATIO
    )
  )
  out.push(row("e2e.target.rate.checkout.p99", TARGET_P99_MS, "ms"))
  const tillP99 = value("till", "rate", (m) => m.result.checkoutMs.p99)
  out.push(row("e2e.rate.till.checkout.p99", tillP99, "ms", "e2e.target.rate.checkout.p99", TARGET_P99_MS))
  out.push(row("e2e.cost.assumedUsdPerHour", USD_PER_HOUR, "USD/h (the whole stack on one 2-vCPU machine)"))
  out.push(row("e2e.cost.seed.usdPerMillionOrders", SEED_USD_PER_MILLION, "USD"))
  const baseCost = usdPerMillion(baseSat)
  out.push(row("e2e.cost.baseline.usdPerMillionOrders", baseCost, "USD"))
  out.push(
    row(
      "e2e.cost.till.usdPerMillionOrders",
      usdPerMillion(tillSat),
      "USD",
      "e2e.cost.baseline.usdPerMillionOrders",
      baseCost
    )
  )
  out.push(
    row(
      "e2e.cost.till.usdPerMillionOrders",
      usdPerMillion(tillSat),
      "USD",
      "e2e.cost.seed.usdPerMillionOrders",
      SEED_USD_PER_MILLION
    )
  )
  for (const kind of ["baseline", "till"] as const) {
    const mine = checks.filter((c) => c.kind === kind)
    const total = (f: (c: Check) => number) => mine.reduce((t, c) => t + f(c), 0)
    out.push(
      row(
        `e2e.check.${kind}.unconfirmed201`,
        total((c) => c.check.unconfirmed201),
        "201s without a confirmed order (target 0)"
      )
    )
    out.push(
      row(
        `e2e.check.${kind}.shipmentsMissing`,
        total((c) => Math.max(0, c.check.confirmed - c.check.shipments)),
        "confirmed orders without a shipment after settling (target 0)"
      )
    )
    out.push(
      row(
        `e2e.check.${kind}.outboxUnsent`,
        total((c) => c.check.unsent),
        "events unsent after settling (target 0)"
      )
    )
    out.push(
      row(
        `e2e.check.${kind}.settleSeconds`,
        Math.max(...mine.map((c) => c.check.seconds)),
        "s (longest wait for outbox and shipments after a server's load)"
      )
    )
    out.push(
      row(`e2e.check.${kind}.startSeconds`, median(mine.map((c) => c.startSeconds)), "s (start to ready)")
    )
  }
  return out
}

const fmt = (n: number | undefined) =>
  n === undefined || Number.isNaN(n)
    ? ""
    : Math.abs(n) >= 100
      ? n.toFixed(0)
      : Math.abs(n) >= 10
        ? n.toFixed(1)
        : Math.abs(n) >= 1 || n === 0
          ? n.toFixed(2)
          : n.toPrecision(2)

/** A side-by-side table (Till, baseline, ratio) above the full list of rows. */
export const markdown = (all: ReadonlyArray<Row>): string => {
  const get = (name: string) => all.find((r) => r.name === name)?.value
  const pair = (label: string, phase: string, metric: string, unit: string) => {
    const till = get(`e2e.${phase}.till.${metric}`)
    const base = get(`e2e.${phase}.baseline.${metric}`)
    return `| ${label} | ${fmt(till)} ${unit} | ${fmt(base)} ${unit} | ${till !== undefined && base ? fmt(till / base) : ""} |`
  }
  const errors = (phase: string) =>
    `| errors (honest 409/429 / other), ${phase} | ${fmt(get(`e2e.${phase}.till.errors.honest`))} / ${fmt(get(`e2e.${phase}.till.errors.other`))} | ${fmt(get(`e2e.${phase}.baseline.errors.honest`))} / ${fmt(get(`e2e.${phase}.baseline.errors.other`))} | |`
  const rate = get("e2e.rate.offeredPerSec")
  const lines = [
    "# Bench: e2e",
    "",
    `Node ${process.version}, ${new Date().toISOString()}. \`till start\` (built binary) and the hand-written baseline ` +
      "(bench/e2e/baseline) on the same Postgres, Redis and Kafka, one load generator process; a checkout is a whole " +
      "journey (cart, item, card, checkout). Medians over rounds; errors summed. See bench/README.md.",
    "",
    `Till: \`${Servers.bin.replace(`${Servers.root}/`, "")}\`.`,
    "",
    "| | Till | baseline | Till / baseline |",
    "|---|---:|---:|---:|",
    pair(
      `confirmed checkouts/s at saturation (${CONCURRENCY} shoppers, closed loop)`,
      "sat",
      "checkoutsPerSec",
      ""
    ),
    pair("POST /v1/checkout p50 at saturation", "sat", "checkout.p50", "ms"),
    pair("POST /v1/checkout p99 at saturation", "sat", "checkout.p99", "ms"),
    errors("sat"),
    pair("server CPU per confirmed checkout at saturation", "sat", "serverCpuPerCheckout", "ms"),
    pair(
      "Postgres CPU per confirmed checkout at saturation (all its processes)",
      "sat",
      "postgresCpuPerCheckout",
      "ms"
    ),
    pair(
      "Postgres transactions per confirmed checkout at saturation (each autocommit statement is one)",
      "sat",
      "postgresTransactionsPerCheckout",
      ""
    ),
    pair("highest RSS at saturation", "sat", "rss.max", "MB"),
    pair(`POST /v1/checkout p50 at ${fmt(rate)}/s (open loop)`, "rate", "checkout.p50", "ms"),
    pair(`POST /v1/checkout p99 at ${fmt(rate)}/s`, "rate", "checkout.p99", "ms"),
    pair(`journey p50 at ${fmt(rate)}/s (from its arrival)`, "rate", "journey.p50", "ms"),
    pair(`journey p99 at ${fmt(rate)}/s`, "rate", "journey.p99", "ms"),
    errors("rate"),
    pair(
      `1 s gateway: confirmed checkouts/s (${fmt(get("e2e.gw1s.sat.shoppers"))} shoppers, closed loop)`,
      "gw1s.sat",
      "checkoutsPerSec",
      ""
    ),
    pair("1 s gateway: POST /v1/checkout p99 at that saturation", "gw1s.sat", "checkout.p99", "ms"),
    pair("1 s gateway: highest RSS", "gw1s.sat", "rss.max", "MB"),
    errors("gw1s.sat"),
    pair(`1 s gateway: POST /v1/checkout p50 at ${fmt(rate)}/s`, "gw1s.rate", "checkout.p50", "ms"),
    pair(`1 s gateway: POST /v1/checkout p99 at ${fmt(rate)}/s`, "gw1s.rate", "checkout.p99", "ms"),
    pair(`1 s gateway: journey p99 at ${fmt(rate)}/s`, "gw1s.rate", "journey.p99", "ms"),
    errors("gw1s.rate"),
    `| USD per million orders at saturation ($${fmt(get("e2e.cost.assumedUsdPerHour"))}/h; seed: $${SEED_USD_PER_MILLION}) | ${fmt(get("e2e.cost.till.usdPerMillionOrders"))} | ${fmt(get("e2e.cost.baseline.usdPerMillionOrders"))} | |`,
    "",
    "Targets (issue 18): Till / baseline at saturation " +
      `${fmt(get("e2e.sat.tillOverBaseline"))} (target >= ${TARGET_RATIO}); Till at saturation ${fmt(get("e2e.sat.till.checkoutsPerSec"))}/s ` +
      `(target >= ${TARGET_PER_SEC}); Till's checkout p99 at ${fmt(rate)}/s ${fmt(get("e2e.rate.till.checkout.p99"))} ms (target < ${TARGET_P99_MS}).`,
    "",
    "| name | value | unit | baseline | ratio |",
    "|---|---:|---|---|---:|",
    ...all.map(
      (r) =>
        `| ${r.name} | ${fmt(r.value)} | ${r.unit} | ${r.baseline ?? ""} | ${fmt(r.ratio ?? undefined)} |`
    )
  ]
  return `${lines.join("\n")}\n`
}
