/**
 * The PaymentRetryQueue contract: what every PaymentRetryQueue (in memory, Postgres, Kafka) must
 * do. Register it from an implementation's test file:
 * `paymentRetryQueueContract("postgres", PostgresPaymentRetryQueue.layer)`. The queue is built
 * once and shared by every case; every case uses fresh order ids and removes what it queued, and
 * judges `due` by its own entries, so other data in a real queue cannot make it fail.
 */
import { expect, layer } from "@effect/vitest"
import { PaymentRetryQueue } from "@till/core"
import { Effect, type Layer } from "effect"
import { uniqueId } from "../internal/contract.js"

const t0 = 1_700_000_000_000
const maxPage = 1_000

type Entry = PaymentRetryQueue.RetryEntry

export const paymentRetryQueueContract = (
  name: string,
  queueLayer: Layer.Layer<PaymentRetryQueue.PaymentRetryQueue, unknown>
): void => {
  layer(queueLayer)(`PaymentRetryQueue contract: ${name}`, (it) => {
    const queue = PaymentRetryQueue.PaymentRetryQueue

    /** Runs `body` with fresh order ids, removing them from the queue afterwards. */
    const withOrders = <A, E, R>(
      count: number,
      body: (orderIds: ReadonlyArray<string>) => Effect.Effect<A, E, R>
    ) =>
      Effect.gen(function* () {
        const ids: Array<string> = []
        for (let i = 0; i < count; i++) ids.push(yield* uniqueId("ord"))
        const q = yield* queue
        return yield* body(ids).pipe(
          Effect.ensuring(Effect.ignore(Effect.forEach(ids, (id) => q.remove(id))))
        )
      })

    const own = (entries: ReadonlyArray<Entry>, ids: ReadonlyArray<string>) =>
      entries.filter((e) => ids.includes(e.orderId))

    it.effect("an enqueued entry is due from its time on, not before", () =>
      withOrders(1, ([orderId]) =>
        Effect.gen(function* () {
          const q = yield* queue
          const entry: Entry = { orderId: orderId!, attempt: 0, nextAttemptAt: t0 + 1_000 }
          const sizeBefore = yield* q.size
          expect(yield* q.enqueue(entry)).toBe("enqueued")
          expect(yield* q.size).toBe(sizeBefore + 1)
          expect(own(yield* q.due(t0 + 999, maxPage), [orderId!])).toEqual([])
          expect(own(yield* q.due(t0 + 1_000, maxPage), [orderId!])).toEqual([entry])
          // `due` does not take the entry off the queue.
          expect(own(yield* q.due(t0 + 5_000, maxPage), [orderId!])).toEqual([entry])
        })
      )
    )

    it.effect("enqueueing a queued order changes nothing", () =>
      withOrders(1, ([orderId]) =>
        Effect.gen(function* () {
          const q = yield* queue
          const first: Entry = {
            orderId: orderId!,
            attempt: 3,
            nextAttemptAt: t0 + 8_000,
            lastError: "GatewayUnavailable"
          }
          yield* q.enqueue(first)
          const sizeBefore = yield* q.size
          expect(yield* q.enqueue({ orderId: orderId!, attempt: 0, nextAttemptAt: t0 })).toBe("alreadyQueued")
          expect(yield* q.size).toBe(sizeBefore)
          expect(own(yield* q.due(t0 + 10_000, maxPage), [orderId!])).toEqual([first])
        })
      )
    )

    it.effect("100 concurrent enqueues of one order make one entry", () =>
      withOrders(1, ([orderId]) =>
        Effect.gen(function* () {
          const q = yield* queue
          const sizeBefore = yield* q.size
          const results = yield* Effect.all(
            Array.from({ length: 100 }, (_, i) =>
              q.enqueue({ orderId: orderId!, attempt: 0, nextAttemptAt: t0 + i })
            ),
            { concurrency: "unbounded" }
          )
          expect(results.filter((r) => r === "enqueued")).toHaveLength(1)
          expect(yield* q.size).toBe(sizeBefore + 1)
        })
      )
    )

    it.effect("due answers the earliest first, then by order id, at most `limit`", () =>
      withOrders(4, (ids) =>
        Effect.gen(function* () {
          const q = yield* queue
          const [a, b, c, d] = [...ids].sort()
          yield* q.enqueue({ orderId: d!, attempt: 0, nextAttemptAt: t0 + 1 })
          yield* q.enqueue({ orderId: c!, attempt: 0, nextAttemptAt: t0 + 3 })
          yield* q.enqueue({ orderId: b!, attempt: 0, nextAttemptAt: t0 + 3 })
          yield* q.enqueue({ orderId: a!, attempt: 0, nextAttemptAt: t0 + 2 })
          const all = yield* q.due(t0 + 3, maxPage)
          expect(own(all, ids).map((e) => e.orderId)).toEqual([d, a, b, c])
          const ordered = all.every(
            (e, i) =>
              i === 0 ||
              all[i - 1]!.nextAttemptAt < e.nextAttemptAt ||
              (all[i - 1]!.nextAttemptAt === e.nextAttemptAt && all[i - 1]!.orderId < e.orderId)
          )
          expect(ordered).toBe(true)
          const firstTwo = yield* q.due(t0 + 3, 2)
          expect(firstTwo).toEqual(all.slice(0, 2))
          expect(yield* q.due(t0 + 3, 0)).toEqual([])
        })
      )
    )

    it.effect("reschedule replaces a queued entry and never resurrects a removed one", () =>
      withOrders(2, ([kept, removed]) =>
        Effect.gen(function* () {
          const q = yield* queue
          yield* q.enqueue({ orderId: kept!, attempt: 0, nextAttemptAt: t0 })
          yield* q.enqueue({ orderId: removed!, attempt: 0, nextAttemptAt: t0 })
          yield* q.remove(removed!)
          yield* q.remove(removed!) // absent: a no-op
          const next: Entry = {
            orderId: kept!,
            attempt: 1,
            nextAttemptAt: t0 + 2_000,
            lastError: "OperationTimedOut"
          }
          yield* q.reschedule(next)
          yield* q.reschedule({ orderId: removed!, attempt: 1, nextAttemptAt: t0 + 2_000 })
          expect(own(yield* q.due(t0 + 1_999, maxPage), [kept!, removed!])).toEqual([])
          expect(own(yield* q.due(t0 + 2_000, maxPage), [kept!, removed!])).toEqual([next])
        })
      )
    )

    it.effect("an entry without lastError comes back without one, a long error comes back whole", () =>
      withOrders(2, ([plain, failed]) =>
        Effect.gen(function* () {
          const q = yield* queue
          const lastError = `GatewayUnavailable: ${"x".repeat(950)}`
          yield* q.enqueue({ orderId: plain!, attempt: 0, nextAttemptAt: t0 })
          yield* q.enqueue({ orderId: failed!, attempt: 2, nextAttemptAt: t0, lastError })
          const due = own(yield* q.due(t0, maxPage), [plain!, failed!])
          const byId = new Map(due.map((e) => [e.orderId, e]))
          expect("lastError" in byId.get(plain!)! && byId.get(plain!)!.lastError !== undefined).toBe(false)
          expect(byId.get(failed!)!.lastError).toBe(lastError)
        })
      )
    )
  })
}
