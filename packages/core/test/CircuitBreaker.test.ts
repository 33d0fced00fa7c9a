import { describe, expect, it } from "@effect/vitest"
import { Cause, Effect, Exit, Fiber, Metric, PubSub, Schema, Stream } from "effect"
import { TestClock } from "effect/testing"
import * as CircuitBreaker from "../src/CircuitBreaker.js"
import { GatewayUnavailable, OperationTimedOut, PaymentDeclined } from "../src/Errors.js"
import { CountWindow, TimeWindow } from "../src/internal/CircuitBreakerWindow.js"

const settings: CircuitBreaker.Settings = {
  slidingWindowType: "countBased",
  slidingWindowSize: 10,
  minimumNumberOfCalls: 10,
  failureRateThreshold: 50,
  slowCallRateThreshold: 100,
  slowCallDurationThresholdMs: 1_000,
  waitDurationInOpenStateMs: 60_000,
  permittedNumberOfCallsInHalfOpenState: 3
}

const make = (overrides: Partial<CircuitBreaker.Settings> = {}) =>
  CircuitBreaker.make({ ...settings, ...overrides, name: "test" })

const ok = Effect.succeed("ok")
const unavailable = Effect.fail(new GatewayUnavailable({ reason: "503" }))
const timedOut = Effect.fail(new OperationTimedOut({ operation: "payment", timeoutMs: 10_000 }))
const declined = Effect.fail(new PaymentDeclined({ orderId: "ord_1", declineCode: "card_declined" }))

/** Runs `n` calls of `effect` one after another, ignoring their outcome. */
const calls = <A, E>(breaker: CircuitBreaker.Service, n: number, effect: Effect.Effect<A, E>) =>
  Effect.repeat(Effect.exit(breaker.execute(effect)), { times: n - 1 })

/** A call that takes `ms` of TestClock time. */
const slowCall = (breaker: CircuitBreaker.Service, ms: number) =>
  Effect.gen(function* () {
    const fiber = yield* Effect.forkChild(breaker.execute(Effect.as(Effect.sleep(ms), "slow")))
    yield* TestClock.adjust(ms)
    return yield* Fiber.join(fiber)
  })

const isNotPermitted = (exit: Exit.Exit<unknown, unknown>) =>
  Exit.isFailure(exit) &&
  Cause.findErrorOption(exit.cause).pipe(
    (e) => e._tag === "Some" && (e.value as { _tag: string })._tag === "CallNotPermitted"
  )

describe("CircuitBreaker", () => {
  it.effect("closed -> open when the failure rate reaches the threshold", () =>
    Effect.gen(function* () {
      const breaker = yield* make()
      yield* calls(breaker, 5, ok)
      yield* calls(breaker, 4, unavailable)
      // 9 calls: below the minimum of 10, nothing is judged yet.
      expect(yield* breaker.state).toBe("closed")
      expect((yield* breaker.metrics).failureRatePercent).toBe(-1)
      yield* calls(breaker, 1, unavailable)
      // 5 of 10 failed: 50 % >= 50 %.
      expect(yield* breaker.state).toBe("open")
      const exit = yield* Effect.exit(breaker.execute(ok))
      expect(isNotPermitted(exit)).toBe(true)
      const metrics = yield* breaker.metrics
      expect(metrics.notPermittedCallsTotal).toBe(1)
      expect(metrics.failedCallsTotal).toBe(5)
      expect(metrics.successfulCallsTotal).toBe(5)
    })
  )

  it.effect("stays closed below the threshold, with the window sliding over old failures", () =>
    Effect.gen(function* () {
      const breaker = yield* make()
      yield* calls(breaker, 4, unavailable)
      yield* calls(breaker, 6, ok)
      expect((yield* breaker.metrics).failureRatePercent).toBe(40)
      // Ten more successes push the four failures out of the ten-call window.
      yield* calls(breaker, 10, ok)
      const metrics = yield* breaker.metrics
      expect(metrics).toMatchObject({
        state: "closed",
        bufferedCalls: 10,
        failedCalls: 0,
        failureRatePercent: 0
      })
    })
  )

  it.effect("minimumNumberOfCalls is respected", () =>
    Effect.gen(function* () {
      const breaker = yield* make({ slidingWindowSize: 100, minimumNumberOfCalls: 5 })
      yield* calls(breaker, 4, unavailable)
      expect(yield* breaker.state).toBe("closed")
      yield* calls(breaker, 1, unavailable)
      expect(yield* breaker.state).toBe("open")
    })
  )

  it.effect("a decline is not a failure; a 503 and a timeout are", () =>
    Effect.gen(function* () {
      const breaker = yield* make({ slidingWindowSize: 20, minimumNumberOfCalls: 20 })
      yield* calls(breaker, 20, declined)
      expect(yield* breaker.metrics).toMatchObject({
        state: "closed",
        failedCalls: 0,
        successfulCallsTotal: 20
      })
      yield* calls(breaker, 5, unavailable)
      yield* calls(breaker, 5, timedOut)
      expect((yield* breaker.metrics).failedCalls).toBe(10)
      expect(yield* breaker.state).toBe("open")
    })
  )

  it.effect("a custom isFailure decides what counts", () =>
    Effect.gen(function* () {
      const breaker = yield* CircuitBreaker.make({ ...settings, name: "strict", isFailure: () => true })
      yield* calls(breaker, 10, declined)
      expect(yield* breaker.state).toBe("open")
    })
  )

  it.effect("closed -> open when the slow-call rate reaches the threshold", () =>
    Effect.gen(function* () {
      const breaker = yield* make({
        slidingWindowSize: 4,
        minimumNumberOfCalls: 4,
        slowCallRateThreshold: 50
      })
      const transitions = yield* breaker.subscribe
      yield* calls(breaker, 2, ok)
      yield* slowCall(breaker, 1_000) // exactly the threshold: not slow
      expect((yield* breaker.metrics).slowCalls).toBe(0)
      yield* slowCall(breaker, 1_001)
      expect(yield* breaker.state).toBe("closed") // 1 of 4 slow
      yield* slowCall(breaker, 5_000)
      // Window of 4: ok, 1000 ms, 1001 ms, 5000 ms -> 2 of 4 slow = 50 %.
      expect(yield* breaker.state).toBe("open")
      expect(yield* PubSub.take(transitions)).toMatchObject({
        from: "closed",
        to: "open",
        reason: "slowCallRate"
      })
    })
  )

  it.effect("transitions reach every subscriber from when it subscribed, by queue or by stream", () =>
    Effect.gen(function* () {
      const breaker = yield* make()
      yield* calls(breaker, 10, unavailable) // closed -> open, before anyone watches: seen by nobody
      const early = yield* breaker.subscribe
      const streamed = yield* Effect.forkChild(Stream.runCollect(Stream.take(breaker.transitions, 1)))
      const late = yield* breaker.subscribe
      // Let the stream's fiber start and subscribe (it has no signal for that).
      yield* Effect.repeat(Effect.yieldNow, { times: 50 })
      yield* breaker.reset // open -> closed
      for (const queue of [early, late]) {
        expect(yield* PubSub.takeUpTo(queue, Number.POSITIVE_INFINITY)).toEqual([
          expect.objectContaining({ from: "open", to: "closed" })
        ])
      }
      const viaStream = yield* Fiber.join(streamed)
      expect(viaStream).toEqual([expect.objectContaining({ from: "open", to: "closed" })])
    })
  )

  it.effect("open -> halfOpen after waitDurationInOpenState, on the next call", () =>
    Effect.gen(function* () {
      const breaker = yield* make()
      yield* calls(breaker, 10, unavailable)
      expect(yield* breaker.state).toBe("open")
      yield* TestClock.adjust(59_999)
      expect(isNotPermitted(yield* Effect.exit(breaker.execute(ok)))).toBe(true)
      expect(yield* breaker.state).toBe("open")
      yield* TestClock.adjust(1)
      expect(yield* breaker.execute(ok)).toBe("ok")
      expect(yield* breaker.state).toBe("halfOpen")
    })
  )

  it.effect("halfOpen -> closed when the probes succeed, with a fresh window", () =>
    Effect.gen(function* () {
      const breaker = yield* make()
      yield* calls(breaker, 10, unavailable)
      yield* TestClock.adjust(60_000)
      yield* calls(breaker, 2, ok)
      expect(yield* breaker.state).toBe("halfOpen")
      yield* calls(breaker, 1, unavailable) // 1 of 3 probes failed: 33 % < 50 %
      expect(yield* breaker.metrics).toMatchObject({ state: "closed", bufferedCalls: 0 })
    })
  )

  it.effect("halfOpen -> open when the probes fail; calls beyond the permitted probes are refused", () =>
    Effect.gen(function* () {
      const breaker = yield* make()
      yield* calls(breaker, 10, unavailable)
      yield* TestClock.adjust(60_000)
      // Three probes in flight hold all permits.
      let started = 0
      const probe = Effect.suspend(() => {
        started++
        return Effect.andThen(Effect.sleep(100), unavailable)
      })
      const probes = yield* Effect.forkChild(
        Effect.all(
          Array.from({ length: 3 }, () => Effect.exit(breaker.execute(probe))),
          { concurrency: "unbounded" }
        )
      )
      while (started < 3) yield* Effect.yieldNow
      expect(yield* breaker.state).toBe("halfOpen")
      const refused = yield* Effect.exit(breaker.execute(ok))
      expect(isNotPermitted(refused)).toBe(true)
      expect(Cause.findErrorOption((refused as Exit.Failure<unknown, unknown>).cause)).toMatchObject({
        value: { breaker: "test", state: "halfOpen" }
      })
      yield* TestClock.adjust(100)
      yield* Fiber.join(probes)
      expect(yield* breaker.state).toBe("open")
      // Open again: the wait starts over from now.
      yield* TestClock.adjust(59_999)
      expect(isNotPermitted(yield* Effect.exit(breaker.execute(ok)))).toBe(true)
    })
  )

  it.effect("an interrupted half-open probe gives its permit back", () =>
    Effect.gen(function* () {
      const breaker = yield* make({ permittedNumberOfCallsInHalfOpenState: 1 })
      yield* calls(breaker, 10, unavailable)
      yield* TestClock.adjust(60_000)
      const probe = yield* Effect.forkChild(breaker.execute(Effect.never))
      yield* Effect.yieldNow
      expect(isNotPermitted(yield* Effect.exit(breaker.execute(ok)))).toBe(true)
      yield* Fiber.interrupt(probe)
      expect(yield* breaker.execute(ok)).toBe("ok")
      expect(yield* breaker.metrics).toMatchObject({ state: "closed", interruptedCallsTotal: 1 })
    })
  )

  it.effect("a call that started before the breaker opened does not count in the next state", () =>
    Effect.gen(function* () {
      const breaker = yield* make({ permittedNumberOfCallsInHalfOpenState: 1 })
      const straggler = yield* Effect.forkChild(
        breaker.execute(Effect.andThen(Effect.sleep(70_000), unavailable))
      )
      yield* Effect.yieldNow
      yield* calls(breaker, 10, unavailable)
      yield* TestClock.adjust(60_000)
      expect(yield* breaker.execute(ok)).toBe("ok") // the single probe closes the breaker
      expect(yield* breaker.state).toBe("closed")
      yield* TestClock.adjust(10_000)
      yield* Effect.exit(Fiber.join(straggler))
      expect(yield* breaker.metrics).toMatchObject({
        state: "closed",
        bufferedCalls: 0,
        failedCallsTotal: 11
      })
    })
  )

  describe("time-based window", () => {
    const timeBased = {
      slidingWindowType: "timeBased",
      slidingWindowSize: 10,
      minimumNumberOfCalls: 4
    } as const

    it.effect("judges only the calls of the last N seconds", () =>
      Effect.gen(function* () {
        const breaker = yield* make(timeBased)
        yield* calls(breaker, 3, unavailable)
        yield* TestClock.adjust(9_999) // still the same 10 s window
        expect((yield* breaker.metrics).bufferedCalls).toBe(3)
        yield* TestClock.adjust(1)
        // The failures of second 0 slid out; a count window of 10 would now open at 4 of 7.
        expect((yield* breaker.metrics).bufferedCalls).toBe(0)
        yield* calls(breaker, 1, unavailable)
        yield* calls(breaker, 3, ok)
        expect(yield* breaker.metrics).toMatchObject({
          state: "closed",
          bufferedCalls: 4,
          failureRatePercent: 25
        })
      })
    )

    it.effect("opens on a burst of failures within the window", () =>
      Effect.gen(function* () {
        const breaker = yield* make(timeBased)
        for (let second = 0; second < 4; second++) {
          yield* calls(breaker, 1, unavailable)
          yield* TestClock.adjust(2_000)
        }
        expect(yield* breaker.state).toBe("open")
      })
    )

    it.effect("counts buckets across a wrap of the ring", () =>
      Effect.gen(function* () {
        const breaker = yield* make({ ...timeBased, minimumNumberOfCalls: 1_000 })
        for (let second = 0; second < 25; second++) {
          yield* calls(breaker, second % 3 === 0 ? 2 : 1, second % 2 === 0 ? unavailable : ok)
          yield* TestClock.adjust(1_000)
          // Seconds second-8..second are in the window now (second+1 has just begun, empty).
          let expected = 0
          let failed = 0
          for (let s = Math.max(0, second - 8); s <= second; s++) {
            const n = s % 3 === 0 ? 2 : 1
            expected += n
            if (s % 2 === 0) failed += n
          }
          expect(yield* breaker.metrics).toMatchObject({ bufferedCalls: expected, failedCalls: failed })
        }
      })
    )
  })

  it.effect("1,000 concurrent callers: no lost updates", () =>
    Effect.gen(function* () {
      const breaker = yield* make({
        slidingWindowSize: 1_000,
        minimumNumberOfCalls: 1_000,
        failureRateThreshold: 100
      })
      const call = (i: number) =>
        Effect.exit(
          breaker.execute(
            Effect.gen(function* () {
              // Interleave the callers: every call yields inside, then some fail.
              yield* Effect.yieldNow
              if (i % 10 < 3) return yield* unavailable
              return i
            })
          )
        )
      const exits = yield* Effect.all(
        Array.from({ length: 1_000 }, (_, i) => call(i)),
        { concurrency: "unbounded" }
      )
      expect(exits.filter(Exit.isSuccess)).toHaveLength(700)
      const metrics = yield* breaker.metrics
      expect(metrics).toMatchObject({
        state: "closed",
        bufferedCalls: 1_000,
        failedCalls: 300,
        successfulCallsTotal: 700,
        failedCallsTotal: 300,
        failureRatePercent: 30
      })
    })
  )

  it.effect("concurrent callers at the threshold open the breaker exactly once", () =>
    Effect.gen(function* () {
      const breaker = yield* make({ slidingWindowSize: 100, minimumNumberOfCalls: 100 })
      const transitions = yield* breaker.subscribe
      yield* Effect.all(
        Array.from({ length: 1_000 }, () =>
          Effect.exit(breaker.execute(Effect.andThen(Effect.yieldNow, unavailable)))
        ),
        { concurrency: "unbounded" }
      )
      const metrics = yield* breaker.metrics
      expect(metrics.state).toBe("open")
      expect(metrics.failedCallsTotal + metrics.notPermittedCallsTotal).toBe(1_000)
      expect(metrics.transitionsTotal).toBe(1)
      expect(yield* PubSub.remaining(transitions)).toBe(1)
    })
  )

  it.effect("publishes every transition, in order, and reports the state gauge", () =>
    Effect.gen(function* () {
      const breaker = yield* CircuitBreaker.make({ ...settings, name: "gauge-test" })
      const gauge = Metric.withAttributes(CircuitBreaker.stateGauge, { breaker: "gauge-test" })
      const collected = yield* Effect.forkChild(Stream.runCollect(Stream.take(breaker.transitions, 4)))
      yield* Effect.yieldNow
      expect((yield* Metric.value(gauge)).value).toBe(0)
      yield* calls(breaker, 10, unavailable)
      expect((yield* Metric.value(gauge)).value).toBe(1)
      yield* TestClock.adjust(60_000)
      yield* calls(breaker, 3, unavailable) // half-open probes fail
      yield* TestClock.adjust(60_000)
      yield* calls(breaker, 3, ok)
      expect((yield* Metric.value(gauge)).value).toBe(0)
      const transitions = yield* Fiber.join(collected)
      expect(transitions.map((t) => [t.from, t.to, t.reason, t.atMs])).toEqual([
        ["closed", "open", "failureRate", 0],
        ["open", "halfOpen", "waitElapsed", 60_000],
        ["halfOpen", "open", "probesFailed", 60_000],
        ["open", "halfOpen", "waitElapsed", 120_000]
      ])
      expect(yield* breaker.state).toBe("closed")
    })
  )

  it.effect("reset closes the breaker (an operator action)", () =>
    Effect.gen(function* () {
      const breaker = yield* make()
      yield* calls(breaker, 10, unavailable)
      yield* breaker.reset
      expect(yield* breaker.metrics).toMatchObject({ state: "closed", bufferedCalls: 0 })
      expect(yield* breaker.execute(ok)).toBe("ok")
    })
  )

  it.effect("a defect counts as a failure, an interruption in closed state as nothing", () =>
    Effect.gen(function* () {
      const breaker = yield* make()
      yield* Effect.exit(breaker.execute(Effect.die("boom")))
      const fiber = yield* Effect.forkChild(breaker.execute(Effect.never))
      yield* Effect.yieldNow
      yield* Fiber.interrupt(fiber)
      expect(yield* breaker.metrics).toMatchObject({ failedCallsTotal: 1, bufferedCalls: 1 })
    })
  )

  it.effect("invalid settings are a defect", () =>
    Effect.gen(function* () {
      const exit = yield* Effect.exit(make({ failureRateThreshold: 0 }))
      expect(Exit.isFailure(exit) && Cause.hasDies(exit.cause)).toBe(true)
      const tooLong = yield* Effect.exit(make({ slidingWindowType: "timeBased", slidingWindowSize: 3_601 }))
      expect(Exit.isFailure(tooLong)).toBe(true)
    })
  )

  describe("windows against a recount (property)", () => {
    const between = (minimum: number, maximum: number) =>
      Schema.Int.check(Schema.isBetween({ minimum, maximum }))
    const upTo300 = <S extends Schema.Top>(item: S) => Schema.Array(item).check(Schema.isMaxLength(300))
    // Effect's arbitraries grow arrays up to the run's size (10 by default): let them reach 300,
    // as fast-check did with an explicit maxLength, so the rings wrap many times.
    const fullLength = { arbitrary: { size: 300 } }
    const outcome = between(0, 3) // bit 1 failed, bit 2 slow
    const count = (outcomes: ReadonlyArray<number>, bit: number) =>
      outcomes.filter((o) => (o & bit) !== 0).length

    it.prop(
      "a count window holds exactly its last N calls",
      {
        size: between(1, 20),
        outcomes: upTo300(outcome)
      },
      ({ size, outcomes }) => {
        const window = new CountWindow(size)
        for (const o of outcomes) window.record(o)
        const last = outcomes.slice(-size)
        expect([window.calls, window.failedCalls, window.slowCalls]).toEqual([
          last.length,
          count(last, 1),
          count(last, 2)
        ])
      },
      fullLength
    )

    it.prop(
      "a time window holds exactly the calls of its last N seconds",
      {
        sizeSeconds: between(1, 10),
        steps: upTo300(Schema.Tuple([outcome, between(0, 4_000)]))
      },
      ({ sizeSeconds, steps }) => {
        const window = new TimeWindow(sizeSeconds, 0)
        const recorded: Array<{ readonly second: number; readonly outcome: number }> = []
        let nowMs = 0
        for (const [o, advanceMs] of steps) {
          nowMs += advanceMs
          window.record(o, nowMs)
          recorded.push({ second: Math.floor(nowMs / 1_000), outcome: o })
          const oldest = Math.floor(nowMs / 1_000) - sizeSeconds + 1
          const inside = recorded.filter((r) => r.second >= oldest).map((r) => r.outcome)
          expect([window.calls, window.failedCalls, window.slowCalls]).toEqual([
            inside.length,
            count(inside, 1),
            count(inside, 2)
          ])
        }
      },
      fullLength
    )
  })
})
