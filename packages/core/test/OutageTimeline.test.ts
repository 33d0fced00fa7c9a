/**
 * The seed's outage timeline, at the level of the resilience parts (the full-saga version lives
 * with the checkout): the payment gateway answers 503 from T+0 to T+30 s while a checkout arrives
 * every second. The payment breaker must open, checkouts must answer "payment queued" instead of
 * waiting on a dead gateway, the breaker must go half-open after its 60 s and close once the
 * gateway answers, the retry queue must drain, and in the end every order is confirmed and charged
 * exactly once, while carts kept working throughout.
 */
import { describe, expect, it } from "@effect/vitest"
import { InMemoryDeadLetterStore, InMemoryPaymentRetryQueue } from "@till/testkit"
import { Clock, Effect, Fiber, Layer, PubSub } from "effect"
import { TestClock } from "effect/testing"
import { DeadLetterStore } from "../src/DeadLetterStore.js"
import { GatewayUnavailable } from "../src/Errors.js"
import { PaymentRetryQueue } from "../src/PaymentRetryQueue.js"
import * as Resilience from "../src/Resilience.js"
import * as RetryDrainer from "../src/RetryDrainer.js"

const outageEndsAtMs = 30_000
const checkoutsUntilMs = 120_000
const gatewayLatencyMs = 100

/** A gateway that is down until `outageEndsAtMs`; it counts captures per order id. */
const makeGateway = () => {
  const captures = new Map<string, number>()
  const callTimesMs: Array<number> = []
  const answer = <A>(f: () => A) =>
    Effect.flatMap(Clock.currentTimeMillis, (nowMs) => {
      callTimesMs.push(nowMs)
      return Effect.delay(
        nowMs < outageEndsAtMs
          ? Effect.fail(new GatewayUnavailable({ reason: "503 Service Unavailable" }))
          : Effect.sync(f),
        gatewayLatencyMs
      )
    })
  return {
    captures,
    callTimesMs,
    /** Charges the order: a real capture each time it is called, so a second call would show. */
    charge: (orderId: string) => answer(() => captures.set(orderId, (captures.get(orderId) ?? 0) + 1)),
    /** Looks the charge up by idempotency key (the order id). */
    retrieve: (orderId: string) => answer(() => captures.has(orderId))
  }
}

describe("Outage timeline", () => {
  it.effect(
    "gateway 503 for 30 s: breaker opens, payments queue, breaker recovers, queue drains, all confirmed once",
    () =>
      Effect.gen(function* () {
        const resilience = yield* Resilience.Resilience
        const breaker = resilience.breaker("payment")
        const transitions = yield* breaker.subscribe
        const gateway = makeGateway()
        const orders = new Map<string, "pending" | "payment_pending" | "confirmed">()
        const answers: Array<{ readonly atMs: number; readonly answer: "confirmed" | "payment queued" }> = []
        let cartOperations = 0

        const checkout = (i: number) =>
          Effect.gen(function* () {
            // Carts do not touch the gateway: they keep working through the outage.
            cartOperations++
            const orderId = `ord_${String(i).padStart(3, "0")}`
            orders.set(orderId, "pending")
            const startedMs = yield* Clock.currentTimeMillis
            const answer = yield* resilience.withPolicy(
              "payment",
              Effect.as(gateway.charge(orderId), "confirmed" as const),
              { fallback: () => Effect.as(RetryDrainer.enqueue(orderId), "payment queued" as const) }
            )
            orders.set(orderId, answer === "confirmed" ? "confirmed" : "payment_pending")
            answers.push({ atMs: startedMs, answer })
          })

        // The drainer re-asks the gateway by idempotency key before charging: never twice.
        const process = (orderId: string) =>
          Effect.gen(function* () {
            const charged = yield* resilience.withPolicy("payment", gateway.retrieve(orderId))
            if (!charged) yield* resilience.withPolicy("payment", gateway.charge(orderId))
            orders.set(orderId, "confirmed")
            return "done" as const
          })
        const drainer = yield* Effect.forkChild(RetryDrainer.run(process))

        const checkouts: Array<Fiber.Fiber<void, unknown>> = []
        for (let i = 0; i * 1_000 < checkoutsUntilMs; i++) {
          checkouts.push(yield* Effect.forkChild(checkout(i)))
          yield* TestClock.adjust(1_000)
        }
        // No new checkouts: let the queue drain.
        yield* TestClock.adjust(120_000)
        for (const fiber of checkouts) yield* Fiber.join(fiber)
        yield* Fiber.interrupt(drainer)

        // The breaker opened during the outage, waited 60 s, probed, and closed.
        const seen = yield* PubSub.takeUpTo(transitions, Number.POSITIVE_INFINITY)
        const path = [...seen].map((t) => `${t.from}->${t.to}`)
        expect(path).toEqual(["closed->open", "open->halfOpen", "halfOpen->closed"])
        const [opened, halfOpened, closed] = [...seen]
        expect(opened!.atMs).toBeLessThan(outageEndsAtMs)
        expect(halfOpened!.atMs).toBeGreaterThanOrEqual(opened!.atMs + 60_000)
        expect(closed!.atMs).toBeLessThan(halfOpened!.atMs + 5_000)
        expect(yield* breaker.state).toBe("closed")

        // While open, nothing reached the gateway.
        expect(gateway.callTimesMs.filter((t) => t > opened!.atMs && t < halfOpened!.atMs)).toEqual([])

        // Checkouts answered "payment queued" at once while the breaker was open, "confirmed" after.
        const during = answers.filter((a) => a.atMs > opened!.atMs && a.atMs < halfOpened!.atMs)
        expect(during.length).toBeGreaterThan(0)
        expect(during.every((a) => a.answer === "payment queued")).toBe(true)
        const after = answers.filter((a) => a.atMs > closed!.atMs)
        expect(after.length).toBeGreaterThan(0)
        expect(after.every((a) => a.answer === "confirmed")).toBe(true)

        // The queue drained; nothing was given up on.
        expect(yield* Effect.flatMap(PaymentRetryQueue, (q) => q.size)).toBe(0)
        expect(yield* Effect.flatMap(DeadLetterStore, (s) => s.list(1_000))).toEqual([])

        // Every order confirmed, each charged exactly once; carts worked for every checkout.
        expect(orders.size).toBe(checkoutsUntilMs / 1_000)
        expect([...orders.values()].every((status) => status === "confirmed")).toBe(true)
        expect([...orders.keys()].every((orderId) => gateway.captures.get(orderId) === 1)).toBe(true)
        expect(cartOperations).toBe(orders.size)
      }).pipe(
        Effect.provide(
          Layer.mergeAll(Resilience.layer, InMemoryPaymentRetryQueue.layer, InMemoryDeadLetterStore.layer)
        )
      )
  )
})
