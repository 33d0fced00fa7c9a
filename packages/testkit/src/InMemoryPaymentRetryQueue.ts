/**
 * The PaymentRetryQueue port in memory (PaymentRetryQueue.ts): entries keyed by order id, each
 * with its claim (token and lease) if a drainer holds it. `claimDue` scans, sorts and claims in
 * one synchronous block, so concurrent claimers get disjoint entries; the scan is fine for the
 * queue lengths a test or an embedded runtime sees, and bounded by `maxEntries` (a full queue
 * refuses new orders with `StoreUnavailable`). Claim tokens come from one counter per queue.
 *
 * `Inspector` lets tests and the simulator read the queue without claiming anything.
 */
import { Context, Effect, Layer } from "effect"
import { PaymentRetryQueue } from "@till/core"
import { full, pageLimit, requireCapacity } from "./internal/limits.js"

export interface Options {
  readonly maxEntries?: number
}

export const defaultMaxEntries = 100_000

type Entry = PaymentRetryQueue.RetryEntry

interface Slot {
  readonly entry: Entry
  readonly claim: { readonly token: number; readonly claimedUntil: number } | undefined
}

/** Read access for tests and the simulator; never used by services. */
export class Inspector extends Context.Service<
  Inspector,
  {
    /** Every entry with its claim, if any, earliest first. */
    readonly entries: Effect.Effect<ReadonlyArray<{ readonly entry: Entry; readonly claimedUntil?: number }>>
    /** The entries `claimDue(nowMs, limit, _)` would take, without claiming them. */
    readonly claimable: (nowMs: number, limit: number) => Effect.Effect<ReadonlyArray<Entry>>
  }
>()("@till/testkit/InMemoryPaymentRetryQueue/Inspector") {}

const earliestFirst = (a: Entry, b: Entry): number =>
  a.nextAttemptAt - b.nextAttemptAt || (a.orderId < b.orderId ? -1 : a.orderId > b.orderId ? 1 : 0)

export const make = (
  options: Options = {}
): Effect.Effect<PaymentRetryQueue.PaymentRetryQueue["Service"] & Inspector["Service"]> =>
  Effect.sync(() => {
    const maxEntries = requireCapacity("maxEntries", options.maxEntries ?? defaultMaxEntries)
    const slots = new Map<string, Slot>()
    let lastToken = 0

    const claimable = (nowMs: number, limit: number): Array<Entry> =>
      [...slots.values()]
        .filter(
          (s) => s.entry.nextAttemptAt <= nowMs && (s.claim === undefined || s.claim.claimedUntil <= nowMs)
        )
        .map((s) => s.entry)
        .sort(earliestFirst)
        .slice(0, pageLimit(limit))

    /** The slot of `orderId` if it still carries the claim `token`. */
    const held = (orderId: string, token: number): Slot | undefined => {
      const slot = slots.get(orderId)
      return slot?.claim?.token === token ? slot : undefined
    }

    return {
      enqueue: (entry) =>
        Effect.suspend(() => {
          const queued = slots.get(entry.orderId)
          if (queued !== undefined) {
            // Keeps the schedule, drops the claim: whoever holds it must not remove it now.
            slots.set(entry.orderId, { entry: queued.entry, claim: undefined })
            return Effect.succeed("alreadyQueued" as const)
          }
          if (slots.size >= maxEntries) return full("payment-retry-queue", maxEntries)
          slots.set(entry.orderId, { entry: { ...entry }, claim: undefined })
          return Effect.succeed("enqueued" as const)
        }),
      claimDue: (nowMs, limit, leaseMs) =>
        Effect.sync(() =>
          claimable(nowMs, limit).map((entry): PaymentRetryQueue.ClaimedEntry => {
            const claim = { token: ++lastToken, claimedUntil: nowMs + leaseMs }
            slots.set(entry.orderId, { entry, claim })
            return { entry, ...claim }
          })
        ),
      reschedule: (entry, token) =>
        Effect.sync((): PaymentRetryQueue.RescheduleResult => {
          if (held(entry.orderId, token) === undefined) return "stale"
          slots.set(entry.orderId, { entry: { ...entry }, claim: undefined })
          return "rescheduled"
        }),
      remove: (orderId, token) =>
        Effect.sync((): PaymentRetryQueue.RemoveResult => {
          if (held(orderId, token) === undefined) return "stale"
          slots.delete(orderId)
          return "removed"
        }),
      size: Effect.sync(() => slots.size),
      entries: Effect.sync(() =>
        [...slots.values()]
          .sort((a, b) => earliestFirst(a.entry, b.entry))
          .map((s) =>
            s.claim === undefined
              ? { entry: s.entry }
              : { entry: s.entry, claimedUntil: s.claim.claimedUntil }
          )
      ),
      claimable: (nowMs, limit) => Effect.sync(() => claimable(nowMs, limit))
    }
  })

const context = (options: Options) =>
  Layer.effectContext(
    Effect.map(make(options), (queue) =>
      Context.make(PaymentRetryQueue.PaymentRetryQueue, queue).pipe(Context.add(Inspector, queue))
    )
  )

/** Provides `PaymentRetryQueue` and its `Inspector` (one queue behind both). */
export const layer: Layer.Layer<PaymentRetryQueue.PaymentRetryQueue | Inspector> = context({})

export const layerWith = (options: Options): Layer.Layer<PaymentRetryQueue.PaymentRetryQueue | Inspector> =>
  context(options)
