/**
 * Port: payments waiting for another try, one entry per order (DESIGN.md §3 step 4: gateway
 * unavailable -> order `payment_pending`, queued for retry). `RetryDrainer` works through it.
 *
 * Claims (DESIGN.md §2: queue claims carry fencing tokens; correctness never rests on one
 * process owning a key). Every instance may run a drainer; a claim decides which one works on an
 * entry, and its token decides whether that drainer may still change it:
 * - `claimDue(nowMs, limit, leaseMs)` atomically takes entries with `nextAttemptAt <= nowMs` that
 *   are unclaimed or whose claim ran out (`claimedUntil <= nowMs`), earliest first, then by order
 *   id, at most `limit` (and at most the store's page size), and claims each until
 *   `nowMs + leaseMs` with a token the store mints, greater than any it minted before. A claimed
 *   entry is answered to no other claimer until its lease ends, so concurrent claimers get
 *   disjoint entries;
 * - `remove(orderId, token)` deletes the entry and `reschedule(entry, token)` replaces it and
 *   releases the claim, each only if the entry still carries that claim (answering `"stale"`
 *   otherwise, changing nothing). A claim whose lease ran out still holds until another claimer
 *   takes the entry;
 * - entries are keyed by `orderId`: enqueueing a queued order keeps its attempt count and
 *   schedule (so a repeated checkout cannot reset the backoff) but clears any claim on it: the
 *   other path that queued it (a late charge's refund, say) needs it processed again, so the
 *   holder's later `remove`/`reschedule` with the old token is a no-op and the entry stays;
 * - `reschedule` never resurrects a removed order (its claim went with it).
 *
 * Processing must still be idempotent (a claim can run out under a slow drainer), which charging
 * by idempotency key (the order id) is. In memory now; Postgres (`FOR UPDATE SKIP LOCKED` with a
 * `claim_token` column from a sequence) or a Kafka retry topic later, under the same contract
 * suite.
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

/** An entry taken by `claimDue`: the drainer holds it until `claimedUntil`, fenced by `token`. */
export interface ClaimedEntry {
  readonly entry: RetryEntry
  /** The claim's fencing token (a positive safe integer). */
  readonly token: number
  readonly claimedUntil: number
}

/** `"stale"`: the entry no longer carries that claim (re-enqueued, re-claimed or removed). */
export type RemoveResult = "removed" | "stale"
export type RescheduleResult = "rescheduled" | "stale"

export class PaymentRetryQueue extends Context.Service<
  PaymentRetryQueue,
  {
    /** Queues the entry unless its order is queued already; either way the order is left unclaimed. */
    readonly enqueue: (entry: RetryEntry) => Effect.Effect<"enqueued" | "alreadyQueued", StoreUnavailable>
    /** Claims the entries due and unclaimed at `nowMs`, earliest first, at most `limit`, for `leaseMs`. */
    readonly claimDue: (
      nowMs: number,
      limit: number,
      leaseMs: number
    ) => Effect.Effect<ReadonlyArray<ClaimedEntry>, StoreUnavailable>
    /** Replaces the entry of `entry.orderId` and releases its claim, if it still carries `token`. */
    readonly reschedule: (
      entry: RetryEntry,
      token: number
    ) => Effect.Effect<RescheduleResult, StoreUnavailable>
    /** Deletes the entry of `orderId` if it still carries `token`. */
    readonly remove: (orderId: string, token: number) => Effect.Effect<RemoveResult, StoreUnavailable>
    readonly size: Effect.Effect<number, StoreUnavailable>
  }
>()("@till/core/PaymentRetryQueue") {}
