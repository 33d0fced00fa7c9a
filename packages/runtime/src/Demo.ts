/**
 * `till demo`: seven scenarios on the embedded in-memory ports, each played through the real
 * HTTP API (in process) on a world of its own, then checked from the stores' and the gateway's
 * records (demo/Invariants.ts), never from the API's answers. It needs nothing but Node and ends
 * with a summary table; it fails (exit 1) when an invariant or a scenario's outcome did not hold.
 *
 * The scenarios, one module each under demo/: a checkout journey, a declined card paid again, a
 * double click, a flash sale, a payment-gateway outage, a crash and restart, an abandoned cart.
 */
import { Effect } from "effect"
import { performance } from "node:perf_hooks"
import * as Abandoned from "./demo/Abandoned.js"
import { describeStatuses, quantile } from "./demo/Client.js"
import * as Crash from "./demo/Crash.js"
import * as Declined from "./demo/Declined.js"
import * as DoubleClick from "./demo/DoubleClick.js"
import * as FlashSale from "./demo/FlashSale.js"
import { InvariantBroken } from "./demo/Invariants.js"
import * as Journey from "./demo/Journey.js"
import * as Outage from "./demo/Outage.js"
import * as Output from "./demo/Output.js"
import * as Scenario from "./demo/Scenario.js"

export { InvariantBroken } from "./demo/Invariants.js"
export * as Invariants from "./demo/Invariants.js"
export type { Scenario } from "./demo/Scenario.js"

/** Every scenario, in the order they run. */
export const scenarios: ReadonlyArray<Scenario.Scenario> = [
  Journey.scenario,
  Declined.scenario,
  DoubleClick.scenario,
  FlashSale.scenario,
  Outage.scenario,
  Crash.scenario,
  Abandoned.scenario
]

/** The scenarios' names, for `till demo --only`. */
export const names = scenarios.map((s) => s.name)

export interface Options {
  /** Runs only the scenarios of these names (default: all). */
  readonly only?: ReadonlyArray<string> | undefined
  /** Runs these instead of `scenarios` (a test gives one with a broken store). */
  readonly scenarios?: ReadonlyArray<Scenario.Scenario> | undefined
  /** Where to write (default: stdout, with a rewritten progress line on a terminal). */
  readonly out?: Output.Output | undefined
}

export interface Summary {
  readonly results: ReadonlyArray<Scenario.Result>
  /** Every check that did not hold, as `scenario: check (detail)`. */
  readonly broken: ReadonlyArray<string>
  readonly elapsedMs: number
}

const mark = (ok: boolean) => (ok ? "✓" : "✗")
const plural = (n: number, noun: string) => `${n} ${noun}${n === 1 ? "" : "s"}`
const ms = (n: number) => (n < 10 ? n.toFixed(1) : n.toFixed(0))

/** The summary table: per scenario, its requests, answers, latency and checks. */
export const summaryTable = (results: ReadonlyArray<Scenario.Result>): ReadonlyArray<string> =>
  Output.table([
    [
      "scenario",
      "requests",
      "answers",
      "p50 ms",
      "p99 ms",
      "no oversell",
      "≤1 charge/order",
      "all terminal",
      "outcome"
    ],
    ...results.map((r) => [
      r.title.split(":")[0]!,
      String(r.stats.requests),
      describeStatuses(r.stats.statuses),
      ms(quantile(r.stats.latenciesMs, 0.5)),
      ms(quantile(r.stats.latenciesMs, 0.99)),
      ...r.invariants.map((c) => mark(c.ok)),
      mark(r.expected.every((c) => c.ok))
    ])
  ])

/** Runs the scenarios and prints each result and the summary; fails `InvariantBroken` if a check broke. */
export const run = (options: Options = {}): Effect.Effect<Summary, InvariantBroken> =>
  Effect.gen(function* () {
    const out = options.out ?? Output.forStdout()
    const chosen = (options.scenarios ?? scenarios).filter(
      (s) => options.only === undefined || options.only.length === 0 || options.only.includes(s.name)
    )
    const started = performance.now()
    yield* out.line(
      "Till demo — embedded in-memory ports (no Postgres, Redis or Kafka), through the HTTP API in process"
    )
    yield* out.line(
      "Time is compressed: payment retries after 100/200 ms, the breaker waits 1.5 s open, the retry drainer polls every 200 ms, a cart idle for 2 s is abandoned."
    )
    const results: Array<Scenario.Result> = []
    for (const scenario of chosen) results.push(yield* Scenario.run(scenario, out))
    const broken = results.flatMap((r) =>
      [...r.expected, ...r.invariants]
        .filter((c) => !c.ok)
        .map((c) => `${r.title.split(":")[0]}: ${c.name} (${c.detail})`)
    )
    const elapsedMs = performance.now() - started
    const requests = results.reduce((sum, r) => sum + r.stats.requests, 0)
    yield* out.line("")
    for (const line of summaryTable(results)) yield* out.line(line)
    yield* out.line("")
    yield* out.line(
      "Invariants are read from the stores and the gateway after each scenario (stock levels and every reservation, every order, every money movement), not from the API's answers."
    )
    if (broken.length > 0) {
      for (const b of broken) yield* out.line(`✗ ${b}`)
      yield* out.line(
        `demo: ${plural(broken.length, "check")} broken in ${plural(results.length, "scenario")} (${(elapsedMs / 1000).toFixed(1)} s)`
      )
      return yield* Effect.fail(new InvariantBroken({ failed: broken }))
    }
    yield* out.line(
      `demo: ${plural(results.length, "scenario")}, ${plural(requests, "request")}, every invariant held (${(elapsedMs / 1000).toFixed(1)} s)`
    )
    return { results, broken, elapsedMs }
  })
