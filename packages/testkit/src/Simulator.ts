/**
 * A deterministic checkout simulator: one seed drives a whole simulated world (shoppers, an
 * operator, background jobs, faults, process crashes, virtual time) over Till's core services
 * on the in-memory ports, and DESIGN.md §3's invariants are checked while it runs and at its
 * end. The same seed replays the same run exactly, trace line for trace line.
 *
 * ```ts
 * const result = Simulator.runSync({ seed: 42 })
 * if (result.violations.length > 0) console.log(Simulator.report(result))
 * ```
 *
 * From the shell: `pnpm sim --seeds 1000` (CI), `pnpm sim --seed 42` (replay one, with its
 * trace), `pnpm sim --seeds 20 --planted unconditionalReservation` (the self-check).
 *
 * Planted bugs (`plantedBugs`) swap in known-broken port implementations, to show that the
 * simulator finds what it claims to find; never use them for anything else.
 */
import { Effect } from "effect"
import type { Violation } from "./internal/simInvariants.js"
import type { ExternalPorts } from "./internal/simWorld.js"
import { type Outcome, runOnce, runOnceWith, type Stats } from "./internal/simRun.js"
import type { PlantedBug, Scenario } from "./internal/simScenario.js"
import { defaults as scenarioDefaults } from "./internal/simScenario.js"
import { shrink as shrinkScenario } from "./internal/simShrink.js"

export {
  type FaultClass,
  faultClasses,
  type PlantedBug,
  plantedBugs,
  type Scenario
} from "./internal/simScenario.js"
export { type Invariant, invariants, type StoreProbes, type Violation } from "./internal/simInvariants.js"
export type { Stats } from "./internal/simRun.js"
export type { ExternalPorts } from "./internal/simWorld.js"

/** The default world: 100 users, 12 SKUs, 5 simulated minutes, every fault class. */
export const defaultScenario: Scenario = scenarioDefaults

export interface RunOptions {
  readonly seed: number
  readonly scenario?: Partial<Scenario> | undefined
  readonly plantedBugs?: ReadonlyArray<PlantedBug> | undefined
  /** Keep the whole trace (`"full"`, for a replay) or only its last lines (default 200). */
  readonly trace?: "full" | number | undefined
}

export interface Result {
  readonly seed: number
  readonly scenario: Scenario
  readonly plantedBugs: ReadonlyArray<PlantedBug>
  /** Empty when the run kept every invariant. */
  readonly violations: ReadonlyArray<Violation>
  /** The kept lines of the trace (all of them with `trace: "full"`). */
  readonly trace: ReadonlyArray<string>
  /**
   * How the first violation came about: the trace lines about the orders, carts and users it
   * names (and the crashes), then the last lines before it.
   */
  readonly story: ReadonlyArray<string>
  /** What the stores and the gateway know about the orders the violations name (audit log, reservation, charges). */
  readonly evidence: ReadonlyArray<string>
  /** A digest of every trace line: equal digests, equal runs. */
  readonly traceDigest: string
  readonly stats: Stats
  /** The shell command that replays this run. */
  readonly replay: string
}

/** Runs one seed to its end, synchronously (virtual time; no real timers). */
export const runSync = (options: RunOptions): Result => {
  const scenario: Scenario = { ...scenarioDefaults, ...options.scenario }
  const planted = options.plantedBugs ?? []
  // No stack traces: no trace line uses one, and with them every error a faulty world fails
  // with and every `Effect.fn` call (which records its call site) captures one: runs took 20 %
  // more CPU with Node's default limit (measured on seeds 1-20, Effect 4.1).
  const stackTraceLimit = Error.stackTraceLimit
  Error.stackTraceLimit = 0
  let outcome: ReturnType<typeof runOnce>
  try {
    outcome = runOnce(options.seed, scenario, planted, options.trace ?? 200)
  } finally {
    Error.stackTraceLimit = stackTraceLimit
  }
  return resultOf(options.seed, scenario, planted, outcome)
}

/**
 * Planted bugs that switch an in-memory store for a broken one: meaningless when those stores
 * come from outside (`runWith`). The others wrap whichever store is there, or live in memory
 * (the gateway, the rate limiter, carts, ids), and stay available.
 */
export const inMemoryStoreBugs: ReadonlyArray<PlantedBug> = [
  "unconditionalReservation",
  "twoOrdersPerCart",
  "relayIgnoresOrderBlocking",
  "idempotencyIgnoresToken"
]

/**
 * Runs one seed with the order, stock, catalog, idempotency, retry-queue and dead-letter stores
 * of `ports` (built outside, e.g. on Postgres) in place of the in-memory ones, the checks reading
 * them through `ports.probes`. Every store call runs outside the simulator and virtual time waits
 * for its answer (internal/simIo.ts); the same seed draws the same world, but the run is not
 * deterministic (the database decides which of two concurrent statements goes first).
 * @example const result = await Simulator.runWith({ seed: 7, ports })
 */
export const runWith = async (options: RunOptions & { readonly ports: ExternalPorts }): Promise<Result> => {
  const scenario: Scenario = { ...scenarioDefaults, ...options.scenario }
  const planted = options.plantedBugs ?? []
  const inMemoryOnly = planted.filter((bug) => inMemoryStoreBugs.includes(bug))
  if (inMemoryOnly.length > 0)
    throw new Error(`planted bugs ${inMemoryOnly.join(", ")} switch in-memory stores: not with outside ports`)
  const outcome = await runOnceWith(options.seed, scenario, planted, options.trace ?? 200, options.ports)
  return resultOf(options.seed, scenario, planted, outcome)
}

const resultOf = (
  seed: number,
  scenario: Scenario,
  planted: ReadonlyArray<PlantedBug>,
  outcome: Outcome
): Result => {
  const { violations, evidence, trace, stats } = outcome
  const first = violations[0]
  return {
    seed,
    scenario,
    plantedBugs: planted,
    violations,
    trace: trace.kept,
    story: first === undefined ? [] : storyOf(trace.all, first),
    evidence,
    traceDigest: trace.digest,
    stats,
    replay: replayCommand(seed, scenario, planted)
  }
}

/**
 * Runs one seed to its end.
 * @example const result = yield* Simulator.run({ seed: 7, scenario: { users: 20 } })
 */
export const run = (options: RunOptions): Effect.Effect<Result> => Effect.sync(() => runSync(options))

export interface ManyOptions {
  /** How many seeds: `firstSeed`, `firstSeed + 1`, ... */
  readonly seeds: number
  readonly firstSeed?: number | undefined
  readonly scenario?: Partial<Scenario> | undefined
  readonly plantedBugs?: ReadonlyArray<PlantedBug> | undefined
  /** Stop after this many failing seeds (default: never). */
  readonly maxFailures?: number | undefined
  /** Called after each run (progress bars, logs). */
  readonly onResult?: ((result: Result, done: number) => void) | undefined
}

export interface Summary {
  readonly runs: number
  readonly passed: number
  readonly failed: ReadonlyArray<Result>
  readonly wallMs: number
  readonly runsPerSecond: number
}

/**
 * A turn of the host's event loop: a run blocks it for a fifth of a second, and a test runner or
 * a progress bar needs to breathe between runs (`Effect.yieldNow` only yields to other fibers).
 */
const macrotask = Effect.callback<void>((resume) => {
  const timer = setTimeout(() => resume(Effect.void), 0)
  return Effect.sync(() => clearTimeout(timer))
})

/** Runs many seeds one after the other, yielding to the event loop between runs. */
export const runMany = (options: ManyOptions): Effect.Effect<Summary> =>
  Effect.gen(function* () {
    const first = options.firstSeed ?? 1
    const failed: Array<Result> = []
    const started = performance.now()
    let runs = 0
    for (let seed = first; seed < first + options.seeds; seed++) {
      const result = runSync({ seed, scenario: options.scenario, plantedBugs: options.plantedBugs })
      runs++
      if (result.violations.length > 0) failed.push(result)
      options.onResult?.(result, runs)
      if (failed.length >= (options.maxFailures ?? Number.POSITIVE_INFINITY)) break
      yield* macrotask
    }
    const wallMs = performance.now() - started
    return { runs, passed: runs - failed.length, failed, wallMs, runsPerSecond: runs / (wallMs / 1000) }
  })

/** A smaller run of the same seed failing the same invariant (fewer users, a shorter day ...). */
export const shrink = (result: Result, budget = 40): Result => {
  const target = result.violations[0]
  if (target === undefined) return result
  const focus = [...new Set(result.story.flatMap((line) => line.match(/\] u(\d{3})\//)?.slice(1) ?? []))].map(
    Number
  )
  const shrunk = shrinkScenario(
    result.scenario,
    target.invariant,
    focus.sort((a, b) => a - b),
    (scenario) =>
      runSync({ seed: result.seed, scenario, plantedBugs: result.plantedBugs, trace: 1 }).violations.map(
        (v) => v.invariant
      ),
    budget
  )
  return runSync({
    seed: result.seed,
    scenario: shrunk.scenario,
    plantedBugs: result.plantedBugs,
    trace: "full"
  })
}

const idPattern = /\b(?:ord|cart|pm)_[0-9a-z]{20}\b/g
const userPattern = /\bu\d{3}\b/g

/** The lines about what the violation names, then the last lines before it. */
const storyOf = (lines: ReadonlyArray<string>, violation: Violation): ReadonlyArray<string> => {
  const before = lines.slice(0, violation.traceAt)
  const ids = violation.detail.match(idPattern) ?? []
  const users = new Set(violation.detail.match(userPattern) ?? [])
  for (const line of before) {
    if (ids.some((id) => line.includes(id))) for (const user of line.match(userPattern) ?? []) users.add(user)
  }
  const about = (line: string) =>
    ids.some((id) => line.includes(id)) ||
    [...users].some((user) => line.includes(`] ${user}/`)) ||
    / CRASH | process \d+ started/.test(line)
  const related = before.slice(0, -8).filter(about).slice(-40)
  const last = before.slice(-8)
  return related.length === 0 ? before.slice(-40) : [...related, "...", ...last]
}

/** `pnpm sim --seed 42 --users 20 ...`: only the options that differ from the defaults. */
export const replayCommand = (
  seed: number,
  scenario: Scenario,
  planted: ReadonlyArray<PlantedBug> = []
): string => {
  const parts = ["pnpm sim", `--seed ${seed}`]
  const d = scenarioDefaults
  if (scenario.processes !== d.processes) parts.push(`--processes ${scenario.processes}`)
  if (scenario.users !== d.users) parts.push(`--users ${scenario.users}`)
  if (scenario.flashSaleBuyers !== d.flashSaleBuyers) parts.push(`--flash ${scenario.flashSaleBuyers}`)
  if (scenario.impatientShare !== d.impatientShare) parts.push(`--impatient ${scenario.impatientShare}`)
  if (scenario.recoveryEveryMs !== d.recoveryEveryMs)
    parts.push(`--recovery-every-seconds ${scenario.recoveryEveryMs / 1000}`)
  if (scenario.onlyUsers !== undefined) parts.push(`--only-users ${scenario.onlyUsers.join(",")}`)
  if (scenario.durationMs !== d.durationMs) parts.push(`--minutes ${scenario.durationMs / 60_000}`)
  if (scenario.skus !== d.skus) parts.push(`--skus ${scenario.skus}`)
  if (scenario.sessionsMax !== d.sessionsMax) parts.push(`--sessions ${scenario.sessionsMax}`)
  if (scenario.stockMin !== d.stockMin || scenario.stockMax !== d.stockMax) {
    parts.push(`--stock ${scenario.stockMin}-${scenario.stockMax}`)
  }
  if (scenario.popularitySkew !== d.popularitySkew) parts.push(`--skew ${scenario.popularitySkew}`)
  if (scenario.disabledFaults.length > 0) parts.push(`--disable ${scenario.disabledFaults.join(",")}`)
  if (scenario.holdMs !== d.holdMs) parts.push(`--hold-seconds ${scenario.holdMs / 1000}`)
  if (scenario.editCartBeforeRetry !== d.editCartBeforeRetry)
    parts.push(scenario.editCartBeforeRetry ? "--edit-before-retry" : "--no-edit-before-retry")
  if (scenario.scheduling !== d.scheduling) parts.push(`--scheduling ${scenario.scheduling}`)
  for (const bug of planted) parts.push(`--planted ${bug}`)
  return parts.join(" ")
}

/** A failing run, readable: its violations, the replay command, the trace before the first violation. */
export const report = (result: Omit<Result, "trace">): string => {
  if (result.violations.length === 0) return `seed ${result.seed}: ok (${result.stats.orders} orders)`
  const lines = [
    `seed ${result.seed}: ${result.violations.length} violation(s)`,
    ...result.violations
      .slice(0, 10)
      .map((v) => `  ${v.invariant} at ${(v.atMs / 1000).toFixed(3)}s: ${v.detail}`),
    `  replay: ${result.replay}`,
    "  how it came about (trace):",
    ...result.story.map((line) => `    ${line}`),
    ...(result.evidence.length > 0
      ? ["  what the stores and the gateway hold:", ...result.evidence.map((l) => `    ${l}`)]
      : [])
  ]
  return lines.join("\n")
}
