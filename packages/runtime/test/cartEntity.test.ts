/**
 * The cart entity (src/CartEntity.ts) on carts in the real Redis, in a one-process cluster
 * (`TestRunner`): 64 concurrent edits of one cart all land, where the store's compare-and-set
 * alone gives up on most of them (an uncontended edit stays on the store); a full mailbox or the cap on live entities answers
 * `StoreUnavailable` (503) and applies nothing twice; junk ids wake no entity; and two owners of
 * one cart (two clusters, as during a rebalance) lose no edit.
 */
import { it } from "@effect/vitest"
import { Carts, type Errors, Sku } from "@till/core"
import { TestTill } from "@till/testkit"
import { Context, Effect, Layer } from "effect"
import {
  MessageStorage,
  RunnerHealth,
  Runners,
  RunnerStorage,
  Sharding,
  ShardingConfig,
  TestRunner
} from "effect/cluster"
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

/** TestRunner's one-process cluster with `config` (e.g. a cap on live entities). */
const clusterWith = (config: Partial<ShardingConfig.ShardingConfig["Service"]>) =>
  Sharding.layer.pipe(
    Layer.provideMerge(Runners.layerNoop),
    Layer.provideMerge(MessageStorage.layerMemory),
    Layer.provide([RunnerStorage.layerMemory, RunnerHealth.layerNoop]),
    Layer.provide(ShardingConfig.layer(config))
  )

/** `count` add-one edits of a mug to alice's cart `cartId`, all at once: each one's result. */
const racingAdds = (cartId: string, count: number) =>
  Effect.flatMap(Carts.Carts, (carts) =>
    Effect.forEach(
      Array.from({ length: count }),
      () => Effect.result(carts.addItem("alice", cartId, Sku.make("mug"), 1)),
      { concurrency: "unbounded" }
    )
  )

/** 64 concurrent add-one edits of one fresh cart: the failures, and the cart's final quantity. */
const hotCart = Effect.gen(function* () {
  yield* TestTill.stock("mug", "Mug", 1_500, 1_000)
  const carts = yield* Carts.Carts
  const cart = yield* carts.create("alice")
  const results = yield* racingAdds(cart.cart_id, 64)
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
        expect(f.reason).toContain("too many calls waiting")
      }
      expect(quantity).toBe(64 - failures.length)
    }).pipe(Effect.provide(world(3, CartEntity.layer({ ...CartEntity.defaults, mailboxCapacity: 4 }))))
  )

  it.live(
    "an edit of an id Till never mints answers CartNotFound without waking an entity; a lone edit wakes none either",
    () =>
      Effect.gen(function* () {
        const carts = yield* Carts.Carts
        const sharding = yield* Sharding.Sharding
        const before = yield* sharding.activeEntityCount
        for (const id of ["x".repeat(5_000), "../../etc", "cart_NOT0MINTED0BY0TILL00", "cart_\u0000"]) {
          const error = yield* Effect.flip(carts.addItem("alice", id, Sku.make("mug"), 1))
          expect(error._tag).toBe("CartNotFound")
        }
        expect(yield* sharding.activeEntityCount).toBe(before)
        // A real cart's edit alone goes to the store too (one compare-and-set round, uncontended);
        // edits racing on it do wake its entity: the guard is what kept the junk ids out.
        yield* TestTill.stock("mug", "Mug", 1_500, 10)
        const cart = yield* carts.create("alice")
        yield* carts.addItem("alice", cart.cart_id, Sku.make("mug"), 1)
        expect(yield* sharding.activeEntityCount).toBe(before)
        expect((yield* racingAdds(cart.cart_id, 8)).every((r) => r._tag === "Success")).toBe(true)
        expect((yield* sharding.activeEntityCount) - before).toBe(1)
        expect((yield* carts.get("alice", cart.cart_id)).items[0]?.quantity).toBe(9)
      }).pipe(
        Effect.provide(
          CartEntity.layer().pipe(
            Layer.provideMerge(TestRunner.layer),
            Layer.provideMerge(TestTill.layer({ seed: 4, cartStore: Layer.orDie(cartStore()) }))
          )
        )
      )
  )

  it.live(
    "past the cap on live entities, a contended edit of another cart answers StoreUnavailable (503) and applies nothing twice; the live ones still work",
    () =>
      Effect.gen(function* () {
        yield* TestTill.stock("mug", "Mug", 1_500, 100)
        const carts = yield* Carts.Carts
        // 8 adds of one unit at once: one lands on the store, the others queue in the entity.
        const racing = (cartId: string) => racingAdds(cartId, 8)
        const [a, b, c] = yield* Effect.forEach([1, 2, 3], () => carts.create("alice"))
        expect((yield* racing(a!.cart_id)).every((r) => r._tag === "Success")).toBe(true)
        expect((yield* racing(b!.cart_id)).every((r) => r._tag === "Success")).toBe(true)
        const third = yield* racing(c!.cart_id)
        const refused = third.flatMap((r) => (r._tag === "Failure" ? [r.failure] : []))
        expect(refused.length).toBeGreaterThan(0)
        for (const f of refused) expect(f._tag).toBe("StoreUnavailable")
        const landed = third.length - refused.length
        expect((yield* carts.get("alice", c!.cart_id)).items[0]?.quantity ?? 0).toBe(landed)
        expect((yield* carts.addItem("alice", a!.cart_id, Sku.make("mug"), 1)).items[0]!.quantity).toBe(9)
      }).pipe(
        Effect.provide(
          CartEntity.layer({ ...CartEntity.defaults, callTimeoutMs: 2_000 }).pipe(
            Layer.provideMerge(clusterWith({ maxResidentEntities: 2 })),
            Layer.provideMerge(TestTill.layer({ seed: 5, cartStore: Layer.orDie(cartStore()) }))
          )
        )
      )
  )

  it.live(
    "two owners of one cart (two clusters, as during a rebalance) lose no edit: the store's compare-and-set keeps them apart",
    () =>
      Effect.gen(function* () {
        const instance = (seed: number) =>
          CartEntity.layer().pipe(
            Layer.provideMerge(TestRunner.layer),
            Layer.provideMerge(TestTill.layer({ seed, cartStore: Layer.orDie(cartStore()) }))
          )
        const [one, two] = yield* Effect.all([Layer.build(instance(6)), Layer.build(instance(7))])
        const cartsOne = Context.get(one!, Carts.Carts)
        const cartsTwo = Context.get(two!, Carts.Carts)
        // Both processes' catalogs need the SKU; the cart is made through one, edited through both.
        yield* TestTill.stock("mug", "Mug", 1_500, 1_000).pipe(Effect.provideContext(one!))
        yield* TestTill.stock("mug", "Mug", 1_500, 1_000).pipe(Effect.provideContext(two!))
        const cart = yield* cartsOne.create("alice")
        const edits = Array.from({ length: 64 }, (_, i) => (i % 2 === 0 ? cartsOne : cartsTwo))
        const results = yield* Effect.forEach(
          edits,
          (carts) => Effect.result(carts.addItem("alice", cart.cart_id, Sku.make("mug"), 1)),
          { concurrency: "unbounded" }
        )
        const failures = results.filter((r) => r._tag === "Failure")
        for (const f of failures) expect(f.failure._tag).toBe("StoreUnavailable")
        const final = yield* cartsTwo.get("alice", cart.cart_id)
        // Every edit that answered is in the cart, and no other.
        expect(final.items[0]?.quantity ?? 0).toBe(64 - failures.length)
      }).pipe(Effect.scoped)
  )
})
