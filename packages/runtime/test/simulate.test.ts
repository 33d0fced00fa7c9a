/**
 * `till simulate`: a short embedded run reports series whose sums are its totals, every invariant
 * held, and a page with charts; a gateway storm shows queued 202s and an open breaker; Redis down
 * (on the real Redis through the simulator's proxy, and on the in-memory carts) answers 503 with
 * Retry-After for its window, never a 500, and checkouts succeed again after it; bad `--faults`
 * specs and faults against `--target` are refused before anything runs; a store that oversells
 * fails the run with the demo's invariant checker (exit 1). On the live clock, as the binary runs
 * (about 30 s; the Redis run is skipped locally without a Redis, and fails under CI=true).
 */
import { mkdtempSync, readFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { expect, it } from "@effect/vitest"
import { Cause, Effect, Exit, Redacted } from "effect"
import { describe } from "vitest"
import { capture, till } from "./support/cli.js"
import { describeServices, serviceUrl } from "./support/services.js"
import { InMemoryInventoryStore } from "@till/testkit"
import { Cli, Demo } from "@till/runtime"
import * as Simulate from "../src/Simulate.js"

const settings = (patch: Partial<Simulate.Settings>): Simulate.Settings => ({
  ...Simulate.Options.defaults,
  faults: [],
  ...patch
})

/** Statuses the simulator counts as answers, never errors (a 500 would be neither). */
const answersOnly = new Set(["201", "202", "402", "409", "429", "503"])

/**
 * What a `redis-down@1s+2s` run of 7 s must show, whatever holds the carts: 503s (with Retry-After:
 * a 503 without it counts as an error) and no 201 in the window's second full second, no error
 * anywhere, 201s and no 503 in the run's last two seconds, and every invariant held.
 */
const expectRedisDownRun = (report: Simulate.Report.Report, text: string) => {
  expect(text).toMatch(/t\+ *1\.\ds {2}redis-down@1s\+2s: Redis is down for 2s: /)
  expect(text).toMatch(/t\+ *3\.\ds {2}redis-down@1s\+2s: Redis is back/)
  expect(text).toMatch(/redis-down@1s\+2s: carts answer again through the API \d+ ms after the window/)
  expect(text).toMatch(/ {2}fault redis-down$/m)
  expect(report.faults).toEqual([
    { spec: "redis-down@1s+2s", kind: "redis-down", fromSeconds: 1, toSeconds: 3 }
  ])
  const { series, totals } = report
  expect(series[0]!.answered["201"]).toBeGreaterThan(0)
  expect(series[2]!.answered["503"]).toBeGreaterThan(0)
  expect(series[2]!.answered["201"]).toBeUndefined()
  expect(Object.keys(totals.answered).every((status) => answersOnly.has(status))).toBe(true)
  expect(totals.errors).toBe(0)
  expect(totals.unanswered).toBe(0)
  for (const s of series.slice(5, 7)) {
    expect(s.answered["201"]).toBeGreaterThan(0)
    expect(s.answered["503"]).toBeUndefined()
  }
  const [outage] = report.outages
  expect(outage!.spec).toBe("redis-down@1s+2s")
  expect(outage!.cartsAnswerAfterMs).not.toBeNull()
  expect(outage!.cartsAnswerAfterMs!).toBeLessThan(4_000)
  // Nothing oversold, nothing charged twice, every order ended; a confirmed order per 201.
  expect(report.invariants.map((c) => c.name)).toEqual(Demo.Invariants.names)
  expect(report.invariants.every((c) => c.ok)).toBe(true)
  expect(report.orders).toEqual({ confirmed: totals.answered["201"] })
}

const redisDownSettings = settings({
  durationSeconds: 7,
  ratePerSecond: 20,
  users: 140,
  skus: 3,
  declineRate: 0,
  drainSeconds: 10,
  faults: Simulate.Faults.parse("redis-down@1s+2s")
})

const sumOf = (series: ReadonlyArray<Simulate.Series.Second>, f: (s: Simulate.Series.Second) => number) =>
  series.reduce((total, s) => total + f(s), 0)

describe("till simulate", () => {
  it.live(
    "a 4-second embedded run: the series add up to the totals, every invariant holds, the page has charts",
    () =>
      Effect.gen(function* () {
        const dir = mkdtempSync(join(tmpdir(), "till-simulate-"))
        const report = join(dir, "report.json")
        const html = join(dir, "report.html")
        const { stdout, code } = yield* till(
          "simulate",
          ...["--duration", "4", "--rate", "8", "--users", "40", "--skus", "5", "--skew", "1.2"],
          ...["--decline-rate", "0.2", "--stock", "50", "--report", report, "--html", html]
        )
        expect(code).toBe(0)
        expect(stdout).toMatch(/^till simulate — embedded/m)
        expect(stdout).toMatch(/^ {3}… t\+1s {2}started \d+\/s {2}answers 201: \d+/m)
        expect(stdout).toMatch(/^✓ no oversell: /m)

        const json: Simulate.Report.Report = JSON.parse(readFileSync(report, "utf8"))
        expect(json.settings).toMatchObject({
          durationSeconds: 4,
          ratePerSecond: 8,
          users: 40,
          skus: 5,
          faults: []
        })
        const { series, totals } = json
        expect(series.length).toBeGreaterThanOrEqual(4)
        expect(totals.started).toBe(32)
        expect(sumOf(series, (s) => s.started)).toBe(totals.started)
        expect(sumOf(series, (s) => s.shed)).toBe(totals.shed)
        expect(sumOf(series, (s) => s.errors)).toBe(totals.errors)
        for (const status of new Set(series.flatMap((s) => Object.keys(s.answered))))
          expect(sumOf(series, (s) => s.answered[status] ?? 0)).toBe(totals.answered[status])
        expect(totals.answeredTotal).toBe(totals.started)
        expect(totals.unanswered).toBe(0)
        expect(totals.errors).toBe(0)
        expect(totals.answered["201"]).toBeGreaterThan(0)
        expect(totals.answered["402"]).toBeGreaterThan(0) // 20% declined cards
        expect(series.every((s) => s.breaker === "closed")).toBe(true)
        // The demo's own checker, on the stores' records.
        expect(json.invariantsChecked).toBe(true)
        expect(json.invariants.map((c) => c.name)).toEqual(Demo.Invariants.names)
        expect(json.invariants.every((c) => c.ok)).toBe(true)
        expect(json.ok).toBe(true)
        expect(json.carts).toBe("in-memory")
        expect(json.outages).toEqual([])
        expect(Object.values(json.orders ?? {}).reduce((a, b) => a + b, 0)).toBe(totals.started)

        const page = readFileSync(html, "utf8")
        expect(page).toMatch(/^<!doctype html>/)
        expect(page.match(/<svg /g)?.length).toBe(5)
        expect(page).not.toMatch(/<script|https?:\/\/(?!www\.w3\.org\/2000\/svg)/)
      }),
    30_000
  )

  it.live(
    "a gateway storm: checkouts answer 202 (payment queued), the breaker opens, the queue drains",
    () =>
      Effect.gen(function* () {
        const { lines, out } = capture()
        const report = yield* Simulate.run(
          settings({
            durationSeconds: 5,
            ratePerSecond: 10,
            users: 60,
            skus: 3,
            declineRate: 0,
            faults: Simulate.Faults.parse("storm@1s+2s")
          }),
          { out, tty: false }
        )
        const text = lines.join("\n")
        expect(text).toMatch(/t\+ *\d\.\ds {2}storm@1s\+2s: the gateway answers 503 for 2s/)
        expect(report.faults).toEqual([{ spec: "storm@1s+2s", kind: "storm", fromSeconds: 1, toSeconds: 3 }])
        const during = report.series.slice(1, 3)
        expect(during.some((s) => (s.answered["202"] ?? 0) > 0)).toBe(true)
        expect(report.series.some((s) => s.breaker === "open")).toBe(true)
        expect(report.series[0]!.breaker).toBe("closed")
        expect(report.totals.answered["202"]).toBeGreaterThan(0)
        expect(report.totals.paymentQueueDepthPeak).toBeGreaterThan(0)
        expect(report.totals.errors).toBe(0)
        // Drained: every queued order confirmed by the retry drainer, none charged twice.
        expect(report.orders).toEqual({ confirmed: report.totals.started })
        expect(report.invariants.every((c) => c.ok)).toBe(true)
      }),
    30_000
  )

  it.live(
    "Redis down on the in-memory carts: their store fails for the window (503 + Retry-After), then they answer again",
    () =>
      Effect.gen(function* () {
        const { lines, out } = capture()
        const report = yield* Simulate.run(redisDownSettings, { out, tty: false, redisUrl: undefined })
        const text = lines.join("\n")
        expect(report.carts).toBe("in-memory")
        expect(text).toContain("every cart call fails StoreUnavailable (in-memory carts")
        expectRedisDownRun(report, text)
        // No proxy, no connections to count.
        expect(report.outages[0]).toMatchObject({
          connectionsDropped: null,
          connectionsRefused: null,
          clientReadyAfterMs: null
        })
      }),
    30_000
  )

  it("a 503 is an honest answer only when it says when to come back", () => {
    expect(Simulate.Series.isError(503, { status: 503, retry_after: 5 })).toBe(false)
    expect(Simulate.Series.isError(503, { status: 503 })).toBe(true)
    expect(Simulate.Series.isError(503, undefined)).toBe(true)
    expect(Simulate.Series.isError(500, { retry_after: 5 })).toBe(true)
    expect(Simulate.Series.isError(201)).toBe(false)
  })

  it.live("redis-down needs a plain redis:// URL: the proxy cannot sit inside TLS", () =>
    Effect.gen(function* () {
      const { out } = capture()
      const exit = yield* Effect.exit(
        Simulate.run(redisDownSettings, { out, tty: false, redisUrl: Redacted.make("rediss://cache:6380/0") })
      )
      expect(Exit.isFailure(exit) && Cause.squash(exit.cause)).toBeInstanceOf(Simulate.SimulateRefused)
      expect(Exit.isFailure(exit) && String(Cause.squash(exit.cause))).toContain(
        "redis-down needs a redis:// REDIS_URL, not rediss://"
      )
    })
  )

  it.live("a bad --faults spec is a usage error naming the bad part, and nothing runs", () =>
    Effect.gen(function* () {
      for (const [spec, says] of [
        ["storm@10x+5s", '"storm@10x+5s": start "10x" is not a time'],
        ["storm@1s+2s,flood@3s+1s", 'unknown fault "flood"'],
        ["storm@1s", "a storm needs a length"],
        ["latency@1s+2s", "latency needs a length and a delay"],
        ["restart@2s+1s", "a restart takes only a time"],
        ["storm@1s+0s", 'length "0s" must be more than 0'],
        ["storm@1s+2s,,restart@3s", "an empty fault"],
        ["storm@1s+5s,storm@3s+1s", '"storm@3s+1s" overlaps "storm@1s+5s"'],
        ["redis-down@1s", "redis-down needs a length"],
        ["redis-down@1s+2s:5s", 'redis-down takes no ":5s"'],
        ["redis-down@1s+3s,redis-down@2s+1s", '"redis-down@2s+1s" overlaps "redis-down@1s+3s"'],
        ["redis@1s+2s", 'unknown fault "redis" (expected storm, latency, restart or redis-down)']
      ] as const) {
        const { stdout, stderr, code } = yield* till("simulate", "--faults", spec)
        expect({ spec, code }).toEqual({ spec, code: 2 })
        expect(stderr).toContain(says)
        expect(stdout).not.toContain("till simulate —")
      }
      // Parsed, the good ones come back in order and print as they were written.
      expect(
        Simulate.Faults.parse("restart@30s,redis-down@12s+1.5s,latency@20s+5s:800ms,storm@10s+5s").map(
          Simulate.Faults.format
        )
      ).toEqual(["storm@10s+5s", "redis-down@12s+1500ms", "latency@20s+5s:800ms", "restart@30s"])
      // A fault past the run's end is refused before anything runs.
      const late = yield* till("simulate", "--duration", "5", "--faults", "storm@4s+2s")
      expect(late.code).toBe(1)
      expect(late.stderr).toContain('--faults "storm@4s+2s" does not fit in the run\'s 5s')
      expect(late.stdout).not.toContain("till simulate —")
    })
  )

  it.live("--target with a fault is refused (the fault needs the embedded process), before any request", () =>
    Effect.gen(function* () {
      const { stdout, stderr, code } = yield* till(
        "simulate",
        ...["--target", "http://127.0.0.1:9", "--jwt-secret", "a-secret-of-32-characters-or-more!"],
        ...["--faults", "restart@2s,redis-down@3s+1s"]
      )
      expect(code).toBe(1)
      expect(stderr).toContain("--faults restart@2s,redis-down@3s+1s needs the embedded Till")
      expect(stderr).toContain("redis-down cuts it from its Redis")
      expect(stderr).toContain("drop --target or --faults")
      expect(stdout).not.toContain("till simulate —")
      const bad = yield* till("simulate", "--target", "ftp://till")
      expect(bad.code).toBe(2)
      expect(bad.stderr).toContain('"ftp://till" is not an http(s) URL')
    })
  )

  it.live("--help lists every knob; an unknown or out-of-range flag is a usage error", () =>
    Effect.gen(function* () {
      const help = yield* till("simulate", "--help")
      expect(help.code).toBe(0)
      for (const flag of [
        "--users",
        "--rate",
        "--duration",
        "--skus",
        "--skew",
        "--decline-rate",
        "--stock",
        "--faults",
        "--target",
        "--jwt-secret",
        "--report",
        "--html"
      ])
        expect(help.stdout).toContain(flag)
      expect(help.stdout).toContain("redis-down@AT+FOR")
      expect(help.stdout).not.toContain("till simulate —")
      const unknown = yield* till("simulate", "--nope")
      expect(unknown.code).toBe(2)
      expect(unknown.stderr).toContain("Unrecognized flag: --nope")
      for (const args of [
        ["--rate", "0"],
        ["--decline-rate", "1.5"],
        ["--users", "2.5"],
        ["--duration", "0"]
      ]) {
        const { stdout, code } = yield* till("simulate", ...args)
        expect({ args, code }).toEqual({ args, code: 2 })
        expect(stdout).not.toContain("till simulate —")
      }
    })
  )

  it.live("a store that oversells breaks `no oversell` (the demo's checker): InvariantBroken, exit 1", () =>
    Effect.gen(function* () {
      const { lines, out } = capture()
      const exit = yield* Effect.exit(
        Simulate.run(
          settings({
            durationSeconds: 2,
            ratePerSecond: 10,
            users: 20,
            skus: 1,
            stockPerSku: 3,
            declineRate: 0
          }),
          // The simulator's planted oversell: holds taken without the stock condition.
          {
            out,
            tty: false,
            world: { stores: { inventoryStore: InMemoryInventoryStore.layerUnconditional } }
          }
        )
      )
      expect(Cli.exitCode(exit)).toBe(1)
      expect(Exit.isFailure(exit) && Cause.squash(exit.cause)).toBeInstanceOf(Demo.InvariantBroken)
      expect(lines.join("\n")).toMatch(/^✗ no oversell: sku-1: received 3, sold \d+/m)
    })
  )
})

await describeServices(["redis"], "till simulate on the real Redis", () => {
  it.live(
    "Redis down through the simulator's proxy: 503 + Retry-After for the window, never a 500; the client reconnects and checkouts succeed again",
    () =>
      Effect.gen(function* () {
        const { lines, out } = capture()
        const report = yield* Simulate.run(redisDownSettings, {
          out,
          tty: false,
          redisUrl: Redacted.make(serviceUrl("redis"))
        })
        const text = lines.join("\n")
        expect(text).toMatch(
          /^till simulate — embedded, carts and rate limits on Redis \(REDIS_URL, through the simulator's proxy\)/
        )
        expect(text).toMatch(
          /Redis is down for 2s: the proxy reset [1-9]\d* connections? to Redis and refuses new ones/
        )
        expect(text).toMatch(/Redis is back \([1-9]\d* connection attempts refused while down\)/)
        expect(text).toMatch(/the Redis client reconnected after \d+ ms/)
        expect(report.carts).toBe("redis")
        expectRedisDownRun(report, text)
        const [outage] = report.outages
        // The client's connection was reset, and its reconnections (50 ms doubling) refused.
        expect(outage!.connectionsDropped).toBeGreaterThanOrEqual(1)
        expect(outage!.connectionsRefused).toBeGreaterThanOrEqual(2)
        expect(outage!.clientReadyAfterMs).not.toBeNull()
        expect(outage!.clientReadyAfterMs!).toBeLessThanOrEqual(outage!.cartsAnswerAfterMs!)
      }),
    30_000
  )
})
