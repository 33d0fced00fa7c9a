/**
 * What a checkout asks the order store, counted by a spy around the in-memory one (each call is a
 * database round trip on Postgres): a fresh checkout creates its order and confirms it, and reads
 * it neither before (its id was minted by its own idempotency claim) nor between (the created order
 * is the one the confirmation's compare-and-set starts from). A run that takes over a key whose
 * first run stopped still reads the order that run made (CheckoutIdempotency.test.ts).
 */
import { describe, expect, it } from "@effect/vitest"
import { OrderStore } from "@till/core"
import { Context, Effect, Layer } from "effect"
import { InMemoryOrderStore, TestTill } from "@till/testkit"
import { cartWith, place } from "./fixtures.js"

const calls: Array<string> = []

/** The in-memory order store, each call's name recorded. */
const spied = Layer.effectContext(
  Effect.gen(function* () {
    const context = yield* Layer.build(InMemoryOrderStore.layer)
    const store = Context.get(context, OrderStore.OrderStore)
    const recorded = Object.fromEntries(
      Object.entries(store).map(([name, method]) => [
        name,
        (...args: ReadonlyArray<unknown>) => {
          calls.push(name)
          return (method as (...a: ReadonlyArray<unknown>) => unknown)(...args)
        }
      ])
    ) as unknown as OrderStore.OrderStore["Service"]
    return Context.add(context, OrderStore.OrderStore, recorded)
  })
)

describe("a checkout's order-store round trips", () => {
  it.effect("a fresh checkout: create, then the confirming step; no read", () =>
    Effect.gen(function* () {
      yield* TestTill.stock("mug", "Till mug", 1_500, 10)
      const { cartId, paymentMethodId } = yield* cartWith("u", [["mug", 1]])
      calls.length = 0
      const placed = yield* place("u", "k1", cartId, paymentMethodId)
      expect(placed.order.status).toBe("confirmed")
      expect(calls).toEqual(["create", "step"])
    }).pipe(Effect.provide(TestTill.layer({ seed: 41, orderStore: spied })))
  )

  it.effect("the same key again answers the stored result without touching the orders", () =>
    Effect.gen(function* () {
      yield* TestTill.stock("mug", "Till mug", 1_500, 10)
      const { cartId, paymentMethodId } = yield* cartWith("u", [["mug", 1]])
      const first = yield* place("u", "k1", cartId, paymentMethodId)
      calls.length = 0
      const again = yield* place("u", "k1", cartId, paymentMethodId)
      expect(again.order.order_id).toBe(first.order.order_id)
      expect(calls).toEqual([])
    }).pipe(Effect.provide(TestTill.layer({ seed: 42, orderStore: spied })))
  )
})
