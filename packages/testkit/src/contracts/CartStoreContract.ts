/**
 * The CartStore contract: what every CartStore (in memory, Redis) must do. Register it from
 * an implementation's test file: `cartStoreContract("redis", RedisCartStore.layer, { supportsTestClock: false })`.
 * The store is built once and shared by every case, as a real Redis would be.
 */
import { expect, layer } from "@effect/vitest"
import { Cart, CartStore, Money, Sku } from "@till/core"
import { Effect, type Layer, Option, Result } from "effect"
import { TestClock } from "effect/testing"
import { encoded, uniqueId } from "../internal/contract.js"

export interface CartStoreContractOptions {
  /**
   * Whether TTLs follow Effect's `Clock` (so `TestClock` can expire a cart). Redis expires
   * keys on its own wall clock: pass false there and the TTL cases are skipped.
   */
  readonly supportsTestClock?: boolean
}

const hourMs = 60 * 60 * 1000
const encode = encoded(Cart.Cart)

const makeCart = Effect.gen(function* () {
  const cartId = yield* uniqueId("cart")
  const userId = yield* uniqueId("user")
  const usd = Money.currency("USD")
  const empty = Cart.empty(cartId, userId, usd, "2030-01-01T00:00:00.000Z")
  const items = [
    Cart.line(Sku.make(yield* uniqueId("sku")), "Mug", 2, Money.make(1250, "USD")),
    Cart.line(Sku.make(yield* uniqueId("sku")), "Tea, 100 g", 1, Money.make(899, "USD"))
  ]
  return Result.getOrThrow(Cart.withItems(empty, items, "2030-01-01T00:01:00.000Z"))
})

export const cartStoreContract = (
  name: string,
  storeLayer: Layer.Layer<CartStore.CartStore, unknown>,
  options: CartStoreContractOptions = {}
): void => {
  const supportsTestClock = options.supportsTestClock ?? true

  layer(storeLayer)(`CartStore contract: ${name}`, (it) => {
    const ttlCase = supportsTestClock ? it.effect : it.effect.skip

    it.effect("get of an unknown cart is None", () =>
      Effect.gen(function* () {
        const store = yield* CartStore.CartStore
        expect(Option.isNone(yield* store.get(yield* uniqueId("cart")))).toBe(true)
      })
    )

    it.effect("put then get returns the cart, items and money intact", () =>
      Effect.gen(function* () {
        const store = yield* CartStore.CartStore
        const cart = yield* makeCart
        yield* store.put(cart, hourMs)
        const got = yield* store.get(cart.cart_id)
        expect(Option.map(got, encode)).toEqual(Option.some(encode(cart)))
      })
    )

    it.effect("a second put replaces the cart", () =>
      Effect.gen(function* () {
        const store = yield* CartStore.CartStore
        const cart = yield* makeCart
        yield* store.put(cart, hourMs)
        const next = Result.getOrThrow(Cart.withItems(cart, cart.items.slice(1), "2030-01-01T00:02:00.000Z"))
        yield* store.put(next, hourMs)
        const got = Option.getOrThrow(yield* store.get(cart.cart_id))
        expect(encode(got)).toEqual(encode(next))
        expect(got.subtotal.amount).toBe(899)
      })
    )

    it.effect("carts are independent", () =>
      Effect.gen(function* () {
        const store = yield* CartStore.CartStore
        const a = yield* makeCart
        const b = yield* makeCart
        yield* store.put(a, hourMs)
        yield* store.put(b, hourMs)
        yield* store.incrementViews(a.cart_id)
        expect(Option.getOrThrow(yield* store.get(a.cart_id)).user_id).toBe(a.user_id)
        expect(Option.getOrThrow(yield* store.get(b.cart_id)).views).toBe(0)
      })
    )

    it.effect("incrementViews counts up and get sees it; an unknown cart is None", () =>
      Effect.gen(function* () {
        const store = yield* CartStore.CartStore
        const cart = yield* makeCart
        yield* store.put(cart, hourMs)
        expect(yield* store.incrementViews(cart.cart_id)).toEqual(Option.some(1))
        expect(yield* store.incrementViews(cart.cart_id)).toEqual(Option.some(2))
        expect(Option.getOrThrow(yield* store.get(cart.cart_id)).views).toBe(2)
        expect(yield* store.incrementViews(yield* uniqueId("cart"))).toEqual(Option.none())
      })
    )

    it.effect("concurrent incrementViews lose no view", () =>
      Effect.gen(function* () {
        const store = yield* CartStore.CartStore
        const cart = yield* makeCart
        yield* store.put(cart, hourMs)
        const n = 50
        const seen = yield* Effect.all(
          Array.from({ length: n }, () => store.incrementViews(cart.cart_id)),
          { concurrency: "unbounded" }
        )
        expect(seen.map(Option.getOrThrow).sort((a, b) => a - b)).toEqual(
          Array.from({ length: n }, (_, i) => i + 1)
        )
        expect(Option.getOrThrow(yield* store.get(cart.cart_id)).views).toBe(n)
      })
    )

    it.effect("a put with a non-positive TTL never leaves a readable cart", () =>
      Effect.gen(function* () {
        const store = yield* CartStore.CartStore
        const cart = yield* makeCart
        // Refusing the write or storing an already-expired cart are both fine; a live cart is not.
        yield* Effect.exit(store.put(cart, 0))
        yield* Effect.exit(store.put(cart, -1))
        expect(Option.isNone(yield* store.get(cart.cart_id))).toBe(true)
      })
    )

    ttlCase("a cart expires ttlMs after its put (TestClock)", () =>
      Effect.gen(function* () {
        const store = yield* CartStore.CartStore
        const cart = yield* makeCart
        yield* store.put(cart, 1_000)
        yield* TestClock.adjust("999 millis")
        expect(Option.isSome(yield* store.get(cart.cart_id))).toBe(true)
        yield* TestClock.adjust("1 millis")
        expect(Option.isNone(yield* store.get(cart.cart_id))).toBe(true)
        expect(yield* store.incrementViews(cart.cart_id)).toEqual(Option.none())
      })
    )

    ttlCase("a later put restarts the TTL (TestClock)", () =>
      Effect.gen(function* () {
        const store = yield* CartStore.CartStore
        const cart = yield* makeCart
        yield* store.put(cart, 1_000)
        yield* TestClock.adjust("600 millis")
        yield* store.put(cart, 1_000)
        yield* TestClock.adjust("600 millis")
        expect(Option.isSome(yield* store.get(cart.cart_id))).toBe(true)
        yield* TestClock.adjust("400 millis")
        expect(Option.isNone(yield* store.get(cart.cart_id))).toBe(true)
      })
    )

    ttlCase("an expired cart can be put again (TestClock)", () =>
      Effect.gen(function* () {
        const store = yield* CartStore.CartStore
        const cart = yield* makeCart
        yield* store.put(cart, 10)
        yield* TestClock.adjust("10 millis")
        expect(Option.isNone(yield* store.get(cart.cart_id))).toBe(true)
        yield* store.put(cart, hourMs)
        expect(Option.getOrThrow(yield* store.get(cart.cart_id)).views).toBe(0)
      })
    )
  })
}
