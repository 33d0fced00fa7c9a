/**
 * The PaymentRetryQueue port in memory (PaymentRetryQueue.ts): entries keyed by order id; `due`
 * scans and sorts, which is fine for the queue lengths a test or an embedded runtime sees, and
 * bounded by `maxEntries` (a full queue refuses new orders with `StoreUnavailable`).
 */
import { Effect, Layer } from "effect"
import { PaymentRetryQueue } from "@till/core"
import { full, pageLimit, requireCapacity } from "./internal/limits.js"

export interface Options {
  readonly maxEntries?: number
}

export const defaultMaxEntries = 100_000

type Entry = PaymentRetryQueue.RetryEntry

const earliestFirst = (a: Entry, b: Entry): number =>
  a.nextAttemptAt - b.nextAttemptAt || (a.orderId < b.orderId ? -1 : a.orderId > b.orderId ? 1 : 0)

export const make = (options: Options = {}): Effect.Effect<PaymentRetryQueue.PaymentRetryQueue["Service"]> =>
  Effect.sync(() => {
    const maxEntries = requireCapacity("maxEntries", options.maxEntries ?? defaultMaxEntries)
    const entries = new Map<string, Entry>()

    return PaymentRetryQueue.PaymentRetryQueue.of({
      enqueue: (entry) =>
        Effect.suspend(() => {
          if (entries.has(entry.orderId)) return Effect.succeed("alreadyQueued" as const)
          if (entries.size >= maxEntries) return full("payment-retry-queue", maxEntries)
          entries.set(entry.orderId, { ...entry })
          return Effect.succeed("enqueued" as const)
        }),
      due: (nowMs, limit) =>
        Effect.sync(() =>
          [...entries.values()]
            .filter((entry) => entry.nextAttemptAt <= nowMs)
            .sort(earliestFirst)
            .slice(0, pageLimit(limit))
        ),
      reschedule: (entry) =>
        Effect.sync(() => {
          if (entries.has(entry.orderId)) entries.set(entry.orderId, { ...entry })
        }),
      remove: (orderId) =>
        Effect.sync(() => {
          entries.delete(orderId)
        }),
      size: Effect.sync(() => entries.size)
    })
  })

export const layer: Layer.Layer<PaymentRetryQueue.PaymentRetryQueue> = Layer.effect(
  PaymentRetryQueue.PaymentRetryQueue,
  make()
)

export const layerWith = (options: Options): Layer.Layer<PaymentRetryQueue.PaymentRetryQueue> =>
  Layer.effect(PaymentRetryQueue.PaymentRetryQueue, make(options))
