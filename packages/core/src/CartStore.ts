/**
 * Port: where carts live (Redis in production). A cart expires `ttlMs` after it was last
 * written. Writes of one cart are serialized by its caller (the runtime's cart actor, or the
 * `Carts` service's per-cart lock), so the store needs no compare-and-set; the view counter
 * is the one field bumped concurrently, hence its own atomic operation.
 */
import { Context, type Effect, type Option } from "effect"
import type { Cart } from "./Cart.js"
import type { StoreUnavailable } from "./Errors.js"

export class CartStore extends Context.Service<
  CartStore,
  {
    readonly get: (cartId: string) => Effect.Effect<Option.Option<Cart>, StoreUnavailable>
    readonly put: (cart: Cart, ttlMs: number) => Effect.Effect<void, StoreUnavailable>
    /** Adds one view; None when the cart does not exist (or expired). */
    readonly incrementViews: (cartId: string) => Effect.Effect<Option.Option<number>, StoreUnavailable>
  }
>()("@till/core/CartStore") {}
