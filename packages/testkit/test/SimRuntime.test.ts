/**
 * The simulator's executor: virtual time moves only when every fiber is blocked, sleepers wake
 * in deadline order, an interrupted sleeper never resumes, and a busy fiber yields to others.
 */
import { describe, expect, it } from "@effect/vitest"
import { Clock, Duration, Effect, Exit, Fiber, References } from "effect"
import { runDeterministic } from "../src/internal/simRuntime.js"

const limits = { startMs: 1_000, maxTimeMs: 1_000_000, maxSteps: 1_000_000 }

describe("simRuntime", () => {
  it("wakes sleepers in deadline order, at their deadlines, through Clock and the clock's own sleep", () => {
    const woke: Array<string> = []
    const { outcome, endMs } = runDeterministic(
      (clock) =>
        Effect.all(
          [
            Effect.sleep(Duration.millis(300)).pipe(
              Effect.andThen(Clock.currentTimeMillis),
              Effect.map((t) => woke.push(`a@${t}`))
            ),
            clock.sleepMs(100).pipe(Effect.map(() => woke.push(`b@${clock.nowMs}`))),
            Effect.sleep(Duration.millis(200)).pipe(Effect.map(() => woke.push(`c@${clock.nowMs}`)))
          ],
          { concurrency: "unbounded" }
        ),
      limits
    )
    expect(outcome._tag).toBe("Done")
    expect(woke).toEqual(["b@1100", "c@1200", "a@1300"])
    expect(endMs).toBe(1_300)
  })

  it("an interrupted sleeper never resumes, and the others still wake on time", () => {
    const woke: Array<string> = []
    const { outcome } = runDeterministic(
      (clock) =>
        Effect.gen(function* () {
          const sleeper = yield* Effect.forkChild(
            clock
              .sleepMs(500)
              .pipe(Effect.ensuring(Effect.sync(() => woke.push("finalizer"))), Effect.as("slept"))
          )
          yield* clock.sleepMs(100)
          yield* Fiber.interrupt(sleeper)
          const exit = yield* Fiber.await(sleeper)
          woke.push(Exit.hasInterrupts(exit) ? `interrupted@${clock.nowMs}` : `slept@${clock.nowMs}`)
          yield* clock.sleepMs(1_000)
          woke.push(`later@${clock.nowMs}`)
        }),
      limits
    )
    expect(outcome._tag).toBe("Done")
    expect(woke).toEqual(["finalizer", "interrupted@1100", "later@2100"])
  })

  /** A fiber that runs 10,000 steps without waiting, beside one that takes a single step. */
  const busyBesideOther = (order: Array<string>) => {
    const busy = Effect.gen(function* () {
      for (let i = 0; i < 10_000; i++) yield* Effect.sync(() => i)
      order.push("busy done")
    })
    return Effect.all([busy, Effect.sync(() => order.push("other ran"))], {
      concurrency: "unbounded",
      discard: true
    })
  }

  it("a fiber that never waits still lets the others run (it yields every 2048 steps)", () => {
    const order: Array<string> = []
    const { outcome } = runDeterministic(() => busyBesideOther(order), limits)
    expect(outcome._tag).toBe("Done")
    expect(order).toEqual(["other ran", "busy done"])
  })

  it("the yield budget is the fiber's MaxOpsBeforeYield reference", () => {
    const order: Array<string> = []
    const { outcome } = runDeterministic(
      () => busyBesideOther(order).pipe(Effect.provideService(References.MaxOpsBeforeYield, 1_000_000)),
      limits
    )
    expect(outcome._tag).toBe("Done")
    expect(order).toEqual(["busy done", "other ran"])
  })

  it("reports a deadlock when every fiber is blocked and nobody sleeps", () => {
    const { outcome } = runDeterministic(() => Effect.never, limits)
    expect(outcome._tag).toBe("Deadlock")
  })

  it("a deadlock is seen at once, not at the deadline of an interrupted sleeper", () => {
    const { outcome } = runDeterministic(
      (clock) =>
        Effect.gen(function* () {
          yield* Fiber.interrupt(yield* Effect.forkChild(clock.sleepMs(50_000)))
          yield* Effect.never
        }),
      limits
    )
    expect(outcome).toEqual({ _tag: "Deadlock", atMs: 1_000 })
  })

  it("stops a run that never ends and never waits (a livelock) at its step budget", () => {
    const { outcome, steps } = runDeterministic(() => Effect.forever(Effect.void), limits)
    expect(outcome._tag).toBe("OutOfBudget")
    expect(steps).toBeGreaterThanOrEqual(limits.maxSteps)
  })
})
