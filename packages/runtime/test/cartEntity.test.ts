/**
 * The cart entity (src/CartEntity.ts) on carts in the real Redis, in a one-process cluster
 * (`TestRunner`): 64 concurrent edits of one cart all land, where the store's compare-and-set
 * alone gives up on most of them; a full mailbox answers `StoreUnavailable` (503) and applies
 * nothing twice.
 */
import { it } from "@effect/vitest"
import { Carts, type Errors, Sku } from "@till/core"
import { TestTill } from "@till/testkit"
import { Effect, Layer } from "effect"
import { Sharding, TestRunner } from "effect/cluster"
import { expect } from "vitest"
import { cartStore } from "../../adapters/test/support/redis.js"
import * as CartEntity from "../src/CartEntity.js"
import { describeServices } from "./support/services.js"

/** The in-memory Till on Redis carts (a seed of its own: ids are per seed, keys per file run). */
const world = (
  seed: number,
  entity: Layer.Layer<Carts.Carts, never, Carts.Carts | Sharding.Sharding> | null
) => {
  const till = TestTill.layer({ seed, cartStore: Layer.orDie(cartStore()) })
  return entity === null ? till : entity.pipe(Layer.provideMerge(TestRunner.layer), Layer.provideMerge(till))
}

/** 64 concurrent add-one edits of one fresh cart: the failures, and the cart's final quantity. */
const hotCart = Effect.gen(function* () {
  yield* TestTill.stock("mug", "Mug", 1_500, 1_000)
  const carts = yield* Carts.Carts
  const cart = yield* carts.create("alice")
  const results = yield* Effect.forEach(
    Array.from({ length: 64 }),
    () => Effect.result(carts.addItem("alice", cart.cart_id, Sku.make("mug"), 1)),
    { concurrency: "unbounded" }
  )
  const failures = results.flatMap((r) =>
    r._tag === "Failure" ? [r.failure as Errors.StoreUnavailable] : []
  )
  const final = yield* carts.get("alice", cart.cart_id)
  return { failures, quantity: final.items[0]?.quantity ?? 0 }
})

await describeServices(["redis"], "the cart entity on Redis", () => {
  it.live("64 concurrent edits of one cart through the entity: every one lands, once", () =>
    Effect.gen(function* () {
      const { failures, quantity } = yield* hotCart
      expect(failures).toEqual([])
      expect(quantity).toBe(64)
    }).pipe(Effect.provide(world(1, CartEntity.layer())))
  )

  it.live(
    "the same edits on the store alone: the compare-and-set gives up on some (what the entity is for)",
    () =>
      Effect.gen(function* () {
        const { failures, quantity } = yield* hotCart
        expect(failures.length).toBeGreaterThan(0)
        expect(
          failures.every((f) => f._tag === "StoreUnavailable" && f.reason.includes("kept changing"))
        ).toBe(true)
        expect(quantity).toBe(64 - failures.length)
      }).pipe(Effect.provide(world(2, null)))
  )

  it.live("a full mailbox answers StoreUnavailable (a 503) and applies nothing twice", () =>
    Effect.gen(function* () {
      const { failures, quantity } = yield* hotCart
      expect(failures.length).toBeGreaterThan(0)
      for (const f of failures) {
        expect(f._tag).toBe("StoreUnavailable")
        expect(f.reason).toContain("too many edits waiting")
      }
      expect(quantity).toBe(64 - failures.length)
    }).pipe(Effect.provide(world(3, CartEntity.layer({ ...CartEntity.defaults, mailboxCapacity: 4 }))))
  )

  it.live("an edit of an id Till never mints answers CartNotFound without waking an entity", () =>
    Effect.gen(function* () {
      const carts = yield* Carts.Carts
      const sharding = yield* Sharding.Sharding
      const before = yield* sharding.activeEntityCount
      for (const id of ["x".repeat(5_000), "../../etc", "cart_NOT0MINTED0BY0TILL00", "cart_\u0000"]) {
        const error = yield* Effect.flip(carts.addItem("alice", id, Sku.make("mug"), 1))
        expect(error._tag).toBe("CartNotFound")
      }
      expect(yield* sharding.activeEntityCount).toBe(before)
      // A real cart's edit does wake one: the guard is what kept the others out.
      yield* TestTill.stock("mug", "Mug", 1_500, 10)
      const cart = yield* carts.create("alice")
      yield* carts.addItem("alice", cart.cart_id, Sku.make("mug"), 1)
      expect((yield* sharding.activeEntityCount) - before).toBe(1)
    }).pipe(
      Effect.provide(
        CartEntity.layer().pipe(
          Layer.provideMerge(TestRunner.layer),
          Layer.provideMerge(TestTill.layer({ seed: 4, cartStore: Layer.orDie(cartStore()) }))
        )
      )
    )
  )
})
