/**
 * Review bug 8: every store call has a timeout (the `store` policy), a timeout answers a transient
 * `StoreUnavailable` (the idempotency key is abandoned, so a retry takes over), and only calls
 * that are safe to repeat are retried: nothing is written twice.
 */
import { describe, expect, it } from "@effect/vitest"
import { CartStore, Carts, Policy, RateLimitStore, Sku } from "@till/core"
import {
  FakePaymentGateway,
  InMemoryCartStore,
  InMemoryIdempotencyStore,
  InMemoryRateLimitStore,
  TestTill
} from "@till/testkit"
import { Effect, Exit, Layer } from "effect"
import { TestClock } from "effect/testing"
import { cartWith, place } from "./fixtures.js"

/** Switches a store between answering and hanging (before or after it has written). */
interface Switch {
  hang: "no" | "before" | "after"
  calls: number
}

const hangs = <A, E>(sw: Switch, call: Effect.Effect<A, E>): Effect.Effect<A, E> =>
  Effect.suspend(() => {
    sw.calls++
    if (sw.hang === "before") return Effect.never
    if (sw.hang === "after") return Effect.andThen(call, Effect.never)
    return call
  })

const store = Policy.defaults.store
const onceMs = store.timeoutMs
const retriedMs = Policy.worstCaseMs(store)

/** Forks `effect`, lets `ms` of virtual time pass, and answers its exit (it must be done by then). */
const within = <A, E, R>(ms: number, effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function* () {
    const fiber = yield* Effect.forkChild(effect)
    yield* TestClock.adjust(ms)
    const exit = fiber.pollUnsafe()
    expect(exit, `still running after ${ms} ms`).toBeDefined()
    return exit!
  })

const failureTag = (exit: Exit.Exit<unknown, unknown>) =>
  Exit.isFailure(exit)
    ? exit.cause.reasons.map((r) => (r._tag === "Fail" ? (r.error as { _tag: string })._tag : r._tag))
    : []

describe("store timeouts (the `store` policy)", () => {
  it.effect(
    "a hung cart store: the checkout answers StoreUnavailable within the policy, and the same key then completes once",
    () => {
      const sw: Switch = { hang: "no", calls: 0 }
      const cartStore = Layer.effect(
        CartStore.CartStore,
        Effect.map(InMemoryCartStore.make(), (s) => ({ ...s, get: (id: string) => hangs(sw, s.get(id)) }))
      )
      return Effect.gen(function* () {
        yield* TestTill.stock("mug", "Mug", 1_500, 5)
        const { cartId, paymentMethodId } = yield* cartWith("alice", [["mug", 1]])
        sw.hang = "before"
        sw.calls = 0
        const exit = yield* within(retriedMs, place("alice", "k1", cartId, paymentMethodId))
        expect(failureTag(exit)).toEqual(["StoreUnavailable"])
        // A read is retried: three attempts.
        expect(sw.calls).toBe(store.retries + 1)
        sw.hang = "no"
        // The lease was abandoned (transient), so the same key takes over at once.
        const placed = yield* place("alice", "k1", cartId, paymentMethodId)
        expect(placed.status).toBe(201)
        const money = yield* FakePaymentGateway.Inspector
        expect((yield* money.allCharges).length).toBe(1)
      }).pipe(Effect.provide(TestTill.layer({ seed: 8, cartStore })))
    }
  )

  it.effect("a cart write that lands and hangs is sent once: the item is added once", () => {
    const sw: Switch = { hang: "no", calls: 0 }
    const cartStore = Layer.effect(
      CartStore.CartStore,
      Effect.map(InMemoryCartStore.make(), (s) => ({
        ...s,
        update: (next: Parameters<typeof s.update>[0], expected: number, ttlMs: number) =>
          hangs(sw, s.update(next, expected, ttlMs))
      }))
    )
    return Effect.gen(function* () {
      yield* TestTill.stock("mug", "Mug", 1_500, 5)
      const carts = yield* Carts.Carts
      const cart = yield* carts.create("alice")
      sw.hang = "after"
      sw.calls = 0
      const exit = yield* within(onceMs, carts.addItem("alice", cart.cart_id, Sku.make("mug"), 2))
      expect(failureTag(exit)).toEqual(["StoreUnavailable"])
      expect(sw.calls).toBe(1)
      sw.hang = "no"
      expect((yield* carts.get("alice", cart.cart_id)).items.map((i) => i.quantity)).toEqual([2])
    }).pipe(Effect.provide(TestTill.layer({ seed: 8, cartStore })))
  })

  it.effect("a rate-limit acquire that counts and hangs is sent once (a retry would count twice)", () => {
    const sw: Switch = { hang: "no", calls: 0 }
    const rateLimitStore = Layer.effect(
      RateLimitStore.RateLimitStore,
      Effect.map(InMemoryRateLimitStore.make(), (s) => ({
        acquire: (request: Parameters<typeof s.acquire>[0]) => hangs(sw, s.acquire(request))
      }))
    )
    return Effect.gen(function* () {
      yield* TestTill.stock("mug", "Mug", 1_500, 5)
      const { cartId, paymentMethodId } = yield* cartWith("alice", [["mug", 1]])
      sw.hang = "after"
      sw.calls = 0
      const exit = yield* within(onceMs, place("alice", "k1", cartId, paymentMethodId))
      expect(failureTag(exit)).toEqual(["StoreUnavailable"])
      expect(sw.calls).toBe(1)
    }).pipe(Effect.provide(TestTill.layer({ seed: 8, rateLimitStore })))
  })

  it.effect("a hung idempotency claim answers StoreUnavailable within one timeout", () => {
    const sw: Switch = { hang: "no", calls: 0 }
    const idempotencyStore = InMemoryIdempotencyStore.layerFrom(
      Effect.map(InMemoryIdempotencyStore.make(), (s) => ({
        ...s,
        claim: (request: Parameters<typeof s.claim>[0]) => hangs(sw, s.claim(request))
      }))
    )
    return Effect.gen(function* () {
      yield* TestTill.stock("mug", "Mug", 1_500, 5)
      const { cartId, paymentMethodId } = yield* cartWith("alice", [["mug", 1]])
      sw.hang = "before"
      sw.calls = 0
      const exit = yield* within(onceMs, place("alice", "k1", cartId, paymentMethodId))
      expect(failureTag(exit)).toEqual(["StoreUnavailable"])
      expect(sw.calls).toBe(1)
    }).pipe(Effect.provide(TestTill.layer({ seed: 8, idempotencyStore })))
  })
})
