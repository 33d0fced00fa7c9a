/**
 * The hot-SKU entity: one `effect/cluster` entity per configured hot SKU (`TILL_HOT_SKUS`) batches
 * the creation of its orders (TX1: the order and its stock hold) into one store transaction.
 *
 * Why: every order of one SKU updates that SKU's one stock row, and Postgres lets one transaction
 * at a time hold its lock until it commits. In a flash sale single creates queue on that lock and
 * commit one by one; 64 buyers of one SKU got ~565 conditional updates a second here, fewer than one
 * buyer alone (~2,500/s), from lock handovers and 64 backends on 2 cores. The entity takes what is
 * waiting (up to `maxBatch`), sends it as `OrderStore.createMany` (the locks once, one commit), and
 * the next batch collects while that one runs: group commit, so a lone order waits for nothing.
 *
 * - **Correctness never depends on it**: the entity holds no state but the waiting orders; the
 *   store allocates under its row locks, so two owners of one SKU during a rebalance are two
 *   transactions queued on one lock, exactly like two plain creates. Orders of SKUs not configured
 *   hot, and every other OrderStore call, go to the store directly.
 * - **Limits**: a full mailbox, a moving shard or a call over `callTimeoutMs` answers
 *   `StoreUnavailable` (a 503 with `Retry-After`). A create that timed out may still commit in
 *   its batch: checkout's retry of it (same order id) then answers the stored order.
 * - Restarts after a defect back off (`restartSchedule`) and are counted in
 *   `till_entity_restarts_total{entity}`; the batch sizes in `till_hot_sku_batch_size`.
 */
import { Errors, Event, Order, OrderStore } from "@till/core"
import { Deferred, Effect, Exit, Layer, Metric, Queue, Schema } from "effect"
import { Entity, type Sharding } from "effect/cluster"
import { Rpc } from "effect/rpc"
import * as Entities from "./Entities.js"

/** Which SKUs are hot, and how their entity behaves. */
export interface Settings extends Entities.Settings {
  /** The SKUs whose orders are batched; empty turns the entity off. */
  readonly skus: ReadonlyArray<string>
  /** Most orders in one transaction. */
  readonly maxBatch: number
}

export const defaults: Settings = {
  skus: [],
  maxBatch: 64,
  mailboxCapacity: 4_096,
  callTimeoutMs: 5_000,
  maxIdleMs: 60_000
}

const CreateErrors = Schema.Union([Errors.OutOfStock, Errors.CartNotActive, Errors.StoreUnavailable])
type CreateError = typeof CreateErrors.Type

export const HotSkuEntity = Entity.make("till/hot-sku", [
  Rpc.make("create", {
    payload: { order: Order.Order, events: Schema.Array(Event.Event) },
    success: Order.Order,
    error: CreateErrors
  })
])

export const batchSize = Metric.histogram("till_hot_sku_batch_size", {
  description: "Orders per transaction of the hot-SKU entity",
  boundaries: [1, 2, 4, 8, 16, 32, 64, 128, 256]
})

/** A waiting create and where its answer goes. */
interface Waiting {
  readonly entry: OrderStore.NewOrder
  readonly answer: Deferred.Deferred<Order.Order, CreateError>
}

/**
 * One SKU's group commit: a fiber takes what waits (1 to `maxBatch`), creates it in one
 * `createMany`, answers each, and takes again. Lives in the entity's scope.
 */
const batcher = (orders: OrderStore.OrderStore["Service"], maxBatch: number) =>
  Effect.gen(function* () {
    const queue = yield* Queue.unbounded<Waiting>()
    const answer = (batch: ReadonlyArray<Waiting>) =>
      Effect.gen(function* () {
        yield* Metric.update(batchSize, batch.length)
        const exit = yield* Effect.exit(orders.createMany(batch.map((w) => w.entry)))
        if (Exit.isFailure(exit)) {
          for (const w of batch) Deferred.doneUnsafe(w.answer, Exit.failCause(exit.cause))
          return
        }
        for (const [i, result] of exit.value.entries())
          Deferred.doneUnsafe(
            batch[i]!.answer,
            result._tag === "Success" ? Exit.succeed(result.success) : Exit.fail(result.failure)
          )
      })
    yield* Effect.forkScoped(Effect.forever(Effect.flatMap(Queue.takeBetween(queue, 1, maxBatch), answer)))
    return (entry: OrderStore.NewOrder) =>
      Effect.suspend(() => {
        const answer = Deferred.makeUnsafe<Order.Order, CreateError>()
        Queue.offerUnsafe(queue, { entry, answer })
        return Deferred.await(answer)
      })
  })

/** The hot SKU an order is batched under (the first in SKU order), if it has one. */
const hotSkuOf = (hot: ReadonlySet<string>, order: Order.Order): string | undefined => {
  let key: string | undefined
  for (const item of order.items)
    if (hot.has(item.sku) && (key === undefined || item.sku < key)) key = item.sku
  return key
}

/**
 * `OrderStore` whose creates of hot-SKU orders go through the entity, and the entity itself, over
 * the store and the cluster in context. With no hot SKU configured, the store as it is.
 */
export const layer = (
  settings: Settings
): Layer.Layer<OrderStore.OrderStore, never, OrderStore.OrderStore | Sharding.Sharding> => {
  if (settings.skus.length === 0) return Layer.effect(OrderStore.OrderStore, OrderStore.OrderStore)
  const hot = new Set(settings.skus)
  const entity = Layer.unwrap(
    Effect.map(OrderStore.OrderStore, (orders) =>
      Entities.registered(
        HotSkuEntity.toLayer(
          Effect.map(batcher(orders, settings.maxBatch), (submit) =>
            HotSkuEntity.of({ create: ({ payload }) => submit(payload) })
          ),
          { ...Entities.options(HotSkuEntity.type, settings), concurrency: "unbounded" }
        )
      )
    )
  )
  const routed = Layer.effect(
    OrderStore.OrderStore,
    Effect.gen(function* () {
      const orders = yield* OrderStore.OrderStore
      const client = yield* HotSkuEntity.client
      const send = Entities.answering<Order.Order, CreateError>("orders", settings.callTimeoutMs)
      return OrderStore.OrderStore.of({
        ...orders,
        create: (order, events) => {
          const sku = hotSkuOf(hot, order)
          return sku === undefined
            ? orders.create(order, events)
            : send(`SKU ${sku}`, client(sku).create({ order, events }))
        }
      })
    })
  )
  return Layer.merge(routed, entity)
}
