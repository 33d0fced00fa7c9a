/**
 * Every call to one of Till's own stores goes through the `store` policy (Policy.ts): a 2 s
 * timeout per attempt and a breaker of that store's own (Resilience.ts `storeNames`), so a hung database or cache answers `StoreUnavailable`
 * (transient: 503, the idempotency key is abandoned, a retry may take over) instead of hanging a
 * request for ever. A timeout and an open breaker both surface as `StoreUnavailable` naming the
 * store, so each service's error channel stays what it was.
 *
 * A call is retried only when sending it again cannot do anything twice. A timed-out call may
 * have been applied with its answer lost, so "safe to retry" means: a second copy after a first
 * that landed changes nothing (a read; a write fenced by a token; a compare-and-set to an
 * absolute state, whose lost answer the caller recognises when it reads again).
 *
 * | call                                   | retried | why                                                       |
 * |----------------------------------------|---------|-----------------------------------------------------------|
 * | CartStore.get                          | yes     | a read                                                    |
 * | CartStore.insert                       | no      | insert-if-absent: a copy after a lost "inserted" answers   |
 * |                                        |         | "exists", and `create` would take its own cart for a clash |
 * | CartStore.update (edit, claim, reopen) | no      | an edit is relative (`addItem` +2): after a lost answer    |
 * |                                        |         | the compare-and-set loop re-reads and would add it again   |
 * | CartStore.incrementViews               | no      | it counts                                                 |
 * | IdempotencyStore.claim                 | no      | a copy after a lost claim finds its own claim in flight    |
 * |                                        |         | (409); surfacing 503 lets the client retry the key         |
 * | IdempotencyStore.complete / abandon    | yes     | fenced by the claim's token: a second copy is `stale`      |
 * | RateLimitStore.acquire                 | no      | it counts: a retried acquire takes two units for one call  |
 * | PaymentRetryQueue.enqueue              | yes     | a no-op when the order is queued already                  |
 * | PaymentRetryQueue.claimDue             | no      | it claims: a copy claims more entries under a lease        |
 * | PaymentRetryQueue.remove / reschedule  | yes     | fenced by the claim's token: a second copy is `stale`      |
 * | PaymentRetryQueue.size                 | yes     | a read                                                    |
 * | DeadLetterStore.put                    | no      | a copy is a second letter (harmless, but noise)           |
 * | OrderStore.get / listByStatus          | yes     | reads                                                     |
 * | OrderStore.claimEvents                 | no      | it claims: a copy claims another batch under a lease       |
 * | OrderStore.markPublished               | yes     | fenced by the claim's token                               |
 * | OrderStore.step                        | yes     | compare-and-set on the version to an absolute next state: |
 * |                                        |         | a copy after a landed step finds the version moved and    |
 * |                                        |         | writes nothing; the flow re-reads and sees it done        |
 * | OrderStore.create                      | yes     | its own `orderCreation` policy: an insert of a fixed id    |
 * |                                        |         | that answers the stored order when the id exists          |
 */
import { Effect } from "effect"
import { StoreUnavailable } from "../Errors.js"
import type { Resilience, StoreName } from "../Resilience.js"

export type Retry = "retry" | "once"

/** What a timeout or an open breaker of the `store` policy becomes: transient, naming the store. */
const unavailable = (store: string) => (error: { readonly _tag: string; readonly message: string }) =>
  new StoreUnavailable({
    store,
    reason:
      error._tag === "OperationTimedOut"
        ? `timed out (${error.message})`
        : `circuit breaker open (${error.message})`
  })

/**
 * A store call under the `store` policy: retried (`"retry"`) or sent once (`"once"`), per the
 * table above; a timeout or an open breaker fails `StoreUnavailable`.
 */
export const storeCall =
  (resilience: Resilience["Service"], store: StoreName) =>
  <A, E, R>(retry: Retry, effect: Effect.Effect<A, E, R>): Effect.Effect<A, E | StoreUnavailable, R> =>
    (retry === "retry"
      ? resilience.withStorePolicy(store, effect)
      : resilience.withStorePolicyOnce(store, effect)
    ).pipe(
      Effect.catchIf(
        (
          error
        ): error is Extract<typeof error, { readonly _tag: "OperationTimedOut" | "CallNotPermitted" }> =>
          typeof error === "object" &&
          error !== null &&
          "_tag" in error &&
          (error._tag === "OperationTimedOut" || error._tag === "CallNotPermitted"),
        (error) => Effect.fail(unavailable(store)(error as { _tag: string; message: string }))
      )
    ) as Effect.Effect<A, E | StoreUnavailable, R>
