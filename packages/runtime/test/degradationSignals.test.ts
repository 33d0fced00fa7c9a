/**
 * What moves `till start`'s degradation level by itself (src/DegradationSignals.ts): an open
 * breaker sheds features, for at most its wait in the open state, so the calls that probe it can
 * come again (the Postgres pool's saturation is tested in ports.test.ts).
 */
import { describe, expect, it } from "@effect/vitest"
import { type CircuitBreaker, Degradation, Errors, Resilience } from "@till/core"
import { Effect, Layer } from "effect"
import { TestClock } from "effect/testing"
import * as DegradationSignals from "../src/DegradationSignals.js"

const signalled = DegradationSignals.layer.pipe(
  Layer.provideMerge(Layer.merge(Degradation.layer, Resilience.layer))
)

const level = Effect.flatMap(Degradation.Degradation, (d) => d.level)

const down = new Errors.GatewayUnavailable({ reason: "test: down" })

/** Fails calls through `breaker` until it is open. */
const openBreaker = (breaker: CircuitBreaker.Service) =>
  Effect.gen(function* () {
    for (let i = 0; i < 200 && (yield* breaker.state) !== "open"; i++)
      yield* Effect.ignore(breaker.execute(Effect.fail(down)))
    expect(yield* breaker.state).toBe("open")
    yield* TestClock.adjust(1) // the feed's fiber takes the transition
  })

describe("the runtime's degradation signals", () => {
  it.effect(
    "the payment breaker opening sheds order history and recommendations; closing restores them",
    () =>
      Effect.gen(function* () {
        expect(yield* level).toBe(0)
        const breaker = (yield* Resilience.Resilience).breaker("payment")
        yield* openBreaker(breaker)
        expect(yield* level).toBe(2)
        const degradation = yield* Degradation.Degradation
        expect(yield* degradation.isShed("orderHistory")).toBe(true)
        expect(yield* degradation.isShed("newOrders")).toBe(false)
        yield* breaker.reset
        yield* TestClock.adjust(1)
        expect(yield* level).toBe(0)
      }).pipe(Effect.provide(signalled))
  )

  it.effect(
    "order creation's breaker refuses new orders for its wait only; then calls come back to probe it",
    () =>
      Effect.gen(function* () {
        const resilience = yield* Resilience.Resilience
        const breaker = resilience.breaker("orderCreation")
        const waitMs = resilience.policies.orderCreation.breaker!.waitDurationInOpenStateMs
        yield* openBreaker(breaker)
        const degradation = yield* Degradation.Degradation
        expect(yield* degradation.isShed("newOrders")).toBe(true)
        yield* TestClock.adjust(waitMs - 2)
        expect(yield* level).toBe(4)
        // No call has reached the breaker (they were shed): it is still open, yet the level lifts,
        // or it would never see the call that half-opens it.
        yield* TestClock.adjust(1)
        expect(yield* breaker.state).toBe("open")
        expect(yield* level).toBe(0)
        // The probes fail: open again, shed again, for another wait.
        yield* Effect.ignore(breaker.execute(Effect.fail(down))) // the first call half-opens it
        expect(yield* breaker.state).toBe("halfOpen")
        yield* TestClock.adjust(1)
        expect(yield* level).toBe(0) // half-open: the probes must get through
        yield* openBreaker(breaker)
        expect(yield* level).toBe(4)
        yield* TestClock.adjust(waitMs)
        expect(yield* level).toBe(0)
        // The probes succeed: closed, nothing shed.
        for (let i = 0; i < 50 && (yield* breaker.state) !== "closed"; i++)
          yield* breaker.execute(Effect.void)
        expect(yield* breaker.state).toBe("closed")
        yield* TestClock.adjust(waitMs)
        expect(yield* level).toBe(0)
      }).pipe(Effect.provide(signalled))
  )
})
