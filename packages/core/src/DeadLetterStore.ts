/**
 * Port: payments the retry drainer gave up on, with the last error, for an operator to look at
 * (and to pay or cancel by hand). One letter per order: a later letter for the same order replaces
 * the earlier one. `list` answers the oldest first (`failedAt`, then order id), at most `limit`
 * (and at most the store's page size).
 */
import { Context, type Effect, Schema } from "effect"
import type { StoreUnavailable } from "./Errors.js"
import { MAX_ERROR_LENGTH } from "./PaymentRetryQueue.js"

export const DeadLetter = Schema.Struct({
  orderId: Schema.String.check(Schema.isMinLength(1), Schema.isMaxLength(128)),
  /** Retries made before giving up. */
  attempts: Schema.Int.check(Schema.isGreaterThanOrEqualTo(0)),
  lastError: Schema.String.check(Schema.isMaxLength(MAX_ERROR_LENGTH)),
  /** Epoch milliseconds when the drainer gave up. */
  failedAt: Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))
})
export type DeadLetter = typeof DeadLetter.Type

export class DeadLetterStore extends Context.Service<
  DeadLetterStore,
  {
    readonly put: (letter: DeadLetter) => Effect.Effect<void, StoreUnavailable>
    readonly list: (limit: number) => Effect.Effect<ReadonlyArray<DeadLetter>, StoreUnavailable>
  }
>()("@till/core/DeadLetterStore") {}
