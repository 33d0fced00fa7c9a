/**
 * The per-key lock behind cart writes: one holder per key, waiters served in arrival order,
 * other keys never wait, and interruption (of a holder or of a waiter) never leaks the lock
 * or an entry of its map.
 */
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber } from "effect"
import { TestClock } from "effect/testing"
import { makeKeyedLock } from "../src/internal/keyedLock.js"

describe("keyedLock", () => {
  it.effect("one holder per key at a time, waiters in arrival order; other keys run alongside", () =>
    Effect.gen(function* () {
      const lock = yield* makeKeyedLock()
      const events: Array<string> = []
      let inside = 0
      let most = 0
      const job = (key: string, name: string) =>
        lock.withLock(key)(
          Effect.gen(function* () {
            inside++
            most = Math.max(most, inside)
            events.push(`${name} in`)
            yield* Effect.sleep("10 millis")
            events.push(`${name} out`)
            inside--
          })
        )
      const fibers = yield* Effect.forEach(["a1", "a2", "a3"], (name) => Effect.forkChild(job("a", name)))
      const other = yield* Effect.forkChild(lock.withLock("b")(Effect.sync(() => void events.push("b ran"))))
      yield* TestClock.adjust("5 millis")
      expect(events).toEqual(["a1 in", "b ran"])
      yield* TestClock.adjust("100 millis")
      yield* Fiber.joinAll([...fibers, other])
      expect(events).toEqual(["a1 in", "b ran", "a1 out", "a2 in", "a2 out", "a3 in", "a3 out"])
      expect(most).toBe(1)
      expect(lock.size()).toBe(0)
    })
  )

  it.effect("a holder that comes straight back queues behind the waiter it handed the lock to", () =>
    Effect.gen(function* () {
      const lock = yield* makeKeyedLock()
      const events: Array<string> = []
      const step = (name: string) =>
        lock.withLock("k")(
          Effect.gen(function* () {
            events.push(`${name} in`)
            yield* Effect.yieldNow
            events.push(`${name} out`)
          })
        )
      const first = yield* Effect.forkChild(Effect.andThen(step("a1"), step("a2")))
      const second = yield* Effect.forkChild(step("b"))
      yield* Fiber.joinAll([first, second])
      expect(events).toEqual(["a1 in", "a1 out", "b in", "b out", "a2 in", "a2 out"])
    })
  )

  it.effect("answers the effect's own success or failure, and frees the lock either way", () =>
    Effect.gen(function* () {
      const lock = yield* makeKeyedLock()
      expect(yield* lock.withLock("k")(Effect.succeed(42))).toBe(42)
      const failed = yield* Effect.exit(lock.withLock("k")(Effect.fail("boom")))
      expect(failed).toEqual(Exit.fail("boom"))
      const died = yield* Effect.exit(lock.withLock("k")(Effect.die(new Error("bug"))))
      expect(Exit.isFailure(died) && Exit.hasDies(died) && !Exit.hasInterrupts(died)).toBe(true)
      expect(yield* lock.withLock("k")(Effect.succeed("free again"))).toBe("free again")
      expect(lock.size()).toBe(0)
    })
  )

  it.effect("an interrupted holder frees the lock for the next waiter", () =>
    Effect.gen(function* () {
      const lock = yield* makeKeyedLock()
      const holding = yield* Deferred.make<void>()
      const holder = yield* Effect.forkChild(
        lock.withLock("k")(Effect.andThen(Deferred.succeed(holding, undefined), Effect.never))
      )
      yield* Deferred.await(holding)
      const waiter = yield* Effect.forkChild(lock.withLock("k")(Effect.succeed("got it")))
      yield* TestClock.adjust("1 millis")
      expect(waiter.pollUnsafe()).toBeUndefined()
      yield* Fiber.interrupt(holder)
      expect(yield* Fiber.join(waiter)).toBe("got it")
      expect(lock.size()).toBe(0)
    })
  )

  it.effect("an interrupted waiter leaves the queue and never runs; the others keep their turn", () =>
    Effect.gen(function* () {
      const lock = yield* makeKeyedLock()
      const ran: Array<string> = []
      const release = yield* Deferred.make<void>()
      const holder = yield* Effect.forkChild(lock.withLock("k")(Deferred.await(release)))
      yield* TestClock.adjust("1 millis")
      const quitter = yield* Effect.forkChild(lock.withLock("k")(Effect.sync(() => ran.push("quitter"))))
      const patient = yield* Effect.forkChild(lock.withLock("k")(Effect.sync(() => ran.push("patient"))))
      yield* TestClock.adjust("1 millis")
      yield* Fiber.interrupt(quitter)
      yield* Deferred.succeed(release, undefined)
      yield* Fiber.join(holder)
      yield* Fiber.join(patient)
      expect(ran).toEqual(["patient"])
      expect(lock.size()).toBe(0)
    })
  )

  it.effect("many fibers on one key: every one runs once, never two at a time", () =>
    Effect.gen(function* () {
      const lock = yield* makeKeyedLock()
      let inside = 0
      let most = 0
      let runs = 0
      yield* Effect.forEach(
        Array.from({ length: 200 }, (_, i) => i),
        (i) =>
          lock.withLock(i % 3 === 0 ? "other" : "shared")(
            Effect.gen(function* () {
              if (i % 3 === 0) return
              inside++
              most = Math.max(most, inside)
              yield* Effect.yieldNow
              runs++
              inside--
            })
          ),
        { concurrency: "unbounded", discard: true }
      )
      expect(most).toBe(1)
      expect(runs).toBe(133)
      expect(lock.size()).toBe(0)
    })
  )
})
