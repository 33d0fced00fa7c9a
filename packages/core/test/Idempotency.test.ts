import { describe, expect, it } from "@effect/vitest"
import { InMemoryIdempotencyStore } from "@till/testkit"
import { Effect, Exit, Fiber, Layer, Schema } from "effect"
import { TestClock } from "effect/testing"
import { GatewayUnavailable, PaymentDeclined } from "../src/Errors.js"
import * as Idempotency from "../src/Idempotency.js"
import * as Ids from "../src/Ids.js"
import * as Policy from "../src/Policy.js"
import * as Resilience from "../src/Resilience.js"

const leaseMs = 1_000

const world = Idempotency.layerWith({ ttlMs: 60_000, leaseMs }).pipe(
  Layer.provide(Layer.mergeAll(InMemoryIdempotencyStore.layer, Ids.layerSeeded(1), Resilience.layer))
)

const options: Idempotency.RunOptions<string, string, PaymentDeclined, unknown> = {
  scope: "alice",
  key: "k1",
  request: { cart: "c1" },
  resourcePrefix: "ord",
  success: Schema.String,
  failure: PaymentDeclined as unknown as Schema.Codec<PaymentDeclined, unknown>
}

/** A run of `options` whose work takes `workMs`, then answers `answer`, noting its resource id. */
const runTaking = <E>(workMs: number, answer: Effect.Effect<string, E>, seen: Array<string>) =>
  Effect.flatMap(Idempotency.Idempotency, (idempotency) =>
    idempotency.run(options, (resourceId) =>
      Effect.sync(() => seen.push(resourceId)).pipe(
        Effect.andThen(Effect.sleep(workMs)),
        Effect.andThen(answer)
      )
    )
  )

describe("Idempotency", () => {
  it("the default lease outlasts a checkout's guarded calls under the default policies", () => {
    const p = Policy.defaults
    const checkoutWorstCaseMs =
      Policy.worstCaseMs(p.shipping) +
      4 * Policy.worstCaseMs(p.inventory) +
      Policy.worstCaseMs(p.orderCreation) +
      2 * Policy.worstCaseMs(p.payment)
    expect(checkoutWorstCaseMs).toBe(134_900)
    expect(Idempotency.defaults.leaseMs).toBeGreaterThan(checkoutWorstCaseMs)
  })

  it.effect("a holder taken over cannot end the new holder's lease, and still answers its own outcome", () =>
    Effect.gen(function* () {
      const seen: Array<string> = []
      // A: slow, then fails transiently (which abandons its lease, with its own token).
      const a = yield* Effect.forkChild(
        runTaking(leaseMs + 500, Effect.fail(new GatewayUnavailable({ reason: "503" })), seen)
      )
      yield* TestClock.adjust(leaseMs)
      // B: A's lease ran out, so B takes over (same resource id) and works for 2 s.
      const b = yield* Effect.forkChild(runTaking(2_000, Effect.succeed("B"), seen))
      yield* TestClock.adjust(500)
      const aExit = yield* Fiber.await(a)
      expect(Exit.isFailure(aExit)).toBe(true)
      // A's abandon was stale: B still holds the key.
      const c = yield* Effect.flip(runTaking(0, Effect.succeed("C"), seen))
      expect(c._tag).toBe("RequestInFlight")
      yield* TestClock.adjust(1_500)
      expect(yield* Fiber.join(b)).toBe("B")
      expect(yield* runTaking(0, Effect.succeed("D"), seen)).toBe("B")
      expect(seen).toHaveLength(2)
      expect(seen[1]).toBe(seen[0])
    }).pipe(Effect.provide(world))
  )

  it.effect("a holder taken over answers its own outcome without storing it over the new holder's", () =>
    Effect.gen(function* () {
      const seen: Array<string> = []
      const a = yield* Effect.forkChild(runTaking(leaseMs + 500, Effect.succeed("A"), seen))
      yield* TestClock.adjust(leaseMs)
      const b = yield* Effect.forkChild(runTaking(2_000, Effect.succeed("B"), seen))
      yield* TestClock.adjust(500)
      // A completes late: its complete is stale, but A's caller gets A's own answer.
      expect(yield* Fiber.join(a)).toBe("A")
      // B is still in flight: A's answer did not end it.
      expect((yield* Effect.flip(runTaking(0, Effect.succeed("C"), seen)))._tag).toBe("RequestInFlight")
      yield* TestClock.adjust(1_500)
      expect(yield* Fiber.join(b)).toBe("B")
      expect(yield* runTaking(0, Effect.succeed("D"), seen)).toBe("B")
    }).pipe(Effect.provide(world))
  )
})
