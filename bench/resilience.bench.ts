/**
 * Per-call cost of Till's resilience on the success path, against cockatiel and opossum in the
 * same run (bench/README.md explains each row). Every case runs a tight loop of calls to a trivial
 * operation; a case is warmed up, then timed over several rounds, and its median ns per call is
 * reported. "overhead" rows subtract the bare loop of the same world (Effect or Promise).
 */
import Opossum from "opossum"
import * as cockatiel from "cockatiel"
import { Context, Effect, Exit, Layer, Scope } from "effect"
import * as CircuitBreaker from "../packages/core/src/CircuitBreaker.js"
import * as Policy from "../packages/core/src/Policy.js"
import * as Resilience from "../packages/core/src/Resilience.js"
import type { Progress, Row } from "./run.js"

const WARMUP_ROUNDS = 3
// Many short rounds: on a shared 2-core machine a median of many beats a mean of few.
const ROUNDS = 15
const POLICY_TARGET_NS = 10_000

interface Case {
  readonly name: string
  /** Calls per round: enough for a round of 30-200 ms. */
  readonly calls: number
  readonly round: (calls: number) => Promise<unknown>
}

const median = (values: ReadonlyArray<number>): number => {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

const measure = async (c: Case): Promise<number> => {
  for (let i = 0; i < WARMUP_ROUNDS; i++) await c.round(c.calls)
  const perCallNs: Array<number> = []
  for (let i = 0; i < ROUNDS; i++) {
    const started = performance.now()
    await c.round(c.calls)
    perCallNs.push(((performance.now() - started) * 1e6) / c.calls)
  }
  return median(perCallNs)
}

// The operation under protection: as cheap as possible, so only the protection is measured.
const work = Effect.succeed(1)
// The same answer after a wait (a resolved promise): a guarded call that cannot end on the spot,
// like any real gateway or database call.
const waitingWork = Effect.promise(() => Promise.resolve(1))
const fn = () => 1

/** `calls` sequential calls of `call()` inside one fiber. */
const effectLoop = (call: () => Effect.Effect<number, unknown>) => (calls: number) =>
  Effect.runPromise(
    Effect.gen(function* () {
      let sum = 0
      for (let i = 0; i < calls; i++) sum += yield* call()
      return sum
    })
  )

/** `calls` sequential awaits of `call()`. */
const promiseLoop = (call: () => PromiseLike<number> | number) => async (calls: number) => {
  let sum = 0
  for (let i = 0; i < calls; i++) sum += await call()
  return sum
}

export const run = async (progress: Progress): Promise<ReadonlyArray<Row>> => {
  const payment = Policy.defaults.payment
  const scope = Effect.runSync(Scope.make())
  const context = await Effect.runPromise(Layer.buildWithScope(Resilience.layer, scope))
  const resilience = Context.get(context, Resilience.Resilience)
  const tillBreaker = await Effect.runPromise(CircuitBreaker.make({ ...payment.breaker, name: "bench" }))
  const naiveBreaker = await Effect.runPromise(
    CircuitBreaker.make({ ...payment.breaker, name: "bench-naive" })
  )

  // The same settings in each library: count window 100, 50 %, at least 20 calls, 60 s open.
  const cockatielBreaker = cockatiel.circuitBreaker(cockatiel.handleAll, {
    halfOpenAfter: 60_000,
    breaker: new cockatiel.CountBreaker({ threshold: 0.5, size: 100, minimumNumberOfCalls: 20 })
  })
  const cockatielStack = cockatiel.wrap(
    cockatiel.retry(cockatiel.handleAll, { maxAttempts: 2, backoff: new cockatiel.ConstantBackoff(1_000) }),
    cockatiel.circuitBreaker(cockatiel.handleAll, {
      halfOpenAfter: 60_000,
      breaker: new cockatiel.CountBreaker({ threshold: 0.5, size: 100, minimumNumberOfCalls: 20 })
    }),
    cockatiel.timeout(10_000, cockatiel.TimeoutStrategy.Aggressive)
  )
  const opossum = new Opossum(fn, {
    timeout: false,
    errorThresholdPercentage: 50,
    volumeThreshold: 20,
    resetTimeout: 60_000,
    rollingCountTimeout: 60_000,
    rollingCountBuckets: 60,
    rollingPercentilesEnabled: false
  })

  // What an Effect user would write without Till's stack: Effect.timeout + Effect.retry + a breaker.
  const naiveSchedule = Policy.schedule(payment)
  const naiveStack = () =>
    Effect.retry(
      naiveBreaker.execute(
        Effect.timeoutOrElse(work, {
          duration: payment.timeoutMs,
          orElse: () => Effect.fail(new Error("timeout"))
        })
      ),
      { schedule: naiveSchedule, while: () => true }
    )

  const cases: ReadonlyArray<Case> = [
    { name: "bare.effect.perCall", calls: 500_000, round: effectLoop(() => work) },
    { name: "bare.promise.perCall", calls: 500_000, round: promiseLoop(fn) },
    {
      name: "cockatiel.breaker.perCall",
      calls: 500_000,
      round: promiseLoop(() => cockatielBreaker.execute(fn))
    },
    {
      name: "opossum.breaker.perCall",
      calls: 100_000,
      round: promiseLoop(() => opossum.fire() as Promise<number>)
    },
    // The floor of any Effect combinator: one suspended step, guarding nothing.
    { name: "effect.suspend.perCall", calls: 300_000, round: effectLoop(() => Effect.suspend(() => work)) },
    {
      name: "till.breaker.effect.perCall",
      calls: 300_000,
      round: effectLoop(() => tillBreaker.execute(work))
    },
    // The path a breaker serves: a call that waits (here a resolved promise, in a real app I/O).
    {
      name: "till.breaker.effect.waiting.perCall",
      calls: 50_000,
      round: effectLoop(() => tillBreaker.execute(waitingWork))
    },
    {
      name: "till.breaker.promise.perCall",
      calls: 500_000,
      round: promiseLoop(() => tillBreaker.executePromise(fn))
    },
    {
      name: "cockatiel.breaker.fromEffect.perCall",
      calls: 20_000,
      round: effectLoop(() => Effect.promise(() => cockatielBreaker.execute(() => Effect.runPromise(work))))
    },
    { name: "cockatiel.stack.perCall", calls: 100_000, round: promiseLoop(() => cockatielStack.execute(fn)) },
    { name: "effect.naiveStack.perCall", calls: 10_000, round: effectLoop(naiveStack) },
    {
      name: "till.policy.perCall",
      calls: 20_000,
      round: effectLoop(() => resilience.withPolicy("payment", work))
    },
    { name: "bare.effect.waiting.perCall", calls: 50_000, round: effectLoop(() => waitingWork) },
    {
      name: "till.policy.waiting.perCall",
      calls: 20_000,
      round: effectLoop(() => resilience.withPolicy("payment", waitingWork))
    }
  ]

  const ns = new Map<string, number>()
  for (const c of cases) {
    const value = await measure(c)
    ns.set(c.name, value)
    progress(
      `${c.name.padEnd(40)} ${value.toFixed(1).padStart(10)} ns/call  (median of ${ROUNDS} x ${c.calls})`
    )
  }
  opossum.shutdown()
  await Effect.runPromise(Scope.close(scope, Exit.void))

  const get = (name: string) => ns.get(name)!
  ns.set("cockatiel.breaker.overhead", get("cockatiel.breaker.perCall") - get("bare.promise.perCall"))
  ns.set("opossum.breaker.overhead", get("opossum.breaker.perCall") - get("bare.promise.perCall"))
  ns.set("till.breaker.effect.overhead", get("till.breaker.effect.perCall") - get("bare.effect.perCall"))
  ns.set("till.breaker.promise.overhead", get("till.breaker.promise.perCall") - get("bare.promise.perCall"))
  ns.set("till.policy.overhead", get("till.policy.perCall") - get("bare.effect.perCall"))
  ns.set(
    "till.policy.waiting.overhead",
    get("till.policy.waiting.perCall") - get("bare.effect.waiting.perCall")
  )
  ns.set("target.policy.overhead", POLICY_TARGET_NS)

  const row = (name: string, value: number, baseline: string | null): Row => ({
    name,
    value: Math.round(value * 10) / 10,
    unit: "ns/call",
    baseline,
    ratio: baseline === null ? null : Math.round((value / get(baseline)) * 1000) / 1000
  })
  return [
    row("bare.effect.perCall", get("bare.effect.perCall"), null),
    row("bare.promise.perCall", get("bare.promise.perCall"), null),
    row("cockatiel.breaker.perCall", get("cockatiel.breaker.perCall"), null),
    row("opossum.breaker.perCall", get("opossum.breaker.perCall"), null),
    row("cockatiel.breaker.fromEffect.perCall", get("cockatiel.breaker.fromEffect.perCall"), null),
    row("cockatiel.breaker.overhead", get("cockatiel.breaker.overhead"), null),
    row("opossum.breaker.overhead", get("opossum.breaker.overhead"), null),
    row("till.breaker.promise.perCall", get("till.breaker.promise.perCall"), "cockatiel.breaker.perCall"),
    row("till.breaker.promise.perCall", get("till.breaker.promise.perCall"), "opossum.breaker.perCall"),
    row("till.breaker.promise.overhead", get("till.breaker.promise.overhead"), "cockatiel.breaker.overhead"),
    row("effect.suspend.perCall", get("effect.suspend.perCall"), "cockatiel.breaker.perCall"),
    row("till.breaker.effect.perCall", get("till.breaker.effect.perCall"), "cockatiel.breaker.perCall"),
    row("till.breaker.effect.perCall", get("till.breaker.effect.perCall"), "opossum.breaker.perCall"),
    row(
      "till.breaker.effect.perCall",
      get("till.breaker.effect.perCall"),
      "cockatiel.breaker.fromEffect.perCall"
    ),
    row("till.breaker.effect.perCall", get("till.breaker.effect.perCall"), "effect.suspend.perCall"),
    row("till.breaker.effect.overhead", get("till.breaker.effect.overhead"), "cockatiel.breaker.overhead"),
    row("cockatiel.stack.perCall", get("cockatiel.stack.perCall"), null),
    row("effect.naiveStack.perCall", get("effect.naiveStack.perCall"), null),
    row("target.policy.overhead", get("target.policy.overhead"), null),
    row("till.policy.perCall", get("till.policy.perCall"), "bare.effect.perCall"),
    row("till.policy.perCall", get("till.policy.perCall"), "effect.naiveStack.perCall"),
    row("till.policy.perCall", get("till.policy.perCall"), "cockatiel.stack.perCall"),
    row("till.policy.overhead", get("till.policy.overhead"), "target.policy.overhead"),
    row("bare.effect.waiting.perCall", get("bare.effect.waiting.perCall"), null),
    row(
      "till.breaker.effect.waiting.perCall",
      get("till.breaker.effect.waiting.perCall"),
      "bare.effect.waiting.perCall"
    ),
    row("till.policy.waiting.perCall", get("till.policy.waiting.perCall"), "bare.effect.waiting.perCall"),
    row("till.policy.waiting.overhead", get("till.policy.waiting.overhead"), "target.policy.overhead")
  ]
}
