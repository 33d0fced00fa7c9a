/**
 * What moves `till start`'s degradation level by itself (src/DegradationSignals.ts): an open
 * breaker sheds features, a closed one restores them; so does the Postgres pool's saturation.
 */
import { describe, expect, it } from "@effect/vitest"
import { Degradation, Errors, Resilience } from "@till/core"
import { Effect, Layer } from "effect"
import { TestClock } from "effect/testing"
import * as DegradationSignals from "../src/DegradationSignals.js"

const signalled = DegradationSignals.layer.pipe(
  Layer.provideMerge(Layer.merge(Degradation.layer, Resilience.layer))
)

const level = Effect.flatMap(Degradation.Degradation, (d) => d.level)

describe("the runtime's degradation signals", () => {
  it.effect(
    "the payment breaker opening sheds order history and recommendations; closing restores them",
    () =>
      Effect.gen(function* () {
        expect(yield* level).toBe(0)
        const breaker = (yield* Resilience.Resilience).breaker("payment")
        const down = new Errors.GatewayUnavailable({ reason: "test: gateway down" })
        for (let i = 0; i < 100 && (yield* breaker.state) === "closed"; i++)
          yield* Effect.ignore(breaker.execute(Effect.fail(down)))
        expect(yield* breaker.state).toBe("open")
        yield* TestClock.adjust(1) // the feed's fiber takes the transition
        expect(yield* level).toBe(2)
        const degradation = yield* Degradation.Degradation
        expect(yield* degradation.isShed("orderHistory")).toBe(true)
        expect(yield* degradation.isShed("newOrders")).toBe(false)
        yield* breaker.reset
        yield* TestClock.adjust(1)
        expect(yield* level).toBe(0)
      }).pipe(Effect.provide(signalled))
  )
})
