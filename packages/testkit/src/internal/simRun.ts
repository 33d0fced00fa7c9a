/**
 * One simulated run, start to end, on the deterministic executor:
 *   1. draw the catalog and the fault plan from the seed; build the world; start process 1;
 *   2. shop: shoppers, the operator and the fault timeline run while the driver ticks
 *      (`tickMs`), checking the continuous invariants each tick and stopping at a violation;
 *   3. settle: shoppers and faults stop, a crashed process is restarted, and the jobs run until
 *      every order is terminal, every hold settled, the outbox drained and every charge kept or
 *      its refund written on its order (or `settleMaxMs`);
 *   4. check the end-of-run invariants.
 * Everything random comes from `Prng.make(seed)` and its named sub-streams; ids and the fake
 * gateway get seeds drawn from it; Effect's own `Random` is seeded from it too.
 */
import { Address, Checkout, type Order, type Sku } from "@till/core"
import { Cause, Effect, Exit, FiberSet, Logger, Random, References, Schema } from "effect"
import { cardNumbers, type Env, flashBuyer, flashSku, operator, shopper } from "./simActors.js"
import {
  calmGateway,
  describePlan,
  drawPlan,
  gatewayTimeline,
  StoreFaults,
  type TimedAction
} from "./simFaults.js"
import { Checker, orderOfKey, Ledger, type Violation } from "./simInvariants.js"
import { Prng, zipf } from "./simPrng.js"
import type { ExternalIo } from "./simIo.js"
import {
  type Limits,
  type Outcome as RunOutcome,
  runDeterministic,
  runWithIo,
  type SimClock
} from "./simRuntime.js"
import type { PlantedBug, Scenario } from "./simScenario.js"
import { Trace } from "./simTrace.js"
import * as World from "./simWorld.js"

/** 2025-01-01T00:00:00Z: ISO timestamps in the trace read like dates, and cards expiring 2030 are valid. */
export const startMs = Date.UTC(2025, 0, 1)

const settleTickMs = 5_000
/** The full stock accounting (a walk over every reservation) runs every this many ticks. */
const accountingEveryTicks = 15

export interface Stats {
  readonly virtualMs: number
  readonly wallMs: number
  readonly schedulerTasks: number
  /** Steps of Effect's run loop (each asks the scheduler whether to yield): the run's work, machine-independent. */
  readonly runtimeSteps: number
  readonly requests: number
  readonly unreachable: number
  readonly processes: number
  readonly orders: number
  readonly confirmed: number
  readonly paymentFailed: number
  readonly expired: number
  readonly charges: number
  readonly refunds: number
  readonly settleMs: number
}

export interface Outcome {
  readonly violations: ReadonlyArray<Violation>
  /** What the stores know about the orders the violations name. */
  readonly evidence: ReadonlyArray<string>
  readonly trace: Trace
  readonly stats: Stats
}

const address = Schema.decodeUnknownSync(Address.Address)({
  name: "Sim Shopper",
  line1: "1 Simulation Way",
  city: "Springfield",
  postal_code: "12345",
  country: "US"
})

const drawProducts = (p: Prng, scenario: Scenario) => [
  ...Array.from({ length: scenario.skus }, (_, i) => ({
    sku: `sku-${String(i + 1).padStart(2, "0")}`,
    priceMinor: p.int(5, 200) * 100 - 1,
    onHand: p.int(scenario.stockMin, scenario.stockMax)
  })),
  // The flash sale's product: a few units for a crowd (drawn from a stream of its own).
  ...(scenario.flashSaleBuyers > 0
    ? [
        {
          sku: flashSku,
          priceMinor: p.fork("flash").int(10, 50) * 100 - 1,
          onHand: p.fork("flash-stock").int(1, 5)
        }
      ]
    : [])
]

const terminal: ReadonlySet<Order.OrderStatus> = new Set([
  "confirmed",
  "payment_failed",
  "cancelled",
  "expired"
])

/** Runs one seed; synchronous (the executor drives virtual time). */
export const runOnce = (
  seed: number,
  scenario: Scenario,
  planted: ReadonlyArray<PlantedBug>,
  keep: number | "full"
): Outcome => {
  const run = prepare(seed, scenario, planted, keep)
  return run.finish(runDeterministic((clock) => run.main(clock, undefined), run.limits))
}

/**
 * Runs one seed with the stores of `ports` (a database) in place of the in-memory ones: the same
 * world, on the loop that waits for their answers (simIo.ts). Not deterministic (see simIo.ts).
 */
export const runOnceWith = async (
  seed: number,
  scenario: Scenario,
  planted: ReadonlyArray<PlantedBug>,
  keep: number | "full",
  ports: World.ExternalPorts
): Promise<Outcome> => {
  const run = prepare(seed, scenario, planted, keep)
  return run.finish(await runWithIo((clock, io) => run.main(clock, { ports, io }), run.limits))
}

interface Prepared {
  readonly limits: Limits
  readonly main: (
    clock: SimClock,
    external: { readonly ports: World.ExternalPorts; readonly io: ExternalIo } | undefined
  ) => Effect.Effect<Exit.Exit<void, unknown>>
  readonly finish: (run: {
    readonly outcome: RunOutcome<Exit.Exit<void, unknown>, never>
    readonly tasksRun: number
    readonly steps: number
    readonly endMs: number
  }) => Outcome
}

/** Everything of a run but its executor: the world's program, its limits, and how its outcome reads. */
const prepare = (
  seed: number,
  scenario: Scenario,
  planted: ReadonlyArray<PlantedBug>,
  keep: number | "full"
): Prepared => {
  const wallStart = performance.now()
  let clock: SimClock | undefined
  const nowMs = () => clock?.nowMs ?? startMs
  // Effect's own sleep (on the virtual clock): a sleep of the clock itself measured 2 % fewer
  // runtime steps, not worth a second way to wait.
  const sleep = (ms: number) => Effect.sleep(Math.max(0, Math.round(ms)))
  const trace = new Trace(nowMs, startMs, keep)
  // The seed's limits as literals (DESIGN.md §4), never read from the code under test.
  const limits = { checkout: { limit: 10, windowMs: 60_000 }, payment: { limit: 5, windowMs: 60_000 } }
  const ledger = new Ledger()
  const prng = Prng.make(seed)
  const plan = drawPlan(prng.fork("faults"), scenario, startMs)
  const faults = new StoreFaults(plan, nowMs)
  const products = drawProducts(prng.fork("catalog"), scenario)
  const checker = new Checker(
    trace,
    nowMs,
    startMs,
    limits,
    cardNumbers,
    new Map(products.map((p) => [p.sku, p.priceMinor]))
  )
  let world: World.World | undefined
  let settleMs = 0
  let evidence: ReadonlyArray<string> = []
  /** The orders and charges at the end, for the stats (read before the world's scope closes). */
  let last: { orders: ReadonlyArray<Order.Order>; charges: number; refunds: number } | undefined
  let external: Parameters<Prepared["main"]>[1]

  const program = Effect.gen(function* () {
    trace.add(
      `seed ${seed}: ${scenario.onlyUsers === undefined ? scenario.users : `${scenario.onlyUsers.length} of ${scenario.users}`} users, ` +
        `${scenario.skus} skus, ${scenario.durationMs / 1000}s` +
        (planted.length > 0 ? `, planted: ${planted.join(", ")}` : "")
    )
    for (const p of products) trace.add(`stock ${p.sku} ${p.onHand} units at ${p.priceMinor}`)
    for (const line of describePlan(plan, startMs)) trace.add(line)

    const w = yield* World.make({
      seed: prng.fork("ids").seed(),
      processes: scenario.processes,
      recoveryStaleMs: scenario.recoveryStaleMs,
      recoveryEveryMs: scenario.recoveryEveryMs,
      idempotencyLeaseMs: scenario.idempotencyLeaseMs,
      checkout: { ...Checkout.defaults, holdMs: scenario.holdMs, retryWindowMs: scenario.retryWindowMs },
      planted,
      products,
      faults,
      ledger,
      checker,
      trace,
      sleep,
      external
    })
    world = w
    yield* w.start

    const skus: ReadonlyArray<Sku.Sku> = w.probes.skus.filter((sku) => sku !== flashSku)
    const env: Env = {
      world: w,
      trace,
      checker,
      scenario,
      root: prng,
      skus,
      popularity: zipf(skus.length, scenario.popularitySkew),
      address,
      startMs,
      sleep
    }
    const actors = yield* FiberSet.make<unknown, unknown>()
    const timeline: Array<TimedAction> = [
      ...(plan.gateway === undefined ? [] : gatewayTimeline(plan.gateway, w.gatewayControl, startMs)),
      ...plan.crashes.flatMap((c) => [
        { atMs: c.atMs, label: `crash of slot ${c.slot}`, run: w.crash(c.slot) },
        { atMs: c.atMs + c.downMs, label: "restart", run: w.start }
      ])
    ].sort((a, b) => a.atMs - b.atMs)
    yield* FiberSet.run(
      actors,
      Effect.forEach(
        timeline,
        (action) =>
          Effect.gen(function* () {
            yield* sleep(action.atMs - nowMs())
            if (action.label !== "crash" && action.label !== "restart") trace.add(`fault: ${action.label}`)
            yield* action.run
          }),
        { discard: true }
      )
    )
    yield* FiberSet.run(actors, operator(env))
    // The flash sale: at a drawn moment mid-run, a crowd arrives within a few seconds for the
    // flash product's few units (each buyer draws from a stream of its own).
    if (scenario.flashSaleBuyers > 0) {
      const saleAt =
        startMs +
        Math.floor(prng.fork("flash-at").float() * scenario.durationMs * 0.5 + scenario.durationMs * 0.2)
      for (let i = 0; i < scenario.flashSaleBuyers; i++)
        yield* FiberSet.run(actors, flashBuyer(env, i, saleAt))
    }
    for (let i = 0; i < scenario.users; i++) {
      if (scenario.onlyUsers === undefined || scenario.onlyUsers.includes(i))
        yield* FiberSet.run(actors, shopper(env, i))
    }

    const shopUntil = startMs + scenario.durationMs
    for (let tick = 1; nowMs() < shopUntil && !checker.failed; tick++) {
      yield* sleep(scenario.tickMs)
      yield* w.quiet(checker.tick(w.probes, ledger, tick % accountingEveryTicks === 0))
    }
    yield* FiberSet.clear(actors)
    if (checker.failed) {
      evidence = yield* w.quiet(checker.evidence(w.probes))
      return
    }

    faults.active = false
    yield* w.gatewayControl.setFaults(calmGateway)
    trace.add("shop closed, faults stopped: settling")
    if (!w.isUp()) yield* w.start
    const settleFrom = nowMs()
    const settleUntil = settleFrom + scenario.settleMaxMs
    while (nowMs() < settleUntil && !checker.failed) {
      yield* sleep(settleTickMs)
      yield* w.quiet(checker.tick(w.probes, ledger, false))
      if (yield* w.quiet(settled(w, ledger))) break
    }
    settleMs = nowMs() - settleFrom
    trace.add(`settled after ${(settleMs / 1000).toFixed(0)}s: final checks`)
    if (!checker.failed) yield* w.quiet(checker.final(w.probes, ledger))
    if (checker.failed) evidence = yield* w.quiet(checker.evidence(w.probes))
  })

  /** Outside ports are read for the stats inside the run (they cannot be read synchronously after it). */
  const lastRead = Effect.suspend(() => {
    const w = world
    if (w === undefined || external === undefined) return Effect.void
    return w.quiet(
      Effect.gen(function* () {
        const charges = yield* w.probes.gateway.allCharges
        last = {
          orders: yield* w.probes.orders.orders,
          charges: charges.length,
          refunds: charges.filter((c) => c.status === "refunded").length
        }
      })
    )
  })

  const main: Prepared["main"] = (c, outside) => {
    clock = c
    external = outside
    // In memory the program is exactly as before (an extra step would move every later yield).
    const body = outside === undefined ? program : Effect.ensuring(program, Effect.ignore(lastRead))
    return Effect.scoped(body).pipe(
      Random.withSeed(prng.fork("effect-random").seed()),
      Effect.withTracerEnabled(false),
      Effect.provideService(Logger.CurrentLoggers, new Set([scanningLogger(checker)])),
      // Every level reaches the scanning logger: a card number in a debug line is one too.
      Effect.provideService(References.MinimumLogLevel, "All"),
      Effect.exit
    )
  }
  const runLimits: Limits = {
    shuffle: scenario.scheduling === "shuffled" ? prng.fork("scheduling") : undefined,
    startMs,
    maxTimeMs: startMs + scenario.durationMs + scenario.settleMaxMs + 5 * 60_000,
    // About 80,000 in a run of the default world.
    maxSteps: 100_000_000 // about 1,400 runs' worth: a livelocked seed stops in about a minute
  }
  const finish: Prepared["finish"] = (run) => {
    const outcome = run.outcome
    if (outcome._tag !== "Done") {
      checker.report(
        "liveness",
        outcome._tag === "Deadlock" ? "every fiber is blocked and none sleeps" : outcome.reason
      )
    } else if (Exit.isSuccess(outcome.exit) && Exit.isFailure(outcome.exit.value)) {
      checker.report("liveness", `the simulator's driver failed: ${String(outcome.exit.value.cause)}`)
    }
    return {
      violations: checker.violations,
      evidence,
      trace,
      stats: stats(
        world,
        external !== undefined,
        last,
        run.tasksRun,
        run.steps,
        run.endMs,
        wallStart,
        settleMs
      )
    }
  }
  return { limits: runLimits, main, finish }
}

/**
 * Every order terminal, every hold settled, the outbox drained, no request running, and the money
 * settled: no capture on its way, every captured charge kept by its order, every refund written.
 */
const settled = (w: World.World, ledger: Ledger) =>
  Effect.gen(function* () {
    if (w.inFlight() > 0) return false
    for (const o of yield* w.probes.orders.orders) if (!terminal.has(o.status)) return false
    for (const r of yield* w.probes.stock.allReservations) {
      if (r.status === "held" && ledger.reservedOrders.has(r.order_id)) return false
    }
    if ((yield* w.probes.orders.pending) > 0) return false
    // Money settles too: no capture on its way, and every captured charge kept by its order.
    if ((yield* w.probes.gateway.lateCaptures).length > 0) return false
    const orders = new Map((yield* w.probes.orders.orders).map((o) => [o.order_id, o]))
    for (const c of yield* w.probes.gateway.allCharges) {
      const order = orders.get(orderOfKey(c.idempotency_key))
      if (
        c.status === "succeeded" &&
        (order?.status !== "confirmed" || order.payment?.charge_id !== c.charge_id)
      )
        return false
      // A refund not yet written on its order: a retry is owed (its step may have met an outage,
      // its next try a backoff of minutes). Judged after that try, not before it.
      if (c.status === "refunded" && order !== undefined && order.payment?.status !== "refunded") return false
    }
    return true
  })

/** Log lines are data too: a card number in one is a violation. Nothing is printed. */
const scanningLogger = (checker: Checker) =>
  Logger.make(({ message, cause }) => {
    const parts = Array.isArray(message) ? message : [message]
    const text = parts.map(logText).join(" ")
    checker.scanText(cause.reasons.length === 0 ? text : `${text} ${Cause.pretty(cause)}`, "a log line")
  })

/** A logged value as a log sink would write it: strings as they are, anything else as JSON. */
const logText = (value: unknown): string => {
  if (typeof value === "string") return value
  try {
    return JSON.stringify(value) ?? String(value)
  } catch {
    return String(value)
  }
}

const stats = (
  w: World.World | undefined,
  external: boolean,
  last: { orders: ReadonlyArray<Order.Order>; charges: number; refunds: number } | undefined,
  tasks: number,
  steps: number,
  endMs: number,
  wallStart: number,
  settleMs: number
): Stats => {
  // In memory the stores are read after the run, synchronously, as they stand.
  const inMemory = () => {
    const charges = w === undefined ? [] : Effect.runSync(w.probes.gateway.allCharges)
    return {
      orders: w === undefined ? [] : Effect.runSync(w.probes.orders.orders),
      charges: charges.length,
      refunds: charges.filter((c) => c.status === "refunded").length
    }
  }
  // Outside ports cannot be read here: a run that did not end (`last` unset) counts nothing.
  const { orders, charges, refunds } =
    last ?? (external ? { orders: [], charges: 0, refunds: 0 } : inMemory())
  const count = (status: Order.OrderStatus) => orders.filter((o) => o.status === status).length
  return {
    virtualMs: endMs - startMs,
    wallMs: performance.now() - wallStart,
    schedulerTasks: tasks,
    runtimeSteps: steps,
    requests: w?.stats.requests ?? 0,
    unreachable: w?.stats.unreachable ?? 0,
    processes: w?.stats.processes ?? 0,
    orders: orders.length,
    confirmed: count("confirmed"),
    paymentFailed: count("payment_failed"),
    expired: count("expired"),
    charges,
    refunds,
    settleMs
  }
}
