/**
 * Run by bench/actors.bench.ts in a process of its own (`node --expose-gc`): the heap that 10,000
 * live cart entities cost in a one-process cluster (`TestRunner`), against as many bare entities
 * (one RPC, no Till), and what is left after they passivate. Prints one JSON line.
 *
 * Each entity is woken by one call; the heap is read after a full GC before and after. The carts
 * are brought to their final size first (an item added through the entities, which are then left
 * to passivate), and the measured call sets the same quantity again: the store holds as much
 * before as after, so only the entities are counted.
 */
import { Carts, Sku } from "@till/core"
import { TestTill } from "@till/testkit"
import { Effect, Layer, Schema } from "effect"
import { Entity, TestRunner } from "effect/cluster"
import { Rpc } from "effect/rpc"
import * as CartEntity from "../../packages/runtime/src/CartEntity.js"
import * as Entities from "../../packages/runtime/src/Entities.js"

const ENTITIES = Number(process.env["TILL_BENCH_ACTORS_ENTITIES"] ?? 10_000)
const IDLE_MS = 3_000

const gc = (globalThis as { gc?: () => void }).gc
if (gc === undefined) throw new Error("run with node --expose-gc")
const heapAfterGc = async () => {
  for (let i = 0; i < 3; i++) {
    gc()
    await new Promise((r) => setTimeout(r, 50))
  }
  return process.memoryUsage().heapUsed
}

// The bare entity has the cart entity's shape (three RPCs, ids as long as cart ids) and does
// nothing: what the cluster itself keeps per live entity.
const ping = (tag: string) => Rpc.make(tag, { payload: { n: Schema.Number }, success: Schema.Number })
const Bare = Entity.make("bench/bare", [ping("addItem"), ping("setQuantity"), ping("removeItem")])
const echo = ({ payload }: { readonly payload: { readonly n: number } }) => Effect.succeed(payload.n)
const bareLayer = Bare.toLayer(Bare.of({ addItem: echo, setQuantity: echo, removeItem: echo }), {
  maxIdleTime: IDLE_MS
})
const bareId = (i: number) => `cart_${String(i).padStart(20, "0")}`

const measure = <R, E>(
  setup: Effect.Effect<(i: number) => Effect.Effect<unknown, unknown>, E, R>,
  layer: Layer.Layer<R, unknown>
) =>
  Effect.gen(function* () {
    const call = yield* setup
    yield* Effect.sleep(IDLE_MS * 2 + 1_000) // the setup's entities, if any, passivate
    const before = yield* Effect.promise(heapAfterGc)
    const rssBeforeMb = process.memoryUsage().rss / 1e6
    yield* Effect.forEach(
      Array.from({ length: ENTITIES }, (_, i) => i),
      call,
      { concurrency: 64, discard: true }
    )
    const live = yield* Effect.promise(heapAfterGc)
    const rssLiveMb = process.memoryUsage().rss / 1e6
    yield* Effect.sleep(IDLE_MS * 2 + 1_000)
    const passivated = yield* Effect.promise(heapAfterGc)
    return {
      perEntityBytes: (live - before) / ENTITIES,
      leftAfterPassivationBytes: (passivated - before) / ENTITIES,
      rssBeforeMb,
      rssLiveMb,
      rssAfterPassivationMb: process.memoryUsage().rss / 1e6
    }
  }).pipe(Effect.scoped, Effect.provide(layer))

const bare = await Effect.runPromise(
  measure(
    Effect.map(Bare.client, (client) => (i: number) => client(bareId(i)).setQuantity({ n: i })),
    bareLayer.pipe(Layer.provideMerge(TestRunner.layer))
  )
)

const till = await Effect.runPromise(
  measure(
    Effect.gen(function* () {
      yield* TestTill.stock("mug", "Mug", 1_500, 1_000_000)
      const carts = yield* Carts.Carts
      const ids = yield* Effect.forEach(Array.from({ length: ENTITIES }), () =>
        Effect.map(carts.create("alice"), (c) => c.cart_id)
      )
      yield* Effect.forEach(ids, (id) => carts.addItem("alice", id, Sku.make("mug"), 1), {
        concurrency: 64,
        discard: true
      })
      return (i: number) => carts.setQuantity("alice", ids[i]!, Sku.make("mug"), 1)
    }),
    CartEntity.layer({ ...CartEntity.defaults, maxIdleMs: IDLE_MS }).pipe(
      // As `till start` builds it (Cluster.ts): the cluster without Till's services in its context.
      Layer.provideMerge(Entities.withoutTillServices(TestRunner.layer)),
      Layer.provideMerge(TestTill.layer({ seed: 7 }))
    )
  )
)

process.stdout.write(`RESULT${JSON.stringify({ entities: ENTITIES, bare, till })}\n`)
process.exit(0)
