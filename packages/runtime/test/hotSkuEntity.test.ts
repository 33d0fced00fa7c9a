/**
 * The hot-SKU entity (src/HotSkuEntity.ts) on the real Postgres stores, in one-process clusters
 * (`TestRunner`): 64 concurrent orders of one hot SKU are created in fewer transactions than
 * orders, with exactly as many orders as units; two owners of one SKU (two clusters, as during a
 * rebalance) oversell nothing; orders of other SKUs go to the store directly. The flash sale
 * through the HTTP API is in http.flashSale.test.ts.
 */
import { it } from "@effect/vitest"
import { Errors, InventoryStore, type Order, OrderStore, Sku } from "@till/core"
import { Context, Effect, Layer, Result } from "effect"
import { TestRunner } from "effect/cluster"
import { expect } from "vitest"
import { onFreshSchema, orderAndStockStores } from "../../adapters/test/support/postgres.js"
import { newOrder } from "../../adapters/test/support/orders.js"
import * as HotSkuEntity from "../src/HotSkuEntity.js"
import { describeServices } from "./support/services.js"

/** Every `createMany` the store gets: the size of each batch (the spy is not the code under test). */
const spied = (batches: Array<number>) =>
  Layer.effect(
    OrderStore.OrderStore,
    Effect.map(OrderStore.OrderStore, (orders) =>
      OrderStore.OrderStore.of({
        ...orders,
        createMany: (batch) =>
          Effect.suspend(() => {
            batches.push(batch.length)
            return orders.createMany(batch)
          })
      })
    )
  )

const settings = (skus: ReadonlyArray<string>) => ({ ...HotSkuEntity.defaults, skus })

/** One cluster's routed OrderStore over `stores`' (its own TestRunner, entity and spy). */
const owner = (
  stores: Context.Context<OrderStore.OrderStore>,
  skus: ReadonlyArray<string>,
  batches: Array<number>
) =>
  Layer.build(
    HotSkuEntity.layer(settings(skus)).pipe(
      Layer.provideMerge(Layer.fresh(TestRunner.layer)),
      Layer.provideMerge(spied(batches)),
      Layer.provide(Layer.succeedContext(stores))
    )
  ).pipe(Effect.map((context) => Context.get(context, OrderStore.OrderStore)))

/** `count` new orders of one unit of `sku`, created at once through `orders`; the answers. */
const rush = (orders: ReadonlyArray<OrderStore.OrderStore["Service"]>, sku: Sku.Sku, count: number) =>
  Effect.gen(function* () {
    const made = yield* Effect.forEach(Array.from({ length: count }), () => newOrder([[sku, 1]]))
    return yield* Effect.forEach(
      made,
      (order: Order.Order, i) => Effect.result(orders[i % orders.length]!.create(order, [])),
      { concurrency: "unbounded" }
    )
  })

const stocked = (units: number) =>
  Effect.gen(function* () {
    const sku = Sku.make(`hot-${crypto.randomUUID().slice(0, 8)}`)
    yield* (yield* InventoryStore.InventoryStore).setOnHand(sku, units)
    return sku
  })

/** The SKU's `[on_hand, reserved]` in `stores`. */
const levelOf = (stores: Context.Context<InventoryStore.InventoryStore>, sku: Sku.Sku) =>
  Effect.provide(
    Effect.flatMap(InventoryStore.InventoryStore, (stock) => stock.level(sku)),
    stores
  ).pipe(Effect.map((level) => (level._tag === "Some" ? [level.value.on_hand, level.value.reserved] : null)))

const outcomes = (answers: ReadonlyArray<Result.Result<Order.Order, { readonly _tag: string }>>) => ({
  created: answers.filter(Result.isSuccess).length,
  outOfStock: answers.filter((a) => Result.isFailure(a) && a.failure._tag === "OutOfStock").length,
  other: answers.filter((a) => Result.isFailure(a) && a.failure._tag !== "OutOfStock").map((a) => a)
})

await describeServices(["postgres"], "the hot-SKU entity on Postgres", () => {
  it.live("64 concurrent orders of a hot SKU with 20 units: 20 created, 44 OutOfStock, in batches", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const stores = yield* Layer.build(onFreshSchema(orderAndStockStores))
        const sku = yield* Effect.provide(stocked(20), stores)
        const batches: Array<number> = []
        const orders = yield* owner(stores, [sku], batches)
        const answers = yield* rush([orders], sku, 64)
        expect(outcomes(answers)).toEqual({ created: 20, outOfStock: 44, other: [] })
        expect(batches.reduce((a, b) => a + b, 0)).toBe(64)
        expect(batches.length).toBeLessThan(64)
        expect(yield* levelOf(stores, sku)).toEqual([20, 20])
      })
    )
  )

  it.live("two owners of one hot SKU (two clusters, as in a rebalance) oversell nothing", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const stores = yield* Layer.build(onFreshSchema(orderAndStockStores))
        const sku = yield* Effect.provide(stocked(25), stores)
        const batches: Array<number> = []
        const a = yield* owner(stores, [sku], batches)
        const b = yield* owner(stores, [sku], batches)
        const answers = yield* rush([a, b], sku, 80)
        expect(outcomes(answers)).toEqual({ created: 25, outOfStock: 55, other: [] })
        expect(yield* levelOf(stores, sku)).toEqual([25, 25])
      })
    )
  )

  it.live("orders of SKUs not configured hot go to the store directly, one create each", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const stores = yield* Layer.build(onFreshSchema(orderAndStockStores))
        const sku = yield* Effect.provide(stocked(5), stores)
        const batches: Array<number> = []
        const orders = yield* owner(stores, ["some-other-sku"], batches)
        const answers = yield* rush([orders], sku, 8)
        expect(outcomes(answers)).toEqual({ created: 5, outOfStock: 3, other: [] })
        expect(batches).toEqual([])
      })
    )
  )

  it.live("a hot-SKU create that gets no answer in time is StoreUnavailable (503), never a defect", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const stores = yield* Layer.build(onFreshSchema(orderAndStockStores))
        const sku = yield* Effect.provide(stocked(5), stores)
        const slow = Layer.effect(
          OrderStore.OrderStore,
          Effect.map(OrderStore.OrderStore, (orders) =>
            OrderStore.OrderStore.of({
              ...orders,
              createMany: (batch) => Effect.andThen(Effect.sleep("2 seconds"), orders.createMany(batch))
            })
          )
        )
        const context = yield* Layer.build(
          HotSkuEntity.layer({ ...settings([sku]), callTimeoutMs: 200 }).pipe(
            Layer.provideMerge(TestRunner.layer),
            Layer.provideMerge(slow),
            Layer.provide(Layer.succeedContext(stores))
          )
        )
        const orders = Context.get(context, OrderStore.OrderStore)
        const error = yield* Effect.flip(orders.create(yield* newOrder([[sku, 1]]), []))
        expect(error).toBeInstanceOf(Errors.StoreUnavailable)
        expect((error as Errors.StoreUnavailable).reason).toContain("no answer within 200 ms")
      })
    )
  )
})
