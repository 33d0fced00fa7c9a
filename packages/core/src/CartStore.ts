/**
 * Port: where carts live (Redis in production). A cart expires `ttlMs` after it was last
 * written. Every write is a compare-and-set on the cart's `version`, so two instances editing
 * one cart (or an edit racing a checkout's claim) never lose a write: the loser reads again.
 * Views are counted apart from the cart's writes (their own atomic counter), so a view never
 * conflicts with an edit and an edit never overwrites a view.
 *
 * Abandonment: a store keeps its active carts by their last change (the writer's `Clock`, so
 * `TestClock` moves it), so the abandonment job (Abandonment.ts) finds the idle ones without
 * scanning every cart. `idleSince` lists them, oldest first; once the job has reported one it calls
 * `forgetIdle`, which drops the cart from the listing only if it has not changed since it was
 * listed. A change puts a cart back (a new idle period); a checkout or expiry takes it out.
 */
import { Context, type Effect, type Option } from "effect"
import type { Cart } from "./Cart.js"
import type { StoreUnavailable } from "./Errors.js"

/** An active cart no write has touched since `lastChangeMs` (the writer's clock). */
export interface IdleCart {
  readonly cartId: string
  readonly lastChangeMs: number
}

/** Most carts one `idleSince` answers. */
export const maxIdlePage = 1_000

export class CartStore extends Context.Service<
  CartStore,
  {
    /** The cart with its current view count; None when absent or expired. */
    readonly get: (cartId: string) => Effect.Effect<Option.Option<Cart>, StoreUnavailable>
    /** Stores a new cart (version 1); false, and nothing written, if the id exists. */
    readonly insert: (cart: Cart, ttlMs: number) => Effect.Effect<boolean, StoreUnavailable>
    /**
     * Replaces the cart with `next` (stored with version `expectedVersion + 1`, its TTL renewed)
     * only if the stored version is `expectedVersion`; None (nothing written) otherwise.
     */
    readonly update: (
      next: Cart,
      expectedVersion: number,
      ttlMs: number
    ) => Effect.Effect<Option.Option<Cart>, StoreUnavailable>
    /** Adds one view; None when the cart does not exist (or expired). Does not renew the TTL. */
    readonly incrementViews: (cartId: string) => Effect.Effect<Option.Option<number>, StoreUnavailable>
    /**
     * Up to `limit` (1..`maxIdlePage`) active, live carts last changed more than `idleForMs` ago,
     * oldest first, leaving out those forgotten since their last change. Bad arguments are defects.
     */
    readonly idleSince: (
      idleForMs: number,
      limit: number
    ) => Effect.Effect<ReadonlyArray<IdleCart>, StoreUnavailable>
    /** Leaves `idle` out of later listings if the cart has not changed since; true when it did. */
    readonly forgetIdle: (idle: IdleCart) => Effect.Effect<boolean, StoreUnavailable>
  }
>()("@till/core/CartStore") {}

/** Why `idleSince`'s arguments break the port, or undefined. Every store checks it first. */
export const invalidIdleReason = (idleForMs: number, limit: number): string | undefined => {
  if (!Number.isSafeInteger(idleForMs) || idleForMs < 0)
    return `idleForMs must be a non-negative integer, got ${idleForMs}`
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > maxIdlePage)
    return `limit must be an integer in 1..${maxIdlePage}, got ${limit}`
  return undefined
}
