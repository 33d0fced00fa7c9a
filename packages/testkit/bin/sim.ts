/**
 * `pnpm sim`: the checkout simulator from the shell.
 *
 * Usage and options: `usage` below (`pnpm sim --help`).
 *
 * The last line is always `sim: <passed> passed, <failed> failed`; the exit code is 1 when a
 * seed failed (or, with --planted, when the planted bug was NOT found).
 *
 * `pnpm sim` runs Node with `--single-threaded` (V8 only: no GC or compiler helper threads). One
 * worker per core already keeps every core busy, so those threads could only take turns with the
 * workers; on Effect 4 `pnpm sim --seeds 1000` measured 27.4 and 30.4 runs/s with the flag against
 * 25.7 and 26.9 without (alternating runs, 2026-12-01).
 *
 * It also starts V8's young generation at its largest (`--min-semi-space-size=64
 * --max-semi-space-size=64`, MB; the flags reach the workers' isolates). A run keeps its whole
 * world alive for its ~100 ms, and with the default semi-spaces (starting at 1 MB, growing slowly)
 * much of it was copied into the old generation before it died: `pnpm sim --seeds 200` in the old
 * world on two workers took 32.4, 37.6, 28.0, 39.1 and 38.7 s of CPU against 25.1, 29.9, 23.2, 23.9
 * and 29.1 s with the flags (alternating runs on the shared 2-core box, median ratio 0.77), and
 * peaked at 1.0 GB of RSS instead of 1.4 GB. Traces and digests are unchanged (seeds 1-30, both worlds).
 */
import { registerHooks } from "node:module"
import { availableParallelism } from "node:os"
import { fileURLToPath, pathToFileURL } from "node:url"
import { parseArgs } from "node:util"
import { isMainThread, parentPort, Worker, workerData } from "node:worker_threads"
import type * as Sim from "../src/Simulator.js"

// Resolve @till/core to its TypeScript sources, as vitest does: `pnpm sim` must simulate the
// code in the working tree, not a possibly stale build in dist/.
const coreSource = pathToFileURL(fileURLToPath(new URL("../../core/src/index.ts", import.meta.url))).href
registerHooks({
  resolve: (specifier, context, next) => next(specifier === "@till/core" ? coreSource : specifier, context)
})

const Simulator = await import("../src/Simulator.js")

const usage = `pnpm sim: the checkout simulator.

  pnpm sim --seeds 1000             CI: seeds 1..1000, progress on stderr, a summary line
  pnpm sim --seeds 10000            nightly
  pnpm sim --seed 42                replay one seed, printing its whole trace
  pnpm sim --seeds 20 --planted unconditionalReservation
                                    self-check: a planted bug must be found

Options:
  --from N                   first seed
  --processes N              Till processes sharing the stores (default 3)
  --flash N                  flash-sale buyers (default 30; 0: no sale)
  --impatient X              share of shoppers who stop waiting after 2-8 s (default 0.3)
  --recovery-every-seconds N each process's sweeper (default 10)
  --users N, --minutes N, --skus N, --sessions N, --stock MIN-MAX, --skew X, --hold-seconds N
  --disable a,b              fault classes to turn off
  --planted NAME             a planted bug (repeatable); --list-planted lists them
  --no-edit-before-retry     shoppers never edit the cart before retrying (they do by default)
  --only-users 3,17          only these shoppers shop (what --shrink prints)
  --scheduling fifo|shuffled ready fibers in scheduling order, or (default) in an order drawn
                             from the seed
  --shrink                   shrink the failing seeds shown
  --show N                   failing seeds printed in full (default 3)
  --workers N                worker threads (default: the machine's cores)
  --help                     this text
`

if (!isMainThread) {
  // A worker: runs the seeds it is sent, answers each with the result minus its trace.
  const { scenario, planted } = workerData as {
    scenario: Sim.Scenario
    planted: Array<Sim.PlantedBug>
  }
  parentPort!.on("message", (seed: number) => {
    const { trace: _trace, ...brief } = Simulator.runSync({ seed, scenario, plantedBugs: planted })
    parentPort!.postMessage(brief)
  })
} else {
  await main()
}

async function main() {
  const { values } = parsed(() =>
    parseArgs({
      options: {
        seeds: { type: "string" },
        seed: { type: "string" },
        from: { type: "string" },
        users: { type: "string" },
        processes: { type: "string" },
        flash: { type: "string" },
        impatient: { type: "string" },
        "recovery-every-seconds": { type: "string" },
        minutes: { type: "string" },
        skus: { type: "string" },
        sessions: { type: "string" },
        stock: { type: "string" },
        skew: { type: "string" },
        "hold-seconds": { type: "string" },
        "edit-before-retry": { type: "boolean" },
        "only-users": { type: "string" },
        scheduling: { type: "string" },
        "list-planted": { type: "boolean" },
        disable: { type: "string" },
        planted: { type: "string", multiple: true },
        shrink: { type: "boolean" },
        show: { type: "string" },
        workers: { type: "string" },
        help: { type: "boolean", short: "h" }
      },
      strict: true,
      allowNegative: true
    })
  )
  if (values.help) {
    process.stdout.write(usage)
    process.exit(0)
  }

  const int = (name: string, text: string | undefined, fallback: number): number => {
    if (text === undefined) return fallback
    const n = Number(text)
    if (!Number.isSafeInteger(n) || n < 0) fail(`--${name} must be a whole number, got ${text}`)
    return n
  }

  /** A bad flag is a line on stderr and exit code 2, not a stack trace. */
  function parsed<A>(parse: () => A): A {
    try {
      return parse()
    } catch (error) {
      return fail(`${error instanceof Error ? error.message : String(error)} (pnpm sim --help)`)
    }
  }

  function fail(message: string): never {
    process.stderr.write(`sim: ${message}\n`)
    process.exit(2)
  }

  if (values["list-planted"]) {
    for (const bug of Simulator.plantedBugs) process.stdout.write(`${bug}\n`)
    process.exit(0)
  }
  if (values.scheduling !== undefined && values.scheduling !== "fifo" && values.scheduling !== "shuffled")
    fail(`--scheduling is fifo or shuffled, got ${values.scheduling}`)

  const planted = (values.planted ?? []).flatMap((p) => p.split(",")) as Array<Sim.PlantedBug>
  for (const bug of planted) {
    if (!Simulator.plantedBugs.includes(bug))
      fail(`unknown planted bug ${bug} (one of ${Simulator.plantedBugs.join(", ")})`)
  }
  const disabled = (values.disable?.split(",") ?? []).filter((d) => d !== "") as Array<Sim.FaultClass>
  for (const d of disabled) {
    if (!Simulator.faultClasses.includes(d))
      fail(`unknown fault class ${d} (one of ${Simulator.faultClasses.join(", ")})`)
  }
  const d = Simulator.defaultScenario
  const [stockMin, stockMax] = (values.stock ?? `${d.stockMin}-${d.stockMax}`)
    .split("-")
    .map((x) => int("stock", x, 0))
  const scenario: Sim.Scenario = {
    ...d,
    processes: int("processes", values.processes, d.processes),
    flashSaleBuyers: int("flash", values.flash, d.flashSaleBuyers),
    impatientShare: values.impatient === undefined ? d.impatientShare : Number(values.impatient),
    recoveryEveryMs:
      values["recovery-every-seconds"] === undefined
        ? d.recoveryEveryMs
        : int("recovery-every-seconds", values["recovery-every-seconds"], 0) * 1_000,
    users: int("users", values.users, d.users),
    durationMs: values.minutes === undefined ? d.durationMs : Math.round(Number(values.minutes) * 60_000),
    skus: int("skus", values.skus, d.skus),
    sessionsMax: int("sessions", values.sessions, d.sessionsMax),
    stockMin: stockMin ?? d.stockMin,
    stockMax: stockMax ?? d.stockMax,
    popularitySkew: values.skew === undefined ? d.popularitySkew : Number(values.skew),
    disabledFaults: disabled,
    holdMs:
      values["hold-seconds"] === undefined
        ? d.holdMs
        : int("hold-seconds", values["hold-seconds"], 0) * 1_000,
    editCartBeforeRetry: values["edit-before-retry"] ?? d.editCartBeforeRetry,
    scheduling: (values.scheduling as Sim.Scenario["scheduling"] | undefined) ?? d.scheduling,
    onlyUsers: values["only-users"]?.split(",").map((u) => int("only-users", u, 0))
  }
  if (!(scenario.durationMs > 0) || scenario.users < 1 || scenario.skus < 1 || scenario.processes < 1)
    fail("--processes, --users, --skus and --minutes must be positive")

  const out = (line: string) => process.stdout.write(`${line}\n`)
  const err = (line: string) => process.stderr.write(line)

  if (values.seed !== undefined) {
    // Replay one seed with its whole trace.
    const seed = int("seed", values.seed, 1)
    let result = Simulator.runSync({ seed, scenario, plantedBugs: planted, trace: "full" })
    if (values.shrink && result.violations.length > 0) result = Simulator.shrink(result)
    for (const line of result.trace) out(line)
    out("")
    out(Simulator.report(result))
    out(stats(result))
    finish(result.violations.length === 0 ? 1 : 0, result.violations.length === 0 ? 0 : 1, planted)
  } else {
    const seeds = int("seeds", values.seeds, 100)
    const first = int("from", values.from, 1)
    const show = int("show", values.show, 3)
    const workers = Math.max(1, Math.min(int("workers", values.workers, availableParallelism()), seeds))
    const tty = process.stderr.isTTY === true
    let violations = 0
    let lastLine = 0
    const totals = {
      orders: 0,
      confirmed: 0,
      paymentFailed: 0,
      expired: 0,
      charges: 0,
      refunds: 0,
      crashes: 0,
      requests: 0
    }
    const failed: Array<Brief> = []
    const started = performance.now()
    const onResult = (result: Brief, done: number) => {
      violations += result.violations.length
      const s = result.stats
      totals.orders += s.orders
      totals.confirmed += s.confirmed
      totals.paymentFailed += s.paymentFailed
      totals.expired += s.expired
      totals.charges += s.charges
      totals.refunds += s.refunds
      totals.crashes += s.processes - 1
      totals.requests += s.requests
      const now = performance.now()
      if (result.violations.length > 0) {
        failed.push(result)
        if (tty) err("\r\x1b[2K")
        out(`FAIL seed ${result.seed}: ${result.violations[0]!.invariant}: ${result.violations[0]!.detail}`)
        out(`  replay: ${result.replay}`)
      }
      if (tty || now - lastLine > 5_000 || done === seeds) {
        lastLine = now
        err(progress(done, seeds, now - started, violations, tty))
      }
    }
    await runInWorkers({ seeds, first, workers, scenario, planted }, onResult)
    const wallMs = performance.now() - started
    if (tty) err("\n")
    failed.sort((a, b) => a.seed - b.seed)
    for (const result of failed.slice(0, show)) {
      out("")
      out(
        Simulator.report(
          values.shrink
            ? Simulator.shrink(Simulator.runSync({ seed: result.seed, scenario, plantedBugs: planted }))
            : result
        )
      )
    }
    out(
      `sim: covered ${totals.requests} requests, ${totals.orders} orders (${totals.confirmed} confirmed, ` +
        `${totals.paymentFailed} payment_failed, ${totals.expired} expired), ${totals.charges} charges, ` +
        `${totals.refunds} refunds, ${totals.crashes} crashes`
    )
    out(
      `sim: ${seeds} seeds (${first}..${first + seeds - 1}) in ${(wallMs / 1000).toFixed(1)}s on ${workers} worker(s), ` +
        `${(seeds / (wallMs / 1000)).toFixed(1)} runs/s, ${violations} violations` +
        (planted.length > 0 ? ` (planted: ${planted.join(", ")})` : "")
    )
    finish(seeds - failed.length, failed.length, planted)
  }
}

/** What a worker sends back for one seed: a result without its (large) trace. */
type Brief = Omit<Sim.Result, "trace">

/** Runs the seeds on `workers` worker threads, each taking the next seed when it is done. */
function runInWorkers(
  job: {
    readonly seeds: number
    readonly first: number
    readonly workers: number
    readonly scenario: Sim.Scenario
    readonly planted: ReadonlyArray<Sim.PlantedBug>
  },
  onResult: (result: Brief, done: number) => void
): Promise<void> {
  return new Promise((resolve, reject) => {
    let next = job.first
    let done = 0
    let live = job.workers
    for (let i = 0; i < job.workers; i++) {
      const worker = new Worker(new URL(import.meta.url), {
        workerData: { scenario: job.scenario, planted: job.planted }
      })
      const feed = () => {
        if (next < job.first + job.seeds) worker.postMessage(next++)
        else void worker.terminate()
      }
      worker.on("message", (result: Brief) => {
        onResult(result, ++done)
        feed()
      })
      worker.on("error", reject)
      worker.on("exit", () => {
        if (--live === 0)
          done === job.seeds ? resolve() : reject(new Error(`workers stopped after ${done} seeds`))
      })
      feed()
    }
  })
}

function finish(passed: number, failed: number, planted: ReadonlyArray<string>): never {
  process.stdout.write(`sim: ${passed} passed, ${failed} failed\n`)
  // With a planted bug, finding it is the success.
  process.exit(planted.length > 0 ? (failed > 0 ? 0 : 1) : failed > 0 ? 1 : 0)
}

function progress(done: number, total: number, elapsedMs: number, violations: number, tty: boolean): string {
  const rate = done / (elapsedMs / 1000)
  const width = 30
  const filled = Math.round((done / total) * width)
  const eta = rate > 0 ? (total - done) / rate : 0
  const line =
    `sim [${"#".repeat(filled)}${".".repeat(width - filled)}] ${done}/${total}  ` +
    `${rate.toFixed(1)} runs/s  ${violations} violations  eta ${eta.toFixed(0)}s`
  return tty ? `\r\x1b[2K${line}` : `${line}\n`
}

function stats(result: Sim.Result): string {
  const s = result.stats
  return (
    `stats: ${s.orders} orders (${s.confirmed} confirmed, ${s.paymentFailed} payment_failed, ${s.expired} expired), ` +
    `${s.charges} charges, ${s.refunds} refunds, ${s.requests} requests (${s.unreachable} unreachable), ` +
    `${s.processes} process(es), virtual ${(s.virtualMs / 1000).toFixed(0)}s (settle ${(s.settleMs / 1000).toFixed(0)}s), ` +
    `${s.runtimeSteps} runtime steps, ${s.schedulerTasks} scheduler tasks, ${s.wallMs.toFixed(0)} ms wall, trace ${result.traceDigest}`
  )
}
