/**
 * Carts: create, view (counts a view), add / update / remove items. Prices come from the
 * Catalog at the moment an item is added; the checkout prices again from the Catalog, so a
 * stale cart price is never charged. A cart lives `ttlMs` (30 days) after its last change.
 * Every write is a compare-and-set on the cart's version (read, change, write if unchanged,
 * else read again), so concurrent writers on any number of instances never lose an edit, and
 * a checkout claims exactly the version of the cart it priced.
 */
import { Clock, Context, Effect, Config as EffectConfig, Layer, Option, Schema } from "effect"
import * as Cart from "./Cart.js"
import { Catalog } from "./Catalog.js"
import { CartStore } from "./CartStore.js"
import {
  CartNotActive,
  CartNotFound,
  type CurrencyMismatch,
  SkuNotFound,
  StoreUnavailable,
  ValidationError
} from "./Errors.js"
import { Ids } from "./Ids.js"
import { decodeConfig, settingsLayers } from "./internal/decodeConfig.js"
import { IntBetween } from "./internal/intBetween.js"
import { storeCall } from "./internal/storeCall.js"
import * as Money from "./Money.js"
import { Resilience } from "./Resilience.js"
import { maxQuantity, type Sku } from "./Sku.js"

/** The carts' settings, with their bounds (a bad value fails at startup, see `layerConfig`). */
export const Config = Schema.Struct({
  /** How long a cart lives after its last change (API.md: 30 days). */
  ttlMs: IntBetween(60_000, 365 * 24 * 60 * 60 * 1000),
  /** The currency of a cart created without one (ISO 4217, e.g. "USD"). */
  defaultCurrency: Schema.String.check(Schema.isPattern(/^[A-Z]{3}$/))
})
export type Config = typeof Config.Type

export const defaults: Config = { ttlMs: 30 * 24 * 60 * 60 * 1000, defaultCurrency: "USD" }

/** Writes of one cart that may lose to other writers before one gives up (a hot cart is a bug). */
const maxConflicts = 8

/** An edit of one cart line, as `Carts.editOnce` takes it. */
export type Edit =
  | { readonly _tag: "addItem"; readonly sku: Sku; readonly quantity: number }
  | { readonly _tag: "setQuantity"; readonly sku: Sku; readonly quantity: number }
  | { readonly _tag: "removeItem"; readonly sku: Sku }

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
    /**
     * One round of an edit (`addItem`, `setQuantity` or `removeItem`): the cart written, or None,
     * writing nothing, when another writer changed the cart between this read and this write. The
     * edits above read again up to 8 times; this is for a caller that queues contended edits
     * elsewhere (the runtime's cart entity) and spares the uncontended ones the queue.
     */
    readonly editOnce: (
      userId: string,
      cartId: string,
      edit: Edit
    ) => Effect.Effect<Option.Option<Cart.Cart>, ChangeError>
    /**
     * The checkout's claim: `cart` (as read and priced) becomes `checked_out` by `orderId`, if it
     * is still that version. "changed" when it was written meanwhile (read and price it again).
     */
    readonly claim: (
      cart: Cart.Cart,
      orderId: string
    ) => Effect.Effect<"claimed" | "changed", StoreUnavailable>
    /** Gives a cart claimed by `orderId` back to its owner (the checkout ended without an order). */
    readonly reopen: (cartId: string, orderId: string) => Effect.Effect<void, StoreUnavailable>
  }
>()("@till/core/Carts") {}

const tooMany = (quantity: number) =>
  new ValidationError({
    errors: [{ path: "quantity", message: `must be at most ${maxQuantity} (got ${quantity})` }]
  })

export const make = (config: Config = defaults) =>
  Effect.gen(function* () {
    const raw = yield* CartStore
    const catalog = yield* Catalog
    const ids = yield* Ids
    // Every store call under the `store` policy; only the read is retried (internal/storeCall.ts).
    const call = storeCall(yield* Resilience, "cart")
    const store: typeof raw = {
      get: (cartId) => call("retry", raw.get(cartId)),
      insert: (cart, ttlMs) => call("once", raw.insert(cart, ttlMs)),
      update: (cart, expectedVersion, ttlMs) => call("once", raw.update(cart, expectedVersion, ttlMs)),
      incrementViews: (cartId) => call("once", raw.incrementViews(cartId)),
      idleSince: (idleForMs, limit) => call("retry", raw.idleSince(idleForMs, limit)),
      forgetIdle: (idle) => call("retry", raw.forgetIdle(idle))
    }
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

    /**
     * Reads, changes and writes a cart as a compare-and-set, reading again when another writer
     * got in first. `decide` answers the write to make (the cart read and its next state), or
     * undefined to write nothing (None).
     */
    const writeWithRetry = <E>(
      cartId: string,
      decide: () => Effect.Effect<{ readonly expected: Cart.Cart; readonly next: Cart.Cart } | undefined, E>
    ): Effect.Effect<Option.Option<Cart.Cart>, E | StoreUnavailable> =>
      Effect.gen(function* () {
        for (let attempt = 0; attempt < maxConflicts; attempt++) {
          const decided = yield* decide()
          if (decided === undefined) return Option.none()
          const written = yield* store.update(decided.next, decided.expected.version, config.ttlMs)
          if (Option.isSome(written)) return written
        }
        return yield* Effect.fail(
          new StoreUnavailable({
            store: "cart",
            reason: `cart ${cartId} kept changing under ${maxConflicts} writes`
          })
        )
      })

    /** The write an edit makes of the cart as it is now: the cart read and its next state. */
    const decideChange = (
      userId: string,
      cartId: string,
      sku: Sku,
      quantityFor: (current: number) => number
    ) =>
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
        return { expected: cart, next }
      })

    /** How an edit changes its line's quantity (an `addItem` of a bad quantity fails here). */
    const quantityChange = (edit: Edit): Effect.Effect<(current: number) => number, ValidationError> => {
      if (edit._tag !== "addItem")
        return Effect.succeed(edit._tag === "setQuantity" ? () => edit.quantity : () => 0)
      const quantity = edit.quantity
      return Number.isSafeInteger(quantity) && quantity >= 1
        ? Effect.succeed((current: number) => current + quantity)
        : Effect.fail(
            new ValidationError({ errors: [{ path: "quantity", message: "must be a whole number ≥ 1" }] })
          )
    }

    /** An edit, read again after each lost compare-and-set round (up to `maxConflicts`). */
    const editWithRetry = (
      userId: string,
      cartId: string,
      edit: Edit
    ): Effect.Effect<Cart.Cart, ChangeError> =>
      Effect.flatMap(quantityChange(edit), (quantityFor) =>
        writeWithRetry(cartId, () => decideChange(userId, cartId, edit.sku, quantityFor)).pipe(
          Effect.map(Option.getOrThrow) // an edit always writes
        )
      )

    return Carts.of({
      create: Effect.fn("Carts.create")(function* (userId: string, currency?: string) {
        const code = Money.currency(currency ?? config.defaultCurrency)
        const cart = Cart.empty(yield* ids.next("cart"), userId, code, yield* nowIso)
        if (!(yield* store.insert(cart, config.ttlMs)))
          return yield* Effect.die(new Error(`cart id ${cart.cart_id} was minted twice`))
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
        editWithRetry(userId, cartId, { _tag: "addItem", sku, quantity })
      ),
      setQuantity: Effect.fn("Carts.setQuantity")(
        (userId: string, cartId: string, sku: Sku, quantity: number) =>
          editWithRetry(userId, cartId, { _tag: "setQuantity", sku, quantity })
      ),
      removeItem: Effect.fn("Carts.removeItem")((userId: string, cartId: string, sku: Sku) =>
        editWithRetry(userId, cartId, { _tag: "removeItem", sku })
      ),
      editOnce: Effect.fn("Carts.editOnce")(function* (userId: string, cartId: string, edit: Edit) {
        const write = yield* decideChange(userId, cartId, edit.sku, yield* quantityChange(edit))
        return yield* store.update(write.next, write.expected.version, config.ttlMs)
      }),
      claim: Effect.fn("Carts.claim")(function* (cart: Cart.Cart, orderId: string) {
        const next = new Cart.Cart({
          ...cart,
          status: "checked_out",
          order_id: orderId,
          updated_at: yield* nowIso
        })
        const written = yield* store.update(next, cart.version, config.ttlMs)
        return Option.isSome(written) ? ("claimed" as const) : ("changed" as const)
      }),
      reopen: Effect.fn("Carts.reopen")((cartId: string, orderId: string) =>
        Effect.asVoid(
          writeWithRetry(cartId, () =>
            Effect.gen(function* () {
              const found = yield* store.get(cartId)
              if (Option.isNone(found)) return undefined
              const cart = found.value
              if (cart.status !== "checked_out" || cart.order_id !== orderId) return undefined
              const { order_id: _, ...rest } = cart
              return {
                expected: cart,
                next: new Cart.Cart({ ...rest, status: "active", updated_at: yield* nowIso })
              }
            })
          )
        )
      )
    })
  })

/** What the carts need: their store, the catalog (prices, names), ids and the store policy. */
export type Requirements = CartStore | Catalog | Ids | Resilience

/**
 * The carts with the default settings.
 * @category layers
 */
export const layer: Layer.Layer<Carts, never, Requirements> = Layer.effect(Carts, make(defaults))

const layers = settingsLayers(Carts, Config, defaults, make)

/**
 * The carts with settings given in code, each defaulting to `defaults`; an out-of-bounds value is
 * a defect when the layer is built.
 * @example Carts.layerWith({ defaultCurrency: "EUR" })
 * @category layers
 */
export const layerWith = (settings: Partial<Config>): Layer.Layer<Carts, never, Requirements> =>
  layers.layerWith(settings)

/**
 * The settings from Effect `Config` under `carts.*`, each defaulting to `base`, then decoded with
 * `Config` (env with `ConfigProvider.constantCase`: `CARTS_DEFAULT_CURRENCY=EUR`).
 */
export const config = (base: Config = defaults): EffectConfig.Config<Config> =>
  EffectConfig.all({
    ttlMs: EffectConfig.withDefault(EffectConfig.Int("ttlMs"), base.ttlMs),
    defaultCurrency: EffectConfig.withDefault(EffectConfig.String("defaultCurrency"), base.defaultCurrency)
  }).pipe(EffectConfig.nested("carts"), EffectConfig.mapEffect(decodeConfig(Config, "carts")))

/**
 * The carts with settings read from `Config` (`config()`): an invalid value fails the layer at
 * startup with a `ConfigError` naming the key.
 * @category layers
 */
export const layerConfig = (
  settings: EffectConfig.Config<Config> = config()
): Layer.Layer<Carts, EffectConfig.ConfigError, Requirements> => layers.layerConfig(settings)
