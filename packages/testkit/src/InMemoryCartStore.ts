/**
 * The CartStore port in memory. A cart expires `ttlMs` after its last `put`, judged lazily
 * against Effect's `Clock` on every read, so TTLs follow `TestClock` exactly. As in Redis,
 * bumping the view counter does not extend the TTL.
 */
import { Cart, CartStore } from "@till/core"
import { Clock, Effect, Layer, Option } from "effect"
import { full, requireCapacity } from "./internal/limits.js"

export interface Options {
  /** Most live carts held; expired carts are purged before a put is refused. */
  readonly maxCarts?: number
}

export const defaultMaxCarts = 100_000

interface Entry {
  readonly cart: Cart.Cart
  readonly expiresAtMs: number
}

export const make = (options: Options = {}): Effect.Effect<CartStore.CartStore["Service"]> =>
  Effect.sync(() => {
    const maxCarts = requireCapacity("maxCarts", options.maxCarts ?? defaultMaxCarts)
    const carts = new Map<string, Entry>()

    // The one place expiry is decided: an entry at or past its deadline is gone.
    const live = (cartId: string, nowMs: number): Entry | undefined => {
      const entry = carts.get(cartId)
      if (entry === undefined) return undefined
      if (entry.expiresAtMs <= nowMs) {
        carts.delete(cartId)
        return undefined
      }
      return entry
    }

    const purgeExpired = (nowMs: number) => {
      for (const [id, entry] of carts) if (entry.expiresAtMs <= nowMs) carts.delete(id)
    }

    return CartStore.CartStore.of({
      get: (cartId) =>
        Effect.map(Clock.currentTimeMillis, (nowMs) =>
          Option.map(Option.fromNullishOr(live(cartId, nowMs)), (e) => e.cart)
        ),

      put: (cart, ttlMs) =>
        Effect.flatMap(Clock.currentTimeMillis, (nowMs) => {
          // A non-positive TTL stores a cart that is already gone (Redis would refuse it).
          if (!(ttlMs > 0)) {
            carts.delete(cart.cart_id)
            return Effect.void
          }
          if (live(cart.cart_id, nowMs) === undefined && carts.size >= maxCarts) {
            purgeExpired(nowMs)
            if (carts.size >= maxCarts) return full("cart", maxCarts)
          }
          carts.set(cart.cart_id, { cart, expiresAtMs: nowMs + ttlMs })
          return Effect.void
        }),

      incrementViews: (cartId) =>
        Effect.map(Clock.currentTimeMillis, (nowMs) => {
          const entry = live(cartId, nowMs)
          if (entry === undefined) return Option.none()
          const cart = new Cart.Cart({ ...entry.cart, views: entry.cart.views + 1 }, { disableChecks: true })
          carts.set(cartId, { cart, expiresAtMs: entry.expiresAtMs })
          return Option.some(cart.views)
        })
    })
  })

export const layer: Layer.Layer<CartStore.CartStore> = Layer.effect(CartStore.CartStore, make())

export const layerWith = (options: Options): Layer.Layer<CartStore.CartStore> =>
  Layer.effect(CartStore.CartStore, make(options))
