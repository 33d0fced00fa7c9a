/**
 * Port: where carts live (Redis in production). A cart expires `ttlMs` after it was last
 * written. Every write is a compare-and-set on the cart's `version`, so two instances editing
 * one cart (or an edit racing a checkout's claim) never lose a write: the loser reads again.
 * Views are counted apart from the cart's writes (their own atomic counter), so a view never
 * conflicts with an edit and an edit never overwrites a view.
 */
import { Context, type Effect, type Option } from "effect"
import type { Cart } from "./Cart.js"
import type { StoreUnavailable } from "./Errors.js"

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
  }
>()("@till/core/CartStore") {}
