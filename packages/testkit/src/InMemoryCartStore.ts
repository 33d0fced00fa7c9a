/**
 * The CartStore port in memory. A cart expires `ttlMs` after its last write, judged lazily
 * against Effect's `Clock` on every read, so TTLs follow `TestClock` exactly. Writes are a
 * compare-and-set on the version; views are a counter beside the cart (as a Redis hash field
 * apart from the cart's document), so bumping it never conflicts with a write and, as in
 * Redis, does not extend the TTL. Active carts are listed for the abandonment job by their last
 * write's time (`idleSince`), as the Redis store's index does.
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
  /** When it was last written (the writer's clock). */
  readonly lastChangeMs: number
  views: number
  /** Reported idle since its last change (`forgetIdle`). */
  forgotten: boolean
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

    const withViews = (entry: Entry) =>
      entry.views === entry.cart.views ? entry.cart : new Cart.Cart({ ...entry.cart, views: entry.views })

    /** Writes a cart (`previous` is the live entry it replaces, if any). */
    const write = (cart: Cart.Cart, ttlMs: number, nowMs: number, previous: Entry | undefined) =>
      Effect.suspend(() => {
        // A non-positive TTL stores a cart that is already gone (Redis would refuse it).
        if (!(ttlMs > 0)) {
          carts.delete(cart.cart_id)
          return Effect.succeed(cart)
        }
        if (previous === undefined && carts.size >= maxCarts) {
          purgeExpired(nowMs)
          if (carts.size >= maxCarts) return full("cart", maxCarts)
        }
        const views = previous?.views ?? cart.views
        carts.set(cart.cart_id, {
          cart,
          expiresAtMs: nowMs + ttlMs,
          lastChangeMs: nowMs,
          views,
          forgotten: false
        })
        return Effect.succeed(cart.views === views ? cart : new Cart.Cart({ ...cart, views }))
      })

    return CartStore.CartStore.of({
      get: (cartId) =>
        Effect.map(Clock.currentTimeMillis, (nowMs) =>
          Option.map(Option.fromNullishOr(live(cartId, nowMs)), withViews)
        ),

      insert: (cart, ttlMs) =>
        Effect.flatMap(Clock.currentTimeMillis, (nowMs) => {
          if (live(cart.cart_id, nowMs) !== undefined) return Effect.succeed(false)
          if (cart.version !== 1) return Effect.die(new Error(`a new cart is version 1, got ${cart.version}`))
          return Effect.as(write(cart, ttlMs, nowMs, undefined), true)
        }),

      update: (next, expectedVersion, ttlMs) =>
        Effect.flatMap(Clock.currentTimeMillis, (nowMs) => {
          const current = live(next.cart_id, nowMs)
          if (current === undefined || current.cart.version !== expectedVersion)
            return Effect.succeed(Option.none())
          const stored = new Cart.Cart({ ...next, version: expectedVersion + 1 })
          return Effect.map(write(stored, ttlMs, nowMs, current), Option.some)
        }),

      incrementViews: (cartId) =>
        Effect.map(Clock.currentTimeMillis, (nowMs) => {
          const entry = live(cartId, nowMs)
          if (entry === undefined) return Option.none()
          entry.views++
          return Option.some(entry.views)
        }),

      idleSince: (idleForMs, limit) =>
        Effect.flatMap(Clock.currentTimeMillis, (nowMs) => {
          const invalid = CartStore.invalidIdleReason(idleForMs, limit)
          if (invalid !== undefined) return Effect.die(new Error(`CartStore.idleSince: ${invalid}`))
          const cutoffMs = nowMs - idleForMs
          const idle: Array<CartStore.IdleCart> = []
          for (const [cartId, entry] of carts) {
            if (entry.expiresAtMs <= nowMs || entry.cart.status !== "active" || entry.forgotten) continue
            if (entry.lastChangeMs < cutoffMs) idle.push({ cartId, lastChangeMs: entry.lastChangeMs })
          }
          idle.sort((a, b) => a.lastChangeMs - b.lastChangeMs)
          return Effect.succeed(idle.slice(0, limit))
        }),

      forgetIdle: (idle) =>
        Effect.map(Clock.currentTimeMillis, (nowMs) => {
          const entry = live(idle.cartId, nowMs)
          if (entry === undefined || entry.forgotten || entry.lastChangeMs !== idle.lastChangeMs) return false
          entry.forgotten = true
          return true
        })
    })
  })

export const layer: Layer.Layer<CartStore.CartStore> = Layer.effect(CartStore.CartStore, make())

export const layerWith = (options: Options): Layer.Layer<CartStore.CartStore> =>
  Layer.effect(CartStore.CartStore, make(options))
