/**
 * Port: idempotency keys with Stripe's semantics, scoped per user. A key is claimed once
 * (atomically: two concurrent claims cannot both win) with a fingerprint of the request and
 * a lease; the holder completes it with the encoded outcome, kept until `expiresAt`.
 * A lease that ran out (its holder crashed, or gave up on a transient error) may be taken
 * over by a later request with the same key and fingerprint, which keeps the resource id
 * chosen by the first claim, so no side effect is ever duplicated.
 *
 * Fencing (DESIGN.md §2: correctness never rests on one process owning a key): every claim and
 * takeover is given a fencing token minted by the store, greater than any token it minted
 * before for that key (a store-wide sequence does, and survives the record's expiry).
 * `complete` and `abandon` carry the holder's token and act only while it is the key's current
 * token and the key is in flight; otherwise they change nothing and answer `"stale"`. So a
 * holder whose lease ran out and was taken over can neither store its outcome over the new
 * holder's nor end the new holder's lease. A holder whose lease ran out but was not taken over
 * still holds the current token and completes normally.
 */
import { Context, type Effect } from "effect"
import type { StoreUnavailable } from "./Errors.js"

export interface IdempotencyRecord {
  readonly scope: string
  readonly key: string
  readonly fingerprint: string
  /** The id of what the first request creates (an order id), fixed at the first claim. */
  readonly resourceId: string
  readonly state: "in_flight" | "completed"
  /** The encoded outcome, once completed. */
  readonly outcome: unknown
  /** The fencing token of the latest claim or takeover (a positive safe integer). */
  readonly token: number
  readonly lockedUntil: number
  readonly expiresAt: number
}

export type ClaimResult =
  /** The caller holds the key until `record.lockedUntil`, fenced by `record.token`. */
  | { readonly _tag: "Claimed"; readonly record: IdempotencyRecord }
  | { readonly _tag: "Completed"; readonly record: IdempotencyRecord }
  | { readonly _tag: "InFlight" }
  | { readonly _tag: "Mismatch" }

export interface ClaimRequest {
  readonly scope: string
  readonly key: string
  readonly fingerprint: string
  readonly resourceId: string
  readonly nowMs: number
  readonly leaseMs: number
  readonly ttlMs: number
}

/** `"stale"`: the token is no longer the key's current holder (taken over, completed or expired). */
export type CompleteResult = "completed" | "stale"
export type AbandonResult = "abandoned" | "stale"

export class IdempotencyStore extends Context.Service<
  IdempotencyStore,
  {
    readonly claim: (request: ClaimRequest) => Effect.Effect<ClaimResult, StoreUnavailable>
    /** Stores the outcome if `token` still holds the key in flight; the first completion stands. */
    readonly complete: (
      scope: string,
      key: string,
      token: number,
      outcome: unknown
    ) => Effect.Effect<CompleteResult, StoreUnavailable>
    /** Ends the lease now if `token` still holds the key, so the next request takes over. */
    readonly abandon: (
      scope: string,
      key: string,
      token: number
    ) => Effect.Effect<AbandonResult, StoreUnavailable>
  }
>()("@till/core/IdempotencyStore") {}
