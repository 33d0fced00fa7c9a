/**
 * Faults of a simulated run: the plan (drawn from the seed before the run starts, so it is
 * printed in the trace and replayed exactly) and the generic fault-injecting wrapper that the
 * world puts around every store port.
 *
 * `wrapService` wraps every method of a port's service object that returns an Effect (and
 * every Effect-valued field). When the wrapped effect runs, the interceptor decides:
 *   ok    the operation runs;
 *   fail  it fails `StoreUnavailable` before doing anything (an outage, a refused connection);
 *   slow  it takes longer than its policy's timeout, and happens anyway: the caller's timeout
 *         cuts the wait, not the operation, which commits after the caller gave up (a database
 *         does not roll a write back because its client stopped listening);
 *   lost  it runs, then fails as if the answer never came back (a commit, then a dropped
 *         connection): the caller cannot tell it from `fail`, the store has changed.
 * An operation that runs may also take a round trip: a `share` of the port's calls (drawn per
 * call) take a latency anywhere up to the run's `maxMs` (up to ~500 ms, a loaded database), half
 * before the operation takes effect and half after, so a write lands in the middle of its call
 * and another process can act between the commit and its answer. The other calls take none:
 * a sleep per store call would cost the simulator 8x its speed, and a race needs one slow call,
 * not all of them.
 * A crashed process's view of the stores (`gate.dead`) fails everything, so the finalizers of
 * its interrupted fibers cannot write either: a dead process does not clean up after itself.
 */
import { Errors } from "@till/core"
import { Effect, Fiber } from "effect"
import * as FakePaymentGateway from "../FakePaymentGateway.js"
import type { Prng } from "./simPrng.js"
import { enabled, type Scenario } from "./simScenario.js"

export const storePorts = ["inventory", "orders", "carts", "rateLimit", "idempotency", "retryQueue"] as const
export type StorePort = (typeof storePorts)[number]

/** How far past each port's guarding timeout a slow operation sleeps (inventory 2 s, order creation 5 s). */
const slowMsByPort: Record<StorePort, number> = {
  inventory: 2_500,
  orders: 6_000,
  carts: 3_000,
  rateLimit: 1_500,
  idempotency: 3_000,
  retryQueue: 3_000
}

export interface Window {
  readonly fromMs: number
  readonly toMs: number
}

export interface StorePlan {
  /** Within these windows every operation fails. */
  readonly outages: ReadonlyArray<Window>
  /** Within these windows (a brownout) an operation is slow with probability `share`. */
  readonly slow: ReadonlyArray<Window & { readonly share: number }>
  readonly failRate: number
  readonly lostRate: number
  /** A `share` of calls take a round trip uniform in [1, maxMs]. */
  readonly latency: { readonly share: number; readonly maxMs: number }
  /** Salts of the per-millisecond draws (see `StoreFaults`). */
  readonly salt: number
}

export interface GatewayPlan {
  readonly unavailableRate: number
  readonly lostResponseRate: number
  readonly declineRate: number
  readonly latencyJitterMs: number
  readonly lostResponseAs: "unavailable" | "hang"
  readonly hangMs: number | "forever"
  readonly storms: ReadonlyArray<Window>
  readonly latencySpikes: ReadonlyArray<Window & { readonly latencyMs: number }>
  readonly lostBursts: ReadonlyArray<{ readonly atMs: number; readonly count: number }>
  readonly hangBursts: ReadonlyArray<{ readonly atMs: number; readonly count: number }>
  readonly declineWaves: ReadonlyArray<Window & { readonly rate: number }>
  /** Share of new charges answered as failed and captured `lateCaptureMs` later (review bug 10). */
  readonly lateCaptureRate: number
  readonly lateCaptureMs: number
  readonly lateBursts: ReadonlyArray<{ readonly atMs: number; readonly count: number }>
}

export type Weather = "calm" | "normal" | "stormy"

export interface FaultPlan {
  readonly weather: Weather
  readonly stores: Readonly<Record<StorePort, StorePlan>>
  readonly gateway: GatewayPlan | undefined
  readonly brokerOutages: ReadonlyArray<Window>
  readonly shippingOutages: ReadonlyArray<Window>
  /** Crashes of process `slot` (taken modulo the run's processes). */
  readonly crashes: ReadonlyArray<{ readonly atMs: number; readonly downMs: number; readonly slot: number }>
}

/** Draws the fault plan of a run: the weather first, then each class's events in [startMs, startMs + duration). */
export const drawPlan = (prng: Prng, scenario: Scenario, startMs: number): FaultPlan => {
  const weather: Weather = prng.pick(["calm", "normal", "normal", "stormy", "stormy"] as const)
  const scale = weather === "calm" ? 0.3 : weather === "normal" ? 1 : 2
  const span = scenario.durationMs
  const count = (mean: number) => {
    let n = 0
    for (let expected = mean * scale; expected > 0; expected--) if (prng.chance(Math.min(1, expected))) n++
    return n
  }
  const window = (minMs: number, maxMs: number): Window => {
    const fromMs = startMs + Math.floor(prng.float() * span * 0.9)
    return { fromMs, toMs: fromMs + prng.int(minMs, maxMs) }
  }
  const times = <W extends Window>(n: number, make: () => W): Array<W> =>
    Array.from({ length: n }, make).sort((a, b) => a.fromMs - b.fromMs)

  const stores = {} as Record<StorePort, StorePlan>
  for (const port of storePorts) {
    const p = prng.fork(`store/${port}`)
    const failures = enabled(scenario, "storeFailures")
    const timeouts = enabled(scenario, "storeTimeouts")
    const lost = enabled(scenario, "storeLostResponses")
    stores[port] = {
      outages: failures ? times(count(0.5), () => window(2_000, 30_000)) : [],
      slow: timeouts
        ? times(count(0.3), () => ({ ...window(5_000, 40_000), share: 0.2 + p.float() * 0.8 }))
        : [],
      failRate: failures && p.chance(0.5 * scale) ? p.float() * 0.01 : 0,
      lostRate: lost && p.chance(0.4 * scale) ? p.float() * 0.005 : 0,
      latency: enabled(scenario, "storeLatency")
        ? { share: Math.min(0.5, p.pick([0.02, 0.05, 0.1, 0.2]) * scale), maxMs: p.int(20, 500) }
        : { share: 0, maxMs: 0 },
      salt: p.seed()
    }
  }

  let gateway: GatewayPlan | undefined
  if (enabled(scenario, "gateway")) {
    const g = prng.fork("gateway")
    gateway = {
      unavailableRate: g.chance(0.5) ? g.float() * 0.03 * scale : 0,
      lostResponseRate: g.chance(0.6) ? g.float() * 0.02 * scale : 0,
      declineRate: g.chance(0.5) ? g.float() * 0.05 : 0,
      latencyJitterMs: g.pick([0, 50, 300, 1_500]),
      lostResponseAs: g.pick(["unavailable", "hang"] as const),
      hangMs: g.pick(["forever", 4_000, 12_000] as const),
      storms: times(count(0.8), () => window(5_000, weather === "stormy" ? 240_000 : 90_000)),
      latencySpikes: times(count(0.5), () => ({
        ...window(10_000, 60_000),
        latencyMs: g.int(2_000, 12_000)
      })),
      lostBursts: times(count(1), () => window(0, 0)).map((w) => ({ atMs: w.fromMs, count: g.int(1, 4) })),
      hangBursts: times(count(0.5), () => window(0, 0)).map((w) => ({ atMs: w.fromMs, count: g.int(1, 3) })),
      declineWaves: times(count(0.4), () => ({ ...window(10_000, 60_000), rate: 0.3 + g.float() * 0.6 })),
      // Drawn last, from a stream of their own: the plans of older seeds stay as they were.
      ...(() => {
        const late = g.fork("late-captures")
        return {
          lateCaptureRate: late.chance(0.5) ? late.float() * 0.03 * scale : 0,
          // Up to well past an order's hold (2 min in the sim) and its settle grace (60 s).
          lateCaptureMs: late.int(20_000, 300_000),
          lateBursts: Array.from({ length: late.int(0, 2) }, () => ({
            atMs: startMs + Math.floor(late.float() * span * 0.9),
            count: late.int(1, 3)
          })).sort((x, y) => x.atMs - y.atMs)
        }
      })()
    }
  }

  return {
    weather,
    stores,
    gateway,
    brokerOutages: enabled(scenario, "broker") ? times(count(0.6), () => window(5_000, 60_000)) : [],
    shippingOutages: enabled(scenario, "shipping") ? times(count(0.4), () => window(5_000, 60_000)) : [],
    crashes: enabled(scenario, "crashes")
      ? times(count(0.6 * scenario.processes), () => window(1_000, 20_000)).map((w) => ({
          atMs: w.fromMs,
          downMs: w.toMs - w.fromMs,
          slot: prng.int(0, scenario.processes - 1)
        }))
      : []
  }
}

/** One line per fault of the plan, for the head of the trace. */
export const describePlan = (plan: FaultPlan, startMs: number): ReadonlyArray<string> => {
  const at = (ms: number) => `${((ms - startMs) / 1000).toFixed(1)}s`
  const span = (w: Window) => `${at(w.fromMs)}..${at(w.toMs)}`
  const lines = [`plan weather=${plan.weather}`]
  for (const port of storePorts) {
    const s = plan.stores[port]
    const parts = [
      ...s.outages.map((w) => `outage ${span(w)}`),
      ...s.slow.map((w) => `slow ${span(w)} share=${w.share.toFixed(2)}`),
      ...(s.failRate > 0 ? [`failRate=${s.failRate.toFixed(4)}`] : []),
      ...(s.lostRate > 0 ? [`lostRate=${s.lostRate.toFixed(4)}`] : []),
      ...(s.latency.share > 0
        ? [`latency ${(s.latency.share * 100).toFixed(0)}% of calls up to ${s.latency.maxMs}ms`]
        : [])
    ]
    if (parts.length > 0) lines.push(`plan store ${port}: ${parts.join(", ")}`)
  }
  const g = plan.gateway
  if (g !== undefined) {
    lines.push(
      `plan gateway: unavailableRate=${g.unavailableRate.toFixed(4)} lostResponseRate=${g.lostResponseRate.toFixed(4)} ` +
        `declineRate=${g.declineRate.toFixed(3)} jitter=${g.latencyJitterMs}ms lostAs=${g.lostResponseAs} hang=${g.hangMs}`
    )
    for (const w of g.storms) lines.push(`plan gateway 503 storm ${span(w)}`)
    for (const w of g.latencySpikes) lines.push(`plan gateway latency ${w.latencyMs}ms ${span(w)}`)
    for (const b of g.lostBursts) lines.push(`plan gateway lose ${b.count} responses at ${at(b.atMs)}`)
    for (const b of g.hangBursts) lines.push(`plan gateway hang ${b.count} charges at ${at(b.atMs)}`)
    for (const w of g.declineWaves)
      lines.push(`plan gateway decline wave ${(w.rate * 100).toFixed(0)}% ${span(w)}`)
    if (g.lateCaptureRate > 0)
      lines.push(
        `plan gateway captures ${(g.lateCaptureRate * 100).toFixed(1)}% of charges ${g.lateCaptureMs / 1000}s late`
      )
    for (const b of g.lateBursts)
      lines.push(`plan gateway captures the next ${b.count} charges late at ${at(b.atMs)}`)
  }
  for (const w of plan.brokerOutages) lines.push(`plan broker down ${span(w)}`)
  for (const w of plan.shippingOutages) lines.push(`plan shipping down ${span(w)}`)
  for (const c of plan.crashes)
    lines.push(`plan crash of process slot ${c.slot} at ${at(c.atMs)}, down ${(c.downMs / 1000).toFixed(1)}s`)
  return lines
}

export type Decision = "ok" | "fail" | "slow" | "lost"

const within = (windows: ReadonlyArray<Window>, nowMs: number): Window | undefined => {
  for (const w of windows) if (w.fromMs <= nowMs && nowMs < w.toMs) return w
  return undefined
}

/** A uniform draw in [0, 1) that is a function of (salt, millisecond) only. */
const drawAt = (salt: number, ms: number): number => {
  let x = salt ^ Math.imul(ms | 0, 0x9e3779b1) ^ Math.imul(Math.floor(ms / 4294967296), 0x85ebca6b)
  x = Math.imul(x ^ (x >>> 16), 0x7feb352d)
  x = Math.imul(x ^ (x >>> 15), 0x846ca68b)
  return ((x ^ (x >>> 16)) >>> 0) / 4294967296
}

/**
 * Decides, per store operation, what the plan does to it. A decision is a function of the port,
 * the virtual millisecond and the operation's rank among that port's operations in the same
 * millisecond, never of how many calls came before: a shrunk run with fewer shoppers meets the
 * same faults at the same moments, and so tells the same story.
 */
export class StoreFaults {
  /** Off once the run stops injecting faults (the settle phase). */
  active = true
  private readonly lastMs = new Map<StorePort, number>()
  private readonly rank = new Map<StorePort, number>()
  /** The draw key of the last decision per port, for its latency. */
  private readonly lastKey = new Map<StorePort, number>()

  constructor(
    private readonly plan: FaultPlan,
    private readonly nowMs: () => number
  ) {}

  decide(port: StorePort): Decision {
    if (!this.active) return "ok"
    const spec = this.plan.stores[port]
    const now = this.nowMs()
    const rank = this.lastMs.get(port) === now ? (this.rank.get(port) ?? 0) + 1 : 0
    this.lastMs.set(port, now)
    this.rank.set(port, rank)
    const ms = Math.floor(now) * 16 + Math.min(rank, 15)
    this.lastKey.set(port, ms)
    if (within(spec.outages, now) !== undefined) return "fail"
    for (const w of spec.slow)
      if (w.fromMs <= now && now < w.toMs && drawAt(spec.salt, ms) < w.share) return "slow"
    if (spec.failRate > 0 && drawAt(spec.salt ^ 0x5bd1e995, ms) < spec.failRate) return "fail"
    if (spec.lostRate > 0 && drawAt(spec.salt ^ 0x27d4eb2f, ms) < spec.lostRate) return "lost"
    return "ok"
  }

  slowMs(port: StorePort): number {
    return slowMsByPort[port]
  }

  /** The round trip of the operation just decided for `port` (0 once faults stopped). */
  latencyMs(port: StorePort): number {
    const { share, maxMs } = this.plan.stores[port].latency
    if (!this.active || share === 0) return 0
    const key = this.lastKey.get(port) ?? 0
    const salt = this.plan.stores[port].salt
    if (drawAt(salt ^ 0x165667b1, key) >= share) return 0
    return 1 + Math.floor(drawAt(salt ^ 0x3c6ef372, key) * maxMs)
  }

  brokerDown(): boolean {
    return this.active && within(this.plan.brokerOutages, this.nowMs()) !== undefined
  }

  shippingDown(): boolean {
    return this.active && within(this.plan.shippingOutages, this.nowMs()) !== undefined
  }
}

/** A process's view of the stores: dead once the process crashed. */
export interface Gate {
  dead: boolean
}

export interface Interceptor {
  readonly gate: Gate
  readonly decide: () => Decision
  /** The round trip of the operation just decided (after `decide`); none when absent. */
  readonly latencyMs?: (() => number) | undefined
  readonly slowMs: number
  /** The error of an operation that did not (or seemingly did not) happen. */
  readonly unavailable: (reason: string) => unknown
  /**
   * Per method, sees every operation that really ran and succeeded, with its value (before a
   * `lost` fault hides it). Methods without an observer run unobserved, at no cost.
   */
  readonly observe?: Observers | undefined
}

/** An observer: a plain function, or one returning the Effect of a check it needs to run. */
export type Observers = Readonly<
  Record<string, (args: ReadonlyArray<unknown>, value: unknown) => Effect.Effect<void> | void>
>

/** The port's service with every Effect-returning method (and Effect field) behind `interceptor`. */
export const wrapService = <S extends object>(service: S, interceptor: Interceptor): S => {
  const guard = (method: string, args: ReadonlyArray<unknown>, effect: Effect.Effect<unknown, unknown>) => {
    const observe = interceptor.observe?.[method]
    // Uninterruptible: an operation that ran is always observed (an in-memory one never waits).
    const run =
      observe === undefined
        ? effect
        : Effect.uninterruptible(
            Effect.tap(effect, (value) => {
              const check = observe(args, value)
              return Effect.isEffect(check) ? check : Effect.void
            })
          )
    return Effect.suspend(() => {
      if (interceptor.gate.dead) return Effect.fail(interceptor.unavailable("process crashed"))
      switch (interceptor.decide()) {
        case "ok": {
          const ms = interceptor.latencyMs?.() ?? 0
          if (ms <= 0) return run
          const before = Math.floor(ms / 2)
          return Effect.andThen(
            Effect.sleep(before),
            Effect.tap(run, () => Effect.sleep(ms - before))
          )
        }
        case "fail":
          return Effect.fail(interceptor.unavailable("injected outage"))
        case "slow":
          return Effect.flatMap(
            Effect.forkDetach(Effect.uninterruptible(Effect.andThen(Effect.sleep(interceptor.slowMs), run))),
            Fiber.join
          )
        case "lost":
          return Effect.andThen(run, Effect.fail(interceptor.unavailable("response lost (injected)")))
      }
    })
  }
  const wrapped: Record<string, unknown> = {}
  for (const [name, value] of Object.entries(service)) {
    if (typeof value === "function") {
      wrapped[name] = (...args: Array<unknown>) => {
        const result: unknown = value.apply(service, args)
        return Effect.isEffect(result) ? guard(name, args, result as Effect.Effect<unknown, unknown>) : result
      }
    } else if (Effect.isEffect(value)) {
      wrapped[name] = guard(name, [], value as Effect.Effect<unknown, unknown>)
    } else {
      wrapped[name] = value
    }
  }
  return wrapped as S
}

export const storeUnavailable =
  (store: string) =>
  (reason: string): Errors.StoreUnavailable =>
    new Errors.StoreUnavailable({ store, reason })
export const gatewayUnavailable = (reason: string): Errors.GatewayUnavailable =>
  new Errors.GatewayUnavailable({ reason })

export interface TimedAction {
  readonly atMs: number
  readonly label: string
  readonly run: Effect.Effect<void>
}

/**
 * The gateway faults of no plan: what the settle phase sets. The fake's own `noFaults`, but for
 * the planted bug (it stays as it is) and the modes of hangs and lost responses (with their
 * rates at 0 they decide nothing; a charge already hanging keeps its own).
 */
export const calmGateway: Partial<FakePaymentGateway.Faults> = (({
  ignoreIdempotencyKey: _planted,
  hangMs: _hangMode,
  lostResponseAs: _lostMode,
  lateCaptureMs: _lateDelay,
  lateCaptureAs: _lateMode,
  ...calm
}) => calm)(FakePaymentGateway.noFaults)

/** The gateway plan as actions on the fake gateway's `Control`, in time order. */
export const gatewayTimeline = (
  g: GatewayPlan,
  control: FakePaymentGateway.Control["Service"],
  startMs: number
): ReadonlyArray<TimedAction> => {
  const actions: Array<TimedAction> = [
    {
      atMs: startMs,
      label: "gateway background faults on",
      run: Effect.andThen(
        control.setFaults({
          unavailableRate: g.unavailableRate,
          lostResponseRate: g.lostResponseRate,
          declineRate: g.declineRate,
          latencyJitterMs: g.latencyJitterMs,
          lostResponseAs: g.lostResponseAs,
          hangMs: g.hangMs,
          lateCaptureRate: g.lateCaptureRate,
          lateCaptureMs: g.lateCaptureMs
        }),
        Effect.forEach(g.storms, (w) => control.unavailableBetween(w.fromMs, w.toMs), { discard: true })
      )
    }
  ]
  for (const w of g.latencySpikes) {
    actions.push({
      atMs: w.fromMs,
      label: `gateway latency ${w.latencyMs}ms`,
      run: control.setFaults({ latencyMs: w.latencyMs })
    })
    actions.push({
      atMs: w.toMs,
      label: "gateway latency back to normal",
      run: control.setFaults({ latencyMs: 0 })
    })
  }
  for (const b of g.lostBursts) {
    actions.push({
      atMs: b.atMs,
      label: `gateway loses the next ${b.count} responses`,
      run: control.loseNextResponses(b.count)
    })
  }
  for (const b of g.hangBursts) {
    actions.push({
      atMs: b.atMs,
      label: `gateway hangs the next ${b.count} charges`,
      run: control.hangNextCharges(b.count)
    })
  }
  for (const b of g.lateBursts) {
    actions.push({
      atMs: b.atMs,
      label: `gateway captures the next ${b.count} charges late`,
      run: control.captureNextLate(b.count)
    })
  }
  for (const w of g.declineWaves) {
    actions.push({
      atMs: w.fromMs,
      label: `gateway decline wave ${(w.rate * 100).toFixed(0)}%`,
      run: control.setFaults({ declineRate: w.rate })
    })
    actions.push({
      atMs: w.toMs,
      label: "gateway decline wave over",
      run: control.setFaults({ declineRate: g.declineRate })
    })
  }
  return actions
}
