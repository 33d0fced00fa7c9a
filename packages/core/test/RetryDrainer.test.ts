import { describe, expect, it } from "@effect/vitest"
import { InMemoryDeadLetterStore, InMemoryPaymentRetryQueue } from "@till/testkit"
import { Clock, Effect, Fiber, Layer, Metric } from "effect"
import { TestClock } from "effect/testing"
import { DeadLetterStore } from "../src/DeadLetterStore.js"
import { CallNotPermitted, GatewayUnavailable } from "../src/Errors.js"
import { PaymentRetryQueue } from "../src/PaymentRetryQueue.js"
import * as Policy from "../src/Policy.js"
import * as Resilience from "../src/Resilience.js"
import * as RetryDrainer from "../src/RetryDrainer.js"

const stores = Layer.mergeAll(
  InMemoryPaymentRetryQueue.layer,
  InMemoryDeadLetterStore.layer,
  Resilience.layer
)

const settings: RetryDrainer.Settings = { ...RetryDrainer.defaults, maxDelayMs: 8_000, maxAttempts: 6 }

const entryOf = (orderId: string) =>
  Effect.flatMap(InMemoryPaymentRetryQueue.Inspector, (queue) =>
    Effect.map(queue.entries, (entries) => entries.find((e) => e.entry.orderId === orderId)?.entry)
  )

const claimedUntilOf = (orderId: string) =>
  Effect.flatMap(InMemoryPaymentRetryQueue.Inspector, (queue) =>
    Effect.map(queue.entries, (entries) => entries.find((e) => e.entry.orderId === orderId)?.claimedUntil)
  )

describe("RetryDrainer", () => {
  it("backs off 1 s, 2 s, 4 s, 8 s ... capped", () => {
    expect([1, 2, 3, 4, 5, 6].map((n) => RetryDrainer.delayMs(settings, n))).toEqual([
      1_000, 2_000, 4_000, 8_000, 8_000, 8_000
    ])
    expect(RetryDrainer.delayMs(RetryDrainer.defaults, 30)).toBe(300_000)
  })

  it.effect("retries at 1 s, 3 s, 7 s, 15 s, 23 s, 31 s, then dead-letters with the last error", () =>
    Effect.gen(function* () {
      const attemptsMs: Array<number> = []
      const process = (_orderId: string) =>
        Effect.flatMap(Clock.currentTimeMillis, (nowMs) => {
          attemptsMs.push(nowMs)
          return Effect.fail(new GatewayUnavailable({ reason: `503 on attempt ${attemptsMs.length}` }))
        })
      expect(yield* RetryDrainer.enqueue("ord_1", { settings })).toBe("enqueued")
      const drainer = yield* Effect.forkChild(RetryDrainer.run(process, settings))
      yield* TestClock.adjust(30_999)
      expect(attemptsMs).toEqual([1_000, 3_000, 7_000, 15_000, 23_000])
      expect(yield* entryOf("ord_1")).toEqual({
        orderId: "ord_1",
        attempt: 5,
        nextAttemptAt: 31_000,
        lastError: 'GatewayUnavailable: { "reason": "503 on attempt 5" }'
      })
      yield* TestClock.adjust(1)
      expect(attemptsMs).toHaveLength(6)
      expect(yield* entryOf("ord_1")).toBeUndefined()
      const letters = yield* Effect.flatMap(DeadLetterStore, (store) => store.list(10))
      expect(letters).toEqual([
        {
          orderId: "ord_1",
          attempts: 6,
          lastError: 'GatewayUnavailable: { "reason": "503 on attempt 6" }',
          failedAt: 31_000
        }
      ])
      yield* TestClock.adjust(60_000)
      expect(attemptsMs).toHaveLength(6) // gone from the queue for good
      yield* Fiber.interrupt(drainer)
    }).pipe(Effect.provide(stores))
  )

  it.effect("done removes the entry; retry reschedules it", () =>
    Effect.gen(function* () {
      yield* RetryDrainer.enqueue("ord_done")
      yield* RetryDrainer.enqueue("ord_again")
      yield* TestClock.adjust(1_000)
      const report = yield* RetryDrainer.drainOnce((orderId) =>
        Effect.succeed(orderId === "ord_done" ? "done" : "retry")
      )
      expect(report).toEqual({ done: 1, retried: 1, deadLettered: 0, deferred: 0 })
      expect(yield* entryOf("ord_done")).toBeUndefined()
      expect(yield* entryOf("ord_again")).toEqual({
        orderId: "ord_again",
        attempt: 1,
        nextAttemptAt: 3_000,
        lastError: "retry requested"
      })
    }).pipe(Effect.provide(stores))
  )

  it.effect("an open breaker stops the drain and hands its entries back without using up attempts", () =>
    Effect.gen(function* () {
      for (const id of ["ord_a", "ord_b", "ord_c"]) yield* RetryDrainer.enqueue(id)
      yield* TestClock.adjust(1_000)
      let calls = 0
      const refuse = () =>
        Effect.suspend(() => {
          calls++
          return Effect.fail(new CallNotPermitted({ breaker: "payment", state: "open" }))
        })
      const report = yield* RetryDrainer.drainOnce(refuse, { ...RetryDrainer.defaults, concurrency: 1 })
      // Claimed one at a time: the first refusal stops the drain before the others are claimed.
      expect(report).toEqual({ done: 0, retried: 0, deadLettered: 0, deferred: 1 })
      expect(calls).toBe(1)
      for (const id of ["ord_a", "ord_b", "ord_c"]) {
        expect(yield* entryOf(id)).toEqual({ orderId: id, attempt: 0, nextAttemptAt: 1_000 })
        // Handed back, not held: the next poll may take it at once.
        expect(yield* claimedUntilOf(id)).toBeUndefined()
      }
      // Two at a time: the whole round is handed back (the breaker is not asked twice).
      const wider = yield* RetryDrainer.drainOnce(refuse, { ...RetryDrainer.defaults, concurrency: 2 })
      expect(wider).toEqual({ done: 0, retried: 0, deadLettered: 0, deferred: 2 })
      expect(calls).toBe(2)
      for (const id of ["ord_a", "ord_b"]) expect(yield* claimedUntilOf(id)).toBeUndefined()
    }).pipe(Effect.provide(stores))
  )

  it.effect("a defect in process is a failed attempt, not the end of the drainer", () =>
    Effect.gen(function* () {
      yield* RetryDrainer.enqueue("ord_bug")
      yield* RetryDrainer.enqueue("ord_ok")
      yield* TestClock.adjust(1_000)
      const report = yield* RetryDrainer.drainOnce((orderId) =>
        orderId === "ord_bug" ? Effect.die(new Error("null pointer")) : Effect.succeed("done" as const)
      )
      expect(report).toEqual({ done: 1, retried: 1, deadLettered: 0, deferred: 0 })
      expect((yield* entryOf("ord_bug"))?.lastError).toContain("null pointer")
    }).pipe(Effect.provide(stores))
  )

  it.effect("takes at most batchSize entries per drain, earliest first", () =>
    Effect.gen(function* () {
      for (let i = 0; i < 5; i++) {
        yield* RetryDrainer.enqueue(`ord_${i}`)
        yield* TestClock.adjust(10)
      }
      yield* TestClock.adjust(1_000)
      const seen: Array<string> = []
      const report = yield* RetryDrainer.drainOnce(
        (orderId) => Effect.sync(() => seen.push(orderId)).pipe(Effect.as("done" as const)),
        { ...RetryDrainer.defaults, batchSize: 3, concurrency: 1 }
      )
      expect(report.done).toBe(3)
      expect(seen).toEqual(["ord_0", "ord_1", "ord_2"])
      expect(yield* Effect.flatMap(PaymentRetryQueue, (q) => q.size)).toBe(2)
    }).pipe(Effect.provide(stores))
  )

  it.effect("enqueue is keyed by order id and reports the queue depth as a gauge", () =>
    Effect.gen(function* () {
      expect(yield* RetryDrainer.enqueue("ord_1", { lastError: "GatewayUnavailable: 503" })).toBe("enqueued")
      yield* TestClock.adjust(500)
      expect(yield* RetryDrainer.enqueue("ord_1")).toBe("alreadyQueued")
      expect(yield* entryOf("ord_1")).toEqual({
        orderId: "ord_1",
        attempt: 0,
        nextAttemptAt: 1_000,
        lastError: "GatewayUnavailable: 503"
      })
      yield* RetryDrainer.enqueue("ord_2")
      yield* RetryDrainer.drainOnce(() => Effect.succeed("done" as const))
      expect((yield* Metric.value(RetryDrainer.queueDepth)).value).toBe(2)
      yield* TestClock.adjust(1_000)
      yield* RetryDrainer.drainOnce(() => Effect.succeed("done" as const))
      expect((yield* Metric.value(RetryDrainer.queueDepth)).value).toBe(0)
    }).pipe(Effect.provide(stores))
  )

  it("the default claim lease outlasts one entry's work and `concurrency` payment worst cases", () => {
    expect(RetryDrainer.entryWorstCaseMs).toBe(121_200)
    const { claimLeaseMs, concurrency } = RetryDrainer.defaults
    expect(claimLeaseMs).toBeGreaterThan(RetryDrainer.entryWorstCaseMs)
    expect(claimLeaseMs).toBeGreaterThan(concurrency * Policy.worstCaseMs(Policy.defaults.payment))
  })

  it.effect("two drainers on one queue never process the same entry", () =>
    Effect.gen(function* () {
      for (let i = 0; i < 12; i++) yield* RetryDrainer.enqueue(`ord_${String(i).padStart(2, "0")}`)
      yield* TestClock.adjust(1_000)
      const seen: Array<string> = []
      // Each process takes a second of (virtual) time, so the two drains interleave.
      const process = (orderId: string) =>
        Effect.sync(() => seen.push(orderId)).pipe(
          Effect.andThen(Effect.sleep(1_000)),
          Effect.as("done" as const)
        )
      const both = yield* Effect.forkChild(
        Effect.all([RetryDrainer.drainOnce(process), RetryDrainer.drainOnce(process)], { concurrency: 2 })
      )
      yield* TestClock.adjust(10_000)
      const [a, b] = yield* Fiber.join(both)
      expect(a.done + b.done).toBe(12)
      expect(a.done).toBeGreaterThan(0)
      expect(b.done).toBeGreaterThan(0)
      expect([...seen].sort()).toEqual(
        Array.from({ length: 12 }, (_, i) => `ord_${String(i).padStart(2, "0")}`)
      )
      expect(yield* Effect.flatMap(PaymentRetryQueue, (q) => q.size)).toBe(0)
    }).pipe(Effect.provide(stores))
  )

  it.effect("an order queued again while being processed is not removed: it is processed again", () =>
    Effect.gen(function* () {
      yield* RetryDrainer.enqueue("ord_late")
      yield* TestClock.adjust(1_000)
      let calls = 0
      // What a late charge's refund does: the order is queued again from inside its own processing.
      const process = (orderId: string) =>
        Effect.suspend(() => {
          calls++
          return calls === 1
            ? Effect.as(RetryDrainer.enqueue(orderId), "done" as const)
            : Effect.succeed("done" as const)
        })
      const first = yield* RetryDrainer.drainOnce(process)
      expect(first.done).toBe(1)
      expect(yield* entryOf("ord_late")).toEqual({ orderId: "ord_late", attempt: 0, nextAttemptAt: 1_000 })
      const second = yield* RetryDrainer.drainOnce(process)
      expect(second.done).toBe(1)
      expect(calls).toBe(2)
      expect(yield* entryOf("ord_late")).toBeUndefined()
    }).pipe(Effect.provide(stores))
  )

  it.effect(
    "a drainer that died holding a claim leaves the entry to the next drainer once its lease ends",
    () =>
      Effect.gen(function* () {
        yield* RetryDrainer.enqueue("ord_orphan")
        yield* TestClock.adjust(1_000)
        const leased = { ...RetryDrainer.defaults, claimLeaseMs: 60_000 }
        // This drainer hangs in process and is interrupted (its process crashed): the claim stays.
        const hung = yield* Effect.forkChild(RetryDrainer.drainOnce(() => Effect.never, leased))
        yield* TestClock.adjust(1)
        yield* Fiber.interrupt(hung)
        expect(yield* claimedUntilOf("ord_orphan")).toBe(61_000)
        const seen: Array<string> = []
        const process = (orderId: string) =>
          Effect.sync(() => seen.push(orderId)).pipe(Effect.as("done" as const))
        yield* TestClock.adjust(59_998)
        expect((yield* RetryDrainer.drainOnce(process, leased)).done).toBe(0)
        yield* TestClock.adjust(1)
        expect((yield* RetryDrainer.drainOnce(process, leased)).done).toBe(1)
        expect(seen).toEqual(["ord_orphan"])
      }).pipe(Effect.provide(stores))
  )

  it("describes errors by tag and message, bounded", () => {
    expect(RetryDrainer.describe(new GatewayUnavailable({ reason: "503" }))).toBe(
      'GatewayUnavailable: { "reason": "503" }'
    )
    expect(RetryDrainer.describe(new CallNotPermitted({ breaker: "payment", state: "open" }))).toBe(
      "CallNotPermitted: circuit breaker payment is open; call not permitted"
    )
    expect(RetryDrainer.describe("x".repeat(5_000))).toHaveLength(1_000)
  })
})
