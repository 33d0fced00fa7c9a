/**
 * The pool's gate on its own (no database): a busy pool never trips the exhaustion breaker, a
 * stalled one does after `exhaustedAfterMs` even when its waiters give up and come back, an open
 * breaker fails fast only the calls that would queue, and no permit is lost to interruption.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Fiber } from "effect"
import { TestClock } from "effect/testing"
import { PoolGate } from "@till/adapters/postgres"

const gate = (maxConnections: number) =>
  PoolGate.make({ maxConnections, exhaustedAfterMs: 5_000, openMs: 5_000 })

const isExhausted = (exit: Exit.Exit<unknown, unknown>) =>
  Exit.isFailure(exit) && String(exit.cause).includes("PoolExhausted")

describe("PoolGate", () => {
  it.effect("a busy pool serves its queue and never trips, however long the queue", () =>
    Effect.gen(function* () {
      const g = yield* gate(2)
      // 20 calls of 1 s each on 2 connections: the last waits 9 s, but someone is served every second.
      const fibers = yield* Effect.forEach(Array.from({ length: 20 }), () =>
        Effect.forkChild(Effect.exit(g.guard(Effect.sleep(1_000))))
      )
      yield* Effect.yieldNow
      const busy = yield* g.saturation
      expect([busy.inUse, busy.waiting, busy.utilizationPercent]).toEqual([2, 18, 100])
      for (let s = 0; s < 10; s++) {
        // An arrival each second finds a queue that moves.
        const late = yield* Effect.forkChild(Effect.exit(g.guard(Effect.void)))
        yield* TestClock.adjust(1_000)
        fibers.push(late)
      }
      const exits = yield* Effect.forEach(fibers, Fiber.join)
      expect(exits.filter(isExhausted)).toHaveLength(0)
      expect(exits.every(Exit.isSuccess)).toBe(true)
      expect(yield* g.saturation).toMatchObject({ inUse: 0, waiting: 0, breaker: "closed", stalledMs: 0 })
    })
  )

  it.effect("a stalled pool trips after 5 s although every waiter gives up after 2 s and retries", () =>
    Effect.gen(function* () {
      const g = yield* gate(1)
      const stuck = yield* Effect.forkChild(g.guard(Effect.never))
      yield* Effect.yieldNow
      // A caller with the store policy's 2 s timeout, coming back at once: its waits never reach 5 s.
      const impatient = g.guard(Effect.void).pipe(Effect.timeout(2_000), Effect.exit)
      const attempts: Array<Exit.Exit<unknown, unknown>> = []
      for (let i = 0; i < 3; i++) {
        const f = yield* Effect.forkChild(impatient)
        yield* TestClock.adjust(2_000)
        attempts.push(yield* Fiber.join(f))
      }
      // Each attempt (at 0, 2 and 4 s) found the queue stalled under 5 s, so it queued and timed out.
      expect(attempts.every((a) => Exit.isFailure(a) && !isExhausted(a))).toBe(true)
      // At 6 s the queue has been stalled 6 s: an arrival fails without waiting.
      expect(isExhausted(yield* Effect.exit(g.guard(Effect.void)))).toBe(true)
      expect(yield* g.saturation).toMatchObject({ inUse: 1, waiting: 0, breaker: "open" })
      // The connection comes back: the next call finds it free and runs, breaker or not.
      yield* Fiber.interrupt(stuck)
      expect(yield* g.guard(Effect.succeed("ran"))).toBe("ran")
      yield* TestClock.adjust(5_000)
      expect(yield* g.saturation).toMatchObject({ inUse: 0, waiting: 0, breaker: "closed", stalledMs: 0 })
    })
  )

  it.effect("a caller queued behind a slow (not stuck) pool is served, and the stall restarts", () =>
    Effect.gen(function* () {
      const g = yield* gate(1)
      const slow = yield* Effect.forkChild(g.guard(Effect.sleep(4_000)))
      yield* Effect.yieldNow
      const second = yield* Effect.forkChild(Effect.exit(g.guard(Effect.sleep(4_000))))
      yield* TestClock.adjust(4_000)
      // Served at 4 s; the third arrives at 7 s and waits 1 s behind the second: no stall of 5 s.
      yield* TestClock.adjust(3_000)
      const third = yield* Effect.forkChild(Effect.exit(g.guard(Effect.void)))
      yield* TestClock.adjust(1_000)
      yield* Fiber.join(slow)
      expect(Exit.isSuccess(yield* Fiber.join(second))).toBe(true)
      expect(Exit.isSuccess(yield* Fiber.join(third))).toBe(true)
    })
  )

  it.effect("a store call inside a store call runs on its fiber's permit (no deadlock on a full pool)", () =>
    Effect.gen(function* () {
      const g = yield* gate(1)
      expect(yield* g.guard(g.guard(g.guard(Effect.succeed("nested"))))).toBe("nested")
      expect((yield* g.saturation).inUse).toBe(0)
    })
  )

  it.effect("interrupted waiters lose no permit: afterwards all connections run at once", () =>
    Effect.gen(function* () {
      const g = yield* gate(3)
      const holders = yield* Effect.forEach([1, 2, 3], () => Effect.forkChild(g.guard(Effect.sleep(1_000))))
      const waiters = yield* Effect.forEach(Array.from({ length: 50 }), () =>
        Effect.forkChild(g.guard(Effect.void))
      )
      yield* Effect.yieldNow
      expect((yield* g.saturation).waiting).toBe(50)
      yield* Effect.forEach(waiters, Fiber.interrupt)
      yield* TestClock.adjust(1_000)
      yield* Effect.forEach(holders, Fiber.join)
      expect(yield* g.saturation).toMatchObject({ inUse: 0, waiting: 0 })
      const all = yield* Effect.forEach([1, 2, 3], () => Effect.forkChild(g.guard(Effect.sleep(1_000))))
      yield* Effect.yieldNow
      expect(yield* g.saturation).toMatchObject({ inUse: 3, waiting: 0 })
      yield* TestClock.adjust(1_000)
      yield* Effect.forEach(all, Fiber.join)
    })
  )

  it.effect(
    "200 callers, a third interrupted at random moments: never more than max at once, none lost",
    () =>
      Effect.gen(function* () {
        const g = yield* gate(3)
        let running = 0
        let peak = 0
        let done = 0
        const work = (ms: number) =>
          g.guard(
            Effect.acquireUseRelease(
              Effect.sync(() => {
                running++
                peak = Math.max(peak, running)
              }),
              () => Effect.sleep(ms),
              () => Effect.sync(() => running--)
            )
          )
        // A fixed pseudo-random sequence (no Math.random in tests).
        let x = 7
        const next = () => {
          x = (x * 1_103_515_245 + 12_345) % 2_147_483_648
          return x / 2_147_483_648
        }
        const fibers = yield* Effect.forEach(Array.from({ length: 200 }), () =>
          Effect.forkChild(Effect.tap(work(1 + Math.floor(next() * 20)), () => Effect.sync(() => done++)))
        )
        for (let t = 0; t < 400; t++) {
          if (next() < 0.25) yield* Fiber.interrupt(fibers[Math.floor(next() * fibers.length)]!)
          yield* TestClock.adjust(5)
        }
        yield* TestClock.adjust(10_000)
        yield* Effect.forEach(fibers, Fiber.await)
        expect(peak).toBe(3)
        expect(running).toBe(0)
        expect(done).toBeGreaterThan(100)
        expect(yield* g.saturation).toMatchObject({ inUse: 0, waiting: 0 })
        // Every permit is still there: three calls run side by side.
        const three = yield* Effect.forEach([1, 2, 3], () => Effect.forkChild(work(100)))
        yield* Effect.yieldNow
        expect((yield* g.saturation).inUse).toBe(3)
        yield* TestClock.adjust(100)
        yield* Effect.forEach(three, Fiber.join)
      })
  )

  it.effect("the degradation signal: utilization, and 100 % while callers queue", () =>
    Effect.gen(function* () {
      const g = yield* gate(4)
      const signal = PoolGate.degradationSignal("postgres").pipe(Effect.provideService(PoolGate.PoolGate, g))
      expect(yield* signal).toEqual({ _tag: "PoolSaturation", pool: "postgres", utilizationPercent: 0 })
      const f = yield* Effect.forEach([1, 2, 3], () => Effect.forkChild(g.guard(Effect.sleep(1_000))))
      yield* Effect.yieldNow
      expect((yield* signal).utilizationPercent).toBe(75)
      const more = yield* Effect.forEach([1, 2], () => Effect.forkChild(g.guard(Effect.sleep(1_000))))
      yield* Effect.yieldNow
      expect((yield* signal).utilizationPercent).toBe(100)
      yield* TestClock.adjust(2_000)
      yield* Effect.forEach([...f, ...more], Fiber.join)
    })
  )
})
