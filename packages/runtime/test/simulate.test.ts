/**
 * `till simulate`: a short embedded run reports series whose sums are its totals, every invariant
 * held, and a page with charts; a gateway storm shows queued 202s and an open breaker; bad
 * `--faults` specs and faults against `--target` are refused before anything runs; a store that
 * oversells fails the run with the demo's invariant checker (exit 1). On the live clock, as the
 * binary runs (about 15 s).
 */
import { mkdtempSync, readFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { expect, it } from "@effect/vitest"
import { Cause, Effect, Exit } from "effect"
import { describe } from "vitest"
import { capture, till } from "./support/cli.js"
import { InMemoryInventoryStore } from "@till/testkit"
import { Cli, Demo } from "@till/runtime"
import * as Simulate from "../src/Simulate.js"

const settings = (patch: Partial<Simulate.Settings>): Simulate.Settings => ({
  ...Simulate.Options.defaults,
  faults: [],
  ...patch
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
        expect(Object.values(json.orders ?? {}).reduce((a, b) => a + b, 0)).toBe(totals.started)

        const page = readFileSync(html, "utf8")
        expect(page).toMatch(/^<!doctype html>/)
        expect(page.match(/<svg /g)?.length).toBe(4)
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
        ["storm@1s+5s,storm@3s+1s", '"storm@3s+1s" overlaps "storm@1s+5s"']
      ] as const) {
        const { stdout, stderr, code } = yield* till("simulate", "--faults", spec)
        expect({ spec, code }).toEqual({ spec, code: 2 })
        expect(stderr).toContain(says)
        expect(stdout).not.toContain("till simulate —")
      }
      // Parsed, the good ones come back in order and print as they were written.
      expect(
        Simulate.Faults.parse("restart@30s,latency@20s+5s:800ms,storm@10s+5s").map(Simulate.Faults.format)
      ).toEqual(["storm@10s+5s", "latency@20s+5s:800ms", "restart@30s"])
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
        ...["--faults", "restart@2s"]
      )
      expect(code).toBe(1)
      expect(stderr).toContain("--faults restart@2s needs the embedded Till")
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
