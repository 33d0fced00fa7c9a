import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { TestClock } from "effect/testing"
import * as CircuitBreaker from "../src/CircuitBreaker.js"
import { GatewayUnavailable, PaymentDeclined } from "../src/Errors.js"

const settings: CircuitBreaker.Settings = {
  slidingWindowType: "countBased",
  slidingWindowSize: 4,
  minimumNumberOfCalls: 4,
  failureRateThreshold: 50,
  slowCallRateThreshold: 100,
  slowCallDurationThresholdMs: 1_000,
  waitDurationInOpenStateMs: 60_000,
  permittedNumberOfCallsInHalfOpenState: 2
}

const reject = (error: unknown) => () => Promise.reject(error)
const settled = (promise: Promise<unknown>) =>
  promise.then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error })
  )
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

describe("CircuitBreaker.executePromise", () => {
  it("is made without services and counts plain rejections as failures, declines as successes", async () => {
    const breaker = Effect.runSync(CircuitBreaker.make({ ...settings, name: "promise" }))
    expect(await breaker.executePromise(() => Promise.resolve("ok"))).toBe("ok")
    expect(await breaker.executePromise(() => 42)).toBe(42)
    const declined = new PaymentDeclined({ orderId: "ord_1", declineCode: "card_declined" })
    expect(await settled(breaker.executePromise(reject(declined)))).toEqual({ ok: false, error: declined })
    // Window of 4: 3 successes (a decline is an answer) and 1 failure: 25 %.
    await settled(
      breaker.executePromise(() => {
        throw new TypeError("fetch failed")
      })
    )
    expect(Effect.runSync(breaker.state)).toBe("closed")
    expect(Effect.runSync(breaker.metrics)).toMatchObject({ successfulCallsTotal: 3, failedCallsTotal: 1 })
    // Two more failures: 3 of the last 4 failed, 75 % >= 50 %.
    await settled(breaker.executePromise(reject(new GatewayUnavailable({ reason: "503" }))))
    await settled(breaker.executePromise(reject(new Error("socket hang up"))))
    expect(Effect.runSync(breaker.state)).toBe("open")
    let called = false
    const refused = await settled(
      breaker.executePromise(() => {
        called = true
        return 1
      })
    )
    expect(called).toBe(false)
    expect(refused.ok === false && (refused.error as { _tag: string })._tag).toBe("CallNotPermitted")
  })

  it.effect(
    "shares one state machine with execute: opened by Promises, probed by Effects, under TestClock",
    () =>
      Effect.gen(function* () {
        const breaker = yield* CircuitBreaker.make({ ...settings, name: "shared" })
        for (let i = 0; i < 4; i++) {
          yield* Effect.promise(() => settled(breaker.executePromise(reject(new Error("down")))))
        }
        expect(yield* breaker.state).toBe("open")
        yield* TestClock.adjust(60_000)
        expect(yield* breaker.execute(Effect.succeed("probe 1"))).toBe("probe 1")
        expect(yield* Effect.promise(() => breaker.executePromise(() => "probe 2"))).toBe("probe 2")
        expect(yield* breaker.state).toBe("closed")
      })
  )

  it.effect("times calls with the TestClock: a call spanning an adjust is slow", () =>
    Effect.gen(function* () {
      const breaker = yield* CircuitBreaker.make({ ...settings, minimumNumberOfCalls: 1, name: "slow" })
      let release = (): void => {}
      const call = breaker.executePromise(() => new Promise<void>((resolve) => (release = resolve)))
      yield* TestClock.adjust(1_001)
      release()
      yield* Effect.promise(() => call)
      expect(yield* breaker.metrics).toMatchObject({ slowCallsTotal: 1, state: "open" })
    })
  )
})

describe("the live clock", () => {
  it("times CPU work inside a call too: a call that spins past the threshold is slow", async () => {
    const breaker = Effect.runSync(
      CircuitBreaker.make({ ...settings, slowCallDurationThresholdMs: 20, name: "spin" })
    )
    await breaker.executePromise(async () => {
      const spinUntil = Date.now() + 40
      while (Date.now() < spinUntil) {
        // synchronous work: no event-loop turn passes
      }
    })
    expect(Effect.runSync(breaker.metrics)).toMatchObject({ slowCallsTotal: 1 })
  })

  it("measures I/O latency in full: calls over the threshold are slow, calls under it are not", async () => {
    const breaker = Effect.runSync(
      CircuitBreaker.make({
        ...settings,
        slidingWindowSize: 2,
        minimumNumberOfCalls: 2,
        slowCallDurationThresholdMs: 30,
        name: "live"
      })
    )
    await breaker.executePromise(() => sleep(1))
    await Effect.runPromise(breaker.execute(Effect.sleep("60 millis")))
    expect(Effect.runSync(breaker.metrics)).toMatchObject({ slowCallsTotal: 1, state: "closed" })
    await breaker.executePromise(() => sleep(60))
    // The last two calls were both slow: 100 % >= 100 %.
    expect(Effect.runSync(breaker.metrics)).toMatchObject({ slowCallsTotal: 2, state: "open" })
  })
})
