/**
 * Port: payments waiting for another try, one entry per order (DESIGN.md §3 step 4: gateway
 * unavailable -> order `payment_pending`, queued for retry). `RetryDrainer` works through it.
 *
 * Contract:
 * - entries are keyed by `orderId`: enqueueing a queued order changes nothing (its attempt count
 *   and schedule stand, so a repeated checkout cannot reset the backoff);
 * - `due(nowMs, limit)` answers entries with `nextAttemptAt <= nowMs`, earliest first, then by
 *   order id, at most `limit` (and at most the store's page size); it does not remove them;
 * - `reschedule` replaces a queued entry and is a no-op for an order no longer queued (it was
 *   removed meanwhile, e.g. paid by the sweeper), so it never resurrects one;
 * - `remove` of an absent order is a no-op.
 *
 * Two drainers may read the same due entry; processing must therefore be idempotent, which
 * charging by idempotency key (the order id) is. In memory now; Postgres (`FOR UPDATE SKIP
 * LOCKED`) or a Kafka retry topic later, under the same contract suite.
 */
import { Context, type Effect, Schema } from "effect"
import type { StoreUnavailable } from "./Errors.js"

/** Longest `lastError` kept: errors are for operators, and a bound keeps rows small. */
export const MAX_ERROR_LENGTH = 1_000

export const RetryEntry = Schema.Struct({
  orderId: Schema.String.check(Schema.isMinLength(1), Schema.isMaxLength(128)),
  /** Retries made so far (0 when first queued). */
  attempt: Schema.Int.check(Schema.isGreaterThanOrEqualTo(0)),
  /** Epoch milliseconds of the next try. */
  nextAttemptAt: Schema.Int.check(Schema.isGreaterThanOrEqualTo(0)),
  lastError: Schema.optional(Schema.String.check(Schema.isMaxLength(MAX_ERROR_LENGTH)))
})
export type RetryEntry = typeof RetryEntry.Type

export class PaymentRetryQueue extends Context.Service<
  PaymentRetryQueue,
  {
    /** Queues the entry unless its order is queued already. */
    readonly enqueue: (entry: RetryEntry) => Effect.Effect<"enqueued" | "alreadyQueued", StoreUnavailable>
    /** Entries due at `nowMs`, earliest first, at most `limit`. */
    readonly due: (nowMs: number, limit: number) => Effect.Effect<ReadonlyArray<RetryEntry>, StoreUnavailable>
    /** Replaces the entry of `entry.orderId` if it is still queued. */
    readonly reschedule: (entry: RetryEntry) => Effect.Effect<void, StoreUnavailable>
    readonly remove: (orderId: string) => Effect.Effect<void, StoreUnavailable>
    readonly size: Effect.Effect<number, StoreUnavailable>
  }
>()("@till/core/PaymentRetryQueue") {}
