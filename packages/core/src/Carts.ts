/**
 * Carts: create, view (counts a view), add / update / remove items. Prices come from the
 * Catalog at the moment an item is added; the checkout prices again from the Catalog, so a
 * stale cart price is never charged. A cart lives `ttlMs` (30 days) after its last change.
 * Writes of one cart are serialized in-process; across processes the runtime routes a
 * cart's writes to its one cart actor.
 */
import { Clock, Context, Effect, Layer, Option } from "effect"
import * as Cart from "./Cart.js"
import { Catalog } from "./Catalog.js"
import { CartStore } from "./CartStore.js"
import {
  CartNotActive,
  CartNotFound,
  type CurrencyMismatch,
  SkuNotFound,
  type StoreUnavailable,
  ValidationError
} from "./Errors.js"
import { Ids } from "./Ids.js"
import { makeKeyedLock } from "./internal/keyedLock.js"
import * as Money from "./Money.js"
import { maxQuantity, type Sku } from "./Sku.js"

export interface Config {
  readonly ttlMs: number
  readonly defaultCurrency: string
}

export const defaults: Config = { ttlMs: 30 * 24 * 60 * 60 * 1000, defaultCurrency: "USD" }

type ChangeError =
  | CartNotFound
  | CartNotActive
  | SkuNotFound
  | CurrencyMismatch
  | ValidationError
  | StoreUnavailable

export class Carts extends Context.Service<
  Carts,
  {
    readonly create: (userId: string, currency?: string) => Effect.Effect<Cart.Cart, StoreUnavailable>
    /** The caller's cart (another user's cart is `CartNotFound`); counts a view. */
    readonly view: (
      userId: string,
      cartId: string
    ) => Effect.Effect<Cart.Cart, CartNotFound | StoreUnavailable>
    /** The caller's cart, without counting a view. */
    readonly get: (
      userId: string,
      cartId: string
    ) => Effect.Effect<Cart.Cart, CartNotFound | StoreUnavailable>
    /** Adds `quantity` units of a SKU (to its line, if present). */
    readonly addItem: (
      userId: string,
      cartId: string,
      sku: Sku,
      quantity: number
    ) => Effect.Effect<Cart.Cart, ChangeError>
    /** Sets a line's quantity; 0 removes the line. */
    readonly setQuantity: (
      userId: string,
      cartId: string,
      sku: Sku,
      quantity: number
    ) => Effect.Effect<Cart.Cart, ChangeError>
    readonly removeItem: (userId: string, cartId: string, sku: Sku) => Effect.Effect<Cart.Cart, ChangeError>
    readonly markCheckedOut: (cartId: string) => Effect.Effect<void, StoreUnavailable>
  }
>()("@till/core/Carts") {}

const tooMany = (quantity: number) =>
  new ValidationError({
    errors: [{ path: "quantity", message: `must be at most ${maxQuantity} (got ${quantity})` }]
  })

export const make = (config: Config = defaults) =>
  Effect.gen(function* () {
    const store = yield* CartStore
    const catalog = yield* Catalog
    const ids = yield* Ids
    const lock = yield* makeKeyedLock()
    const nowIso = Effect.map(Clock.currentTimeMillis, (ms) => new Date(ms).toISOString())

    const load = (userId: string, cartId: string) =>
      store.get(cartId).pipe(
        Effect.flatMap(
          Option.match({
            onNone: () => Effect.fail(new CartNotFound({ cartId })),
            // Another user's cart answers as if it did not exist (404, never 403).
            onSome: (cart) =>
              cart.user_id === userId ? Effect.succeed(cart) : Effect.fail(new CartNotFound({ cartId }))
          })
        )
      )

    const change = (
      userId: string,
      cartId: string,
      sku: Sku,
      quantityFor: (current: number) => number
    ): Effect.Effect<Cart.Cart, ChangeError> =>
      lock.withLock(cartId)(
        Effect.gen(function* () {
          const cart = yield* load(userId, cartId)
          if (cart.status !== "active") return yield* Effect.fail(new CartNotActive({ cartId }))
          const quantity = quantityFor(Cart.quantityOf(cart, sku))
          if (!Number.isSafeInteger(quantity) || quantity < 0) {
            return yield* Effect.fail(
              new ValidationError({ errors: [{ path: "quantity", message: "must be a whole number ≥ 0" }] })
            )
          }
          if (quantity > maxQuantity) return yield* Effect.fail(tooMany(quantity))
          let item: Cart.CartItem | undefined
          if (quantity > 0) {
            const product = yield* catalog.get(sku)
            if (Option.isNone(product)) return yield* Effect.fail(new SkuNotFound({ sku }))
            if (product.value.price.currency !== cart.currency) {
              return yield* Effect.fail(
                new ValidationError({
                  errors: [
                    {
                      path: "sku",
                      message: `${sku} is priced in ${product.value.price.currency}, the cart in ${cart.currency}`
                    }
                  ]
                })
              )
            }
            item = Cart.line(sku, product.value.name, quantity, product.value.price)
          }
          const items = Cart.setLine(cart.items, item, sku)
          if (items.length > Cart.maxLines) {
            return yield* Effect.fail(
              new ValidationError({
                errors: [{ path: "sku", message: `a cart holds at most ${Cart.maxLines} lines` }]
              })
            )
          }
          const next = yield* Effect.fromResult(Cart.withItems(cart, items, yield* nowIso))
          yield* store.put(next, config.ttlMs)
          return next
        })
      )

    return Carts.of({
      create: Effect.fn("Carts.create")(function* (userId: string, currency?: string) {
        const code = Money.currency(currency ?? config.defaultCurrency)
        const cart = Cart.empty(yield* ids.next("cart"), userId, code, yield* nowIso)
        yield* store.put(cart, config.ttlMs)
        return cart
      }),
      view: Effect.fn("Carts.view")(function* (userId: string, cartId: string) {
        const cart = yield* load(userId, cartId)
        const views = yield* store.incrementViews(cartId)
        return Option.match(views, {
          onNone: () => cart,
          onSome: (n) => new Cart.Cart({ ...cart, views: n })
        })
      }),
      get: (userId, cartId) => load(userId, cartId),
      addItem: Effect.fn("Carts.addItem")((userId: string, cartId: string, sku: Sku, quantity: number) =>
        Number.isSafeInteger(quantity) && quantity >= 1
          ? change(userId, cartId, sku, (current) => current + quantity)
          : Effect.fail(
              new ValidationError({ errors: [{ path: "quantity", message: "must be a whole number ≥ 1" }] })
            )
      ),
      setQuantity: Effect.fn("Carts.setQuantity")(
        (userId: string, cartId: string, sku: Sku, quantity: number) =>
          change(userId, cartId, sku, () => quantity)
      ),
      removeItem: Effect.fn("Carts.removeItem")((userId: string, cartId: string, sku: Sku) =>
        change(userId, cartId, sku, () => 0)
      ),
      markCheckedOut: (cartId) =>
        lock.withLock(cartId)(
          Effect.gen(function* () {
            const cart = yield* store.get(cartId)
            if (Option.isNone(cart) || cart.value.status === "checked_out") return
            yield* store.put(
              new Cart.Cart({ ...cart.value, status: "checked_out", updated_at: yield* nowIso }),
              config.ttlMs
            )
          })
        )
    })
  })

export const layer = (config: Config = defaults): Layer.Layer<Carts, never, CartStore | Catalog | Ids> =>
  Layer.effect(Carts, make(config))
