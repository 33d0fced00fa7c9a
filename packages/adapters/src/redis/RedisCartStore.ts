/**
 * The CartStore port on Redis (CartStore.ts): one hash per cart (the encoded cart, its version,
 * its view counter), a TTL renewed by every write (PEXPIRE, on Redis's clock), and a sorted set of
 * active carts by their last change for the abandonment job (internal/cartScripts.ts has the
 * layout and the scripts).
 *
 * Round trips: `get` is one HMGET; `insert`, `update` and `incrementViews` are one EVALSHA each.
 * An update is a compare-and-set on the version inside its script, so of any number of writers
 * (on any number of instances) exactly one wins each version and the others read again (Carts.ts);
 * the view counter is its own field bumped by HINCRBY, which no cart write overwrites.
 *
 * Abandonment: `idleSince(idleForMs, limit)` lists carts whose last change is older than
 * `idleForMs` by Effect's `Clock` (the index's scores are the writers' clocks, like the rate
 * limits' times), oldest first, without scanning keys; a checked-out cart leaves the index with
 * the write that checks it out. The job reports each one (`cart.abandoned`), then calls
 * `forgetIdle` with the time it was listed with, which drops the entry only if the cart did not
 * change meanwhile: a crash between the two reports a cart twice, never loses one.
 */
import { Cart, CartStore, type Errors } from "@till/core"
import { Clock, Effect, Layer, Option, Schema } from "effect"
import * as Scripts from "./internal/cartScripts.js"
import { RedisClient } from "./RedisClient.js"

/** Most index entries `idleSince` answers at once. */
export const maxIdlePage = CartStore.maxIdlePage
/** Index entries one `idleSince` looks at (live or expired) before it answers what it found. */
export const maxIdleExamined = 10_000

const store = "cart"

const cartKey = (prefix: string, cartId: string) => `${prefix}cart:${cartId}`
const indexKey = (prefix: string) => `${prefix}carts:active`

/** An id `Cart.CartId` accepts; anything else cannot name a stored cart, so it is never sent. */
const isCartId = Schema.is(Cart.CartId)

const encodeCart = Schema.encodeSync(Cart.Cart)
const decodeCart = Schema.decodeUnknownSync(Cart.Cart)

/** The stored document, or a defect naming the cart: a doc Till wrote and cannot read is a bug. */
const readDoc = (cartId: string, doc: string, version: string | null, views: string | null) =>
  Effect.try({
    try: () =>
      new Cart.Cart({
        ...decodeCart(JSON.parse(doc)),
        version: Number(version),
        views: Number(views ?? 0)
      }),
    catch: (error) => new Error(`stored cart ${cartId} does not decode: ${String(error)}`)
  }).pipe(Effect.orDie)

const requireTtl = (ttlMs: number): Effect.Effect<void> =>
  Number.isSafeInteger(ttlMs)
    ? Effect.void
    : Effect.die(new Error(`CartStore: ttlMs must be an integer (milliseconds), got ${ttlMs}`))

/** The abandonment index's two calls on `client`. */
const idleOps = (client: RedisClient["Service"]) => ({
  idleSince: Effect.fn("RedisCartStore.idleSince")(function* (idleForMs: number, limit: number) {
    const invalid = CartStore.invalidIdleReason(idleForMs, limit)
    if (invalid !== undefined) return yield* Effect.die(new Error(`idleSince: ${invalid}`))
    const cutoffMs = (yield* Clock.currentTimeMillis) - idleForMs
    const pairs = yield* client.call(store, (redis) =>
      Scripts.idle.run(
        redis,
        [indexKey(client.keyPrefix)],
        [cutoffMs, limit, maxIdleExamined, cartKey(client.keyPrefix, "")]
      )
    )
    const found = pairs as ReadonlyArray<string>
    const idle: Array<IdleCart> = []
    for (let i = 0; i + 1 < found.length; i += 2)
      idle.push({ cartId: found[i]!, lastChangeMs: Number(found[i + 1]) })
    return idle as ReadonlyArray<IdleCart>
  }),
  forgetIdle: Effect.fn("RedisCartStore.forgetIdle")(function* (idle: IdleCart) {
    if (!isCartId(idle.cartId)) return false
    const dropped = yield* client.call(store, (redis) =>
      Scripts.forgetIdle.run(redis, [indexKey(client.keyPrefix)], [idle.cartId, idle.lastChangeMs])
    )
    return dropped === 1
  })
})

/** The store over the `RedisClient` in context. */
export const make: Effect.Effect<CartStore.CartStore["Service"], never, RedisClient> = Effect.gen(
  function* () {
    const client = yield* RedisClient
    const prefix = client.keyPrefix
    const index = indexKey(prefix)

    const get = Effect.fn("RedisCartStore.get")(function* (cartId: string) {
      if (!isCartId(cartId)) return Option.none<Cart.Cart>()
      const [doc, version, views] = yield* client.call(store, (redis) =>
        redis.hmget(cartKey(prefix, cartId), "doc", "version", "views")
      )
      if (doc === null || doc === undefined) return Option.none<Cart.Cart>()
      return Option.some(yield* readDoc(cartId, doc, version ?? null, views ?? null))
    })

    const insert = Effect.fn("RedisCartStore.insert")(function* (cart: Cart.Cart, ttlMs: number) {
      yield* requireTtl(ttlMs)
      if (cart.version !== 1)
        return yield* Effect.die(new Error(`a new cart is version 1, got ${cart.version}`))
      const nowMs = yield* Clock.currentTimeMillis
      const inserted = yield* client.call(store, (redis) =>
        Scripts.insert.run(
          redis,
          [cartKey(prefix, cart.cart_id), index],
          [
            JSON.stringify(encodeCart(cart)),
            ttlMs,
            nowMs,
            cart.cart_id,
            cart.status === "active" ? 1 : 0,
            cart.views,
            nowMs - ttlMs
          ]
        )
      )
      return inserted === 1
    })

    const update = Effect.fn("RedisCartStore.update")(function* (
      next: Cart.Cart,
      expectedVersion: number,
      ttlMs: number
    ) {
      yield* requireTtl(ttlMs)
      if (!Number.isSafeInteger(expectedVersion) || expectedVersion < 1) return Option.none<Cart.Cart>()
      const nowMs = yield* Clock.currentTimeMillis
      const stored = new Cart.Cart({ ...next, version: expectedVersion + 1 })
      const views = yield* client.call(store, (redis) =>
        Scripts.update.run(
          redis,
          [cartKey(prefix, next.cart_id), index],
          [
            expectedVersion,
            JSON.stringify(encodeCart(stored)),
            ttlMs,
            nowMs,
            next.cart_id,
            next.status === "active" ? 1 : 0,
            nowMs - ttlMs
          ]
        )
      )
      if (typeof views !== "number" || views < 0) return Option.none<Cart.Cart>()
      return Option.some(views === stored.views ? stored : new Cart.Cart({ ...stored, views }))
    })

    const incrementViews = Effect.fn("RedisCartStore.incrementViews")(function* (cartId: string) {
      if (!isCartId(cartId)) return Option.none<number>()
      const views = yield* client.call(store, (redis) =>
        Scripts.incrementViews.run(redis, [cartKey(prefix, cartId)], [])
      )
      return typeof views === "number" && views >= 0 ? Option.some(views) : Option.none<number>()
    })

    return CartStore.CartStore.of({ get, insert, update, incrementViews, ...idleOps(client) })
  }
)

/**
 * The store on the `RedisClient` it is given (`RedisClient.layerConfig()` in production).
 * @category layers
 */
export const layer: Layer.Layer<CartStore.CartStore, never, RedisClient> = Layer.effect(
  CartStore.CartStore,
  make
)

/** An active cart idle in the index: its id and its last change (the caller's ms). */
export type IdleCart = CartStore.IdleCart

/**
 * Up to `limit` (1..`maxIdlePage`) active carts unchanged for more than `idleForMs`, oldest first,
 * from the index (no key scan): the store's `idleSince`, on the `RedisClient` in context.
 * @example const idle = yield* RedisCartStore.idleSince(60 * 60 * 1000, 100)
 */
export const idleSince = (
  idleForMs: number,
  limit: number
): Effect.Effect<ReadonlyArray<IdleCart>, Errors.StoreUnavailable, RedisClient> =>
  Effect.flatMap(RedisClient, (client) => idleOps(client).idleSince(idleForMs, limit))

/**
 * Drops `idle` from the index once the job has reported it, only if the cart has not changed since
 * it was listed (a changed cart is active again and stays). True when dropped.
 */
export const forgetIdle = (idle: IdleCart): Effect.Effect<boolean, Errors.StoreUnavailable, RedisClient> =>
  Effect.flatMap(RedisClient, (client) => idleOps(client).forgetIdle(idle))
