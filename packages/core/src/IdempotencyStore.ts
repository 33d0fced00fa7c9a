/**
 * Port: idempotency keys with Stripe's semantics, scoped per user. A key is claimed once
 * (atomically: two concurrent claims cannot both win) with a fingerprint of the request and
 * a lease; the holder completes it with the encoded outcome, kept until `expiresAt`.
 * A lease that ran out (its holder crashed, or gave up on a transient error) may be taken
 * over by a later request with the same key and fingerprint, which keeps the resource id
 * chosen by the first claim, so no side effect is ever duplicated.
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
  readonly lockedUntil: number
  readonly expiresAt: number
}

export type ClaimResult =
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

export class IdempotencyStore extends Context.Service<
  IdempotencyStore,
  {
    readonly claim: (request: ClaimRequest) => Effect.Effect<ClaimResult, StoreUnavailable>
    readonly complete: (scope: string, key: string, outcome: unknown) => Effect.Effect<void, StoreUnavailable>
    /** Ends the lease now, so the next request with this key takes over. */
    readonly abandon: (scope: string, key: string) => Effect.Effect<void, StoreUnavailable>
  }
>()("@till/core/IdempotencyStore") {}
