/**
 * A circuit breaker with Resilience4j's semantics (Effect has none).
 *
 * - **closed**: calls run and land in a sliding window, count-based (the last N calls) or
 *   time-based (the calls of the last N seconds). Once the window holds `minimumNumberOfCalls`, the
 *   breaker opens when the failure rate or the slow-call rate reaches its threshold (in percent).
 * - **open**: calls fail at once with `CallNotPermitted` until `waitDurationInOpenStateMs` has
 *   passed; the next call then moves the breaker to half-open (lazily, as Resilience4j does by
 *   default: no timer fiber per breaker).
 * - **halfOpen**: exactly `permittedNumberOfCallsInHalfOpenState` probe calls are let through, the
 *   rest fail with `CallNotPermitted`. When all probes are back, the same thresholds over the probes
 *   decide: open again, or closed with a fresh window.
 *
 * Which errors are failures: `isFailure` (default `isTransient`: gateway 5xx/network, store
 * failures, `OperationTimedOut`). Any other typed error, such as a card decline, is a *successful*
 * call: the dependency answered. Defects count as failures; interruptions count as nothing (a
 * half-open probe that is interrupted gives its permit back).
 *
 * Every call is stamped with the breaker's epoch (bumped on each transition); a call that started in
 * an earlier state still counts in the totals but never in the current state's window, so a slow
 * call from before an opening cannot close a half-open breaker.
 *
 * The hot path is lock-free and allocates only the call's continuation: state is plain mutable
 * fields (typed arrays for the windows) touched only inside synchronous steps of a fiber, which
 * JavaScript runs to completion. That is what makes concurrent callers safe (no lost updates) and
 * the success path cheap (bench/resilience.bench.ts). Time comes from the `Clock` the breaker was
 * made with, twice per call (slow-call detection needs the duration), never looked up per call.
 * (Till on Effect 3 cached the live clock once per event-loop turn; on Effect 4 reading it per call
 * costs +13 % on a call that ends at once and +18 % on one that waits, and the breaker is still
 * 0.91x its Effect 3 cost with the cache: bench/results/effect4.md.)
 *
 * Two doors to one breaker: `execute` guards an Effect, `executePromise` a function returning a
 * Promise, for code not written with Effect. Making one needs no services:
 * `const breaker = Effect.runSync(CircuitBreaker.make({ ...CircuitBreaker.defaultSettings, name: "search" }))`.
 */
import { Cause, Clock, Context, Effect, Layer, Metric, PubSub, Schema, Stream } from "effect"
import type { Exit, Scope } from "effect"
import { IntBetween } from "./internal/intBetween.js"
import { CallNotPermitted, isTransient } from "./Errors.js"
import {
  CountWindow,
  OUTCOME_FAILED,
  OUTCOME_SLOW,
  TimeWindow,
  type Window
} from "./internal/CircuitBreakerWindow.js"

/** Upper bounds of the settings: every window and probe count is bounded memory. */
export const MAX_WINDOW_CALLS = 10_000
export const MAX_WINDOW_SECONDS = 3_600
export const MAX_PERMITTED_CALLS_IN_HALF_OPEN = 1_000
export const MAX_WAIT_IN_OPEN_MS = 86_400_000
/** Transitions buffered per subscriber; a subscriber further behind misses the newest ones. */
export const TRANSITIONS_BUFFER = 1_024

export const State = Schema.Literals(["closed", "open", "halfOpen"])
export type State = typeof State.Type

/** The allowed transitions, checked in one place (`Machine.transition`). `reset` may close from any state. */
export const transitions: { readonly [From in State]: ReadonlyArray<State> } = {
  closed: ["open"],
  open: ["halfOpen", "closed"],
  halfOpen: ["open", "closed"]
}

const Percent = Schema.Number.check(Schema.isGreaterThan(0), Schema.isLessThanOrEqualTo(100))

/** The breaker's settings, Resilience4j names with units. Decoded (and so validated) by `make`. */
export const Settings = Schema.Struct({
  /** `countBased`: the last `slidingWindowSize` calls. `timeBased`: the last `slidingWindowSize` seconds. */
  slidingWindowType: Schema.Literals(["countBased", "timeBased"]),
  slidingWindowSize: IntBetween(1, MAX_WINDOW_CALLS),
  /** Calls the window must hold before rates are judged (capped at the size of a count window). */
  minimumNumberOfCalls: IntBetween(1, MAX_WINDOW_CALLS),
  /** Percent of failed calls at or above which the breaker opens. */
  failureRateThreshold: Percent,
  /** Percent of slow calls at or above which the breaker opens. */
  slowCallRateThreshold: Percent,
  /** A call taking longer than this is slow (whatever its outcome). */
  slowCallDurationThresholdMs: IntBetween(1, MAX_WAIT_IN_OPEN_MS),
  waitDurationInOpenStateMs: IntBetween(1, MAX_WAIT_IN_OPEN_MS),
  permittedNumberOfCallsInHalfOpenState: IntBetween(1, MAX_PERMITTED_CALLS_IN_HALF_OPEN)
}).check(
  Schema.makeFilter((settings) =>
    settings.slidingWindowType === "timeBased" && settings.slidingWindowSize > MAX_WINDOW_SECONDS
      ? `a time-based window holds at most ${MAX_WINDOW_SECONDS} seconds`
      : undefined
  )
)
export type Settings = typeof Settings.Type

/** Resilience4j's defaults (window 100 calls, 50 %, 60 s open, 10 probes; slow = 60 s at 100 %). */
export const defaultSettings: Settings = {
  slidingWindowType: "countBased",
  slidingWindowSize: 100,
  minimumNumberOfCalls: 100,
  failureRateThreshold: 50,
  slowCallRateThreshold: 100,
  slowCallDurationThresholdMs: 60_000,
  waitDurationInOpenStateMs: 60_000,
  permittedNumberOfCallsInHalfOpenState: 10
}

export interface Options extends Settings {
  /** Names the breaker in errors, transitions and metrics. */
  readonly name: string
  /** Which typed errors are failures of the dependency. Default: `isTransient`. */
  readonly isFailure?: ((error: unknown) => boolean) | undefined
}

export type TransitionReason =
  | "failureRate"
  | "slowCallRate"
  | "waitElapsed"
  | "probesSucceeded"
  | "probesFailed"
  | "reset"

export interface Transition {
  readonly breaker: string
  readonly from: State
  readonly to: State
  readonly atMs: number
  readonly reason: TransitionReason
}

/** A snapshot: the current window's figures and totals since the breaker was made. */
export interface Metrics {
  readonly state: State
  /** Failed calls in percent of the window, or -1 while the window holds fewer than the minimum. */
  readonly failureRatePercent: number
  readonly slowCallRatePercent: number
  readonly bufferedCalls: number
  readonly failedCalls: number
  readonly slowCalls: number
  readonly successfulCallsTotal: number
  readonly failedCallsTotal: number
  readonly slowCallsTotal: number
  readonly notPermittedCallsTotal: number
  readonly interruptedCallsTotal: number
  readonly transitionsTotal: number
}

export interface Service {
  readonly name: string
  readonly settings: Settings
  /**
   * Runs `effect` if the breaker permits it and records the outcome.
   * @example breaker.execute(gateway.charge(request))
   */
  readonly execute: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E | CallNotPermitted, R>
  /**
   * The same breaker for code not written with Effect: runs `call` if permitted and records how its
   * promise settles; rejects with `CallNotPermitted` otherwise. A rejection with a tagged error is
   * judged by `isFailure` (a decline is not a failure); any other rejection is a failure. There is
   * no interruption in the Promise world, so a call that never settles keeps its half-open permit:
   * give it a timeout.
   * @example await breaker.executePromise(() => fetch(url, { signal: AbortSignal.timeout(2_000) }))
   */
  readonly executePromise: <A>(call: () => PromiseLike<A> | A) => Promise<A>
  /** The state as of the last call (open turns half-open on the next call after the wait). */
  readonly state: Effect.Effect<State>
  readonly metrics: Effect.Effect<Metrics>
  /** State transitions from the moment the stream is run. */
  readonly transitions: Stream.Stream<Transition>
  /** Subscribes now (in the scope) to state transitions; use it when no transition may be missed. */
  readonly subscribe: Effect.Effect<PubSub.Subscription<Transition>, never, Scope.Scope>
  /** Closes the breaker and starts a fresh window (an operator action). */
  readonly reset: Effect.Effect<void>
}

/** One breaker as a service, for code that is handed a single breaker. */
export class CircuitBreaker extends Context.Service<CircuitBreaker, Service>()("@till/core/CircuitBreaker") {}

/** The breaker state as a number for dashboards: 0 closed, 1 open, 2 half-open. */
export const stateGauge = Metric.gauge("till_circuit_breaker_state", {
  description: "Circuit breaker state: 0 closed, 1 open, 2 half-open"
})
const stateValue: { readonly [S in State]: number } = { closed: 0, open: 1, halfOpen: 2 }

class Machine {
  state: State = "closed"
  epoch = 0
  successfulCallsTotal = 0
  failedCallsTotal = 0
  slowCallsTotal = 0
  notPermittedCallsTotal = 0
  interruptedCallsTotal = 0
  transitionsTotal = 0
  window: Window
  private halfOpenWindow: CountWindow
  private halfOpenPermits = 0
  private openedAtMs = 0
  private readonly minimumCalls: number

  constructor(
    readonly name: string,
    readonly settings: Settings,
    nowMs: number,
    private readonly publish: (transition: Transition) => void
  ) {
    this.window = this.freshWindow(nowMs)
    this.halfOpenWindow = new CountWindow(settings.permittedNumberOfCallsInHalfOpenState)
    this.minimumCalls =
      settings.slidingWindowType === "countBased"
        ? Math.min(settings.minimumNumberOfCalls, settings.slidingWindowSize)
        : settings.minimumNumberOfCalls
  }

  /** The epoch the permit belongs to, or -1 when the call is not permitted. */
  acquire(nowMs: number): number {
    if (this.state === "closed") return this.epoch
    if (this.state === "open") {
      if (nowMs - this.openedAtMs < this.settings.waitDurationInOpenStateMs) {
        this.notPermittedCallsTotal++
        return -1
      }
      this.transition("halfOpen", "waitElapsed", nowMs)
    }
    if (this.halfOpenPermits > 0) {
      this.halfOpenPermits--
      return this.epoch
    }
    this.notPermittedCallsTotal++
    return -1
  }

  complete(epoch: number, failed: boolean, durationMs: number, nowMs: number): void {
    const slow = durationMs > this.settings.slowCallDurationThresholdMs
    if (failed) this.failedCallsTotal++
    else this.successfulCallsTotal++
    if (slow) this.slowCallsTotal++
    // A call from an earlier state says nothing about this one.
    if (epoch !== this.epoch) return
    const outcome = (failed ? OUTCOME_FAILED : 0) | (slow ? OUTCOME_SLOW : 0)
    if (this.state === "closed") {
      this.window.record(outcome, nowMs)
      if (this.window.calls < this.minimumCalls) return
      const reason = this.exceeded(this.window)
      if (reason !== undefined) this.transition("open", reason, nowMs)
    } else if (this.state === "halfOpen") {
      this.halfOpenWindow.record(outcome)
      if (this.halfOpenWindow.calls < this.settings.permittedNumberOfCallsInHalfOpenState) return
      if (this.exceeded(this.halfOpenWindow) === undefined)
        this.transition("closed", "probesSucceeded", nowMs)
      else this.transition("open", "probesFailed", nowMs)
    } else {
      // Open hands out no permits, and every transition bumps the epoch.
      throw new Error(`CircuitBreaker ${this.name}: a permit of epoch ${epoch} completed while open`)
    }
  }

  cancel(epoch: number): void {
    this.interruptedCallsTotal++
    if (epoch === this.epoch && this.state === "halfOpen") this.halfOpenPermits++
  }

  reset(nowMs: number): void {
    if (this.state === "closed") this.window = this.freshWindow(nowMs)
    else this.transition("closed", "reset", nowMs)
  }

  rates(nowMs: number): { readonly failure: number; readonly slow: number; readonly window: Window } {
    const window = this.state === "halfOpen" ? this.halfOpenWindow : this.window
    window.advance(nowMs)
    const minimum =
      this.state === "halfOpen" ? this.settings.permittedNumberOfCallsInHalfOpenState : this.minimumCalls
    if (window.calls < minimum || window.calls === 0) return { failure: -1, slow: -1, window }
    return {
      failure: (window.failedCalls * 100) / window.calls,
      slow: (window.slowCalls * 100) / window.calls,
      window
    }
  }

  private exceeded(window: Window): TransitionReason | undefined {
    // Integer comparison: `failed / calls >= threshold / 100` without float rounding.
    if (window.failedCalls * 100 >= this.settings.failureRateThreshold * window.calls) return "failureRate"
    if (window.slowCalls * 100 >= this.settings.slowCallRateThreshold * window.calls) return "slowCallRate"
    return undefined
  }

  private freshWindow(nowMs: number): Window {
    return this.settings.slidingWindowType === "countBased"
      ? new CountWindow(this.settings.slidingWindowSize)
      : new TimeWindow(this.settings.slidingWindowSize, nowMs)
  }

  private transition(to: State, reason: TransitionReason, nowMs: number): void {
    const from = this.state
    if (!transitions[from].includes(to)) {
      throw new Error(`CircuitBreaker ${this.name}: transition ${from} -> ${to} is not allowed`)
    }
    this.state = to
    this.epoch++
    this.transitionsTotal++
    if (to === "open") this.openedAtMs = nowMs
    else if (to === "halfOpen") {
      this.halfOpenWindow = new CountWindow(this.settings.permittedNumberOfCallsInHalfOpenState)
      this.halfOpenPermits = this.settings.permittedNumberOfCallsInHalfOpenState
    } else this.window = this.freshWindow(nowMs)
    this.publish({ breaker: this.name, from, to, atMs: nowMs, reason })
  }
}

const isFailureCause = <E>(cause: Cause.Cause<E>, isFailure: (error: unknown) => boolean): boolean => {
  const failure = Cause.findErrorOption(cause)
  // No typed failure and not an interruption: a defect, which is a failure of the call.
  return failure._tag === "Some" ? isFailure(failure.value) : true
}

/**
 * What happens when a call permitted while closed completes. A class assigning its arrows in the
 * constructor, rather than an object literal of named arrows: transpilers that keep function names
 * (tsx) would otherwise wrap both arrows in `__name` on every call.
 */
class Completion<A, E> {
  readonly onSuccess: (value: A) => Effect.Effect<A>
  readonly onFailure: (cause: Cause.Cause<E>) => Effect.Effect<never, E>

  constructor(
    machine: Machine,
    now: () => number,
    epoch: number,
    startMs: number,
    isFailure: (error: unknown) => boolean
  ) {
    this.onSuccess = (value) => {
      const nowMs = now()
      machine.complete(epoch, false, nowMs - startMs, nowMs)
      return Effect.succeed(value)
    }
    this.onFailure = (cause) => {
      if (Cause.hasInterruptsOnly(cause)) machine.cancel(epoch)
      else {
        const nowMs = now()
        machine.complete(epoch, isFailureCause(cause, isFailure), nowMs - startMs, nowMs)
      }
      return Effect.failCause(cause)
    }
  }
}

/** The finalizer of a half-open probe: records it, or gives its permit back if it was interrupted. */
const probeExit =
  <A, E>(
    machine: Machine,
    now: () => number,
    epoch: number,
    startMs: number,
    isFailure: (error: unknown) => boolean
  ) =>
  (exit: Exit.Exit<A, E>): Effect.Effect<void> =>
    Effect.sync(() => {
      const nowMs = now()
      if (exit._tag === "Success") machine.complete(epoch, false, nowMs - startMs, nowMs)
      else if (Cause.hasInterruptsOnly(exit.cause)) machine.cancel(epoch)
      else machine.complete(epoch, isFailureCause(exit.cause, isFailure), nowMs - startMs, nowMs)
    })

/**
 * Makes a breaker. Invalid settings are a defect (they are programmer or config errors, decoded
 * earlier by `Policy`'s config).
 * @example const breaker = yield* CircuitBreaker.make({ ...CircuitBreaker.defaultSettings, name: "payment" })
 */
export const make = Effect.fn("CircuitBreaker.make")(function* (options: Options) {
  const settings = yield* Schema.decodeEffect(Settings)(options).pipe(Effect.orDie)
  const name = options.name
  const isFailure = options.isFailure ?? isTransient
  // Made on the first subscription: a PubSub drops what is published while nobody subscribes,
  // so a breaker nobody watches needs none (and its 1,024-slot buffer costs ~16 kB per breaker).
  let pubsub: PubSub.PubSub<Transition> | undefined
  const transitionsPubSub = Effect.suspend(() =>
    pubsub !== undefined
      ? Effect.succeed(pubsub)
      : Effect.map(PubSub.sliding<Transition>(TRANSITIONS_BUFFER), (made) => (pubsub ??= made))
  )
  // Updated from inside the machine's synchronous steps, so against the context the breaker is
  // made in (its metric registry): the machine has no fiber at hand.
  const gauge = Metric.withAttributes(stateGauge, { breaker: name })
  const context = yield* Effect.context()
  gauge.updateUnsafe(stateValue.closed, context)
  // The clock the breaker is made with (TestClock in tests): looking it up per call would cost a
  // service lookup on the hot path, and one breaker never serves two clocks.
  const clock = yield* Clock.Clock
  const now = () => clock.currentTimeMillisUnsafe()
  const machine = new Machine(name, settings, now(), (t) => {
    gauge.updateUnsafe(stateValue[t.to], context)
    if (pubsub !== undefined) PubSub.publishUnsafe(pubsub, t)
  })
  const notPermitted = () =>
    // Checks skipped: the fields are built right here, and rejections must stay cheap.
    new CallNotPermitted({ breaker: name, state: machine.state }, { disableChecks: true })

  const execute = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E | CallNotPermitted, R> =>
    Effect.suspend((): Effect.Effect<A, E | CallNotPermitted, R> => {
      const startMs = now()
      const epoch = machine.acquire(startMs)
      if (epoch < 0) return Effect.fail(notPermitted())
      // A half-open probe holds one of few permits: it must be given back whatever happens,
      // interruption included, hence `onExit` (about 75 ns a call more than the continuation on
      // Effect 4, 500 ns on Effect 3). A closed call holds nothing, so the cheaper continuation
      // will do, and an interrupted closed call is simply not recorded.
      return machine.state === "halfOpen"
        ? Effect.onExit(effect, probeExit<A, E>(machine, now, epoch, startMs, isFailure))
        : Effect.matchCauseEffect(effect, new Completion<A, E>(machine, now, epoch, startMs, isFailure))
    })

  // A rejection carrying a tag is a typed error and is judged by `isFailure`; anything else (a
  // TypeError from fetch, a socket error) is the Promise world's defect, so a failure.
  const isFailedRejection = (error: unknown): boolean =>
    typeof error === "object" && error !== null && "_tag" in error ? isFailure(error) : true

  const settle = async <A>(call: () => PromiseLike<A> | A, epoch: number, startMs: number): Promise<A> => {
    let value: A
    try {
      value = await call()
    } catch (error) {
      const nowMs = now()
      machine.complete(epoch, isFailedRejection(error), nowMs - startMs, nowMs)
      throw error
    }
    const nowMs = now()
    machine.complete(epoch, false, nowMs - startMs, nowMs)
    return value
  }

  const executePromise = <A>(call: () => PromiseLike<A> | A): Promise<A> => {
    const startMs = now()
    const epoch = machine.acquire(startMs)
    return epoch < 0 ? Promise.reject(notPermitted()) : settle(call, epoch, startMs)
  }

  const metrics = Effect.sync((): Metrics => {
    const { failure, slow, window } = machine.rates(now())
    return {
      state: machine.state,
      failureRatePercent: failure,
      slowCallRatePercent: slow,
      bufferedCalls: window.calls,
      failedCalls: window.failedCalls,
      slowCalls: window.slowCalls,
      successfulCallsTotal: machine.successfulCallsTotal,
      failedCallsTotal: machine.failedCallsTotal,
      slowCallsTotal: machine.slowCallsTotal,
      notPermittedCallsTotal: machine.notPermittedCallsTotal,
      interruptedCallsTotal: machine.interruptedCallsTotal,
      transitionsTotal: machine.transitionsTotal
    }
  })

  return {
    name,
    settings,
    execute,
    executePromise,
    state: Effect.sync(() => machine.state),
    metrics,
    transitions: Stream.unwrap(Effect.map(transitionsPubSub, (p) => Stream.fromPubSub(p))),
    subscribe: Effect.flatMap(transitionsPubSub, PubSub.subscribe),
    reset: Effect.sync(() => machine.reset(now()))
  } satisfies Service
})

/** A layer providing one breaker under the `CircuitBreaker` tag. */
export const layer = (options: Options): Layer.Layer<CircuitBreaker> =>
  Layer.effect(CircuitBreaker, make(options))
