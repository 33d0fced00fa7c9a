/**
 * The cart entity: one `effect/cluster` entity per cart id serialises that cart's contended edits
 * (add, set quantity, remove). Without it, concurrent edits of one cart race on the store's
 * compare-and-set and read again after each lost round (Carts.ts), and past 8 lost rounds an edit
 * gives up with a 503: 64 writers on one hot cart lost most of their edits that way
 * (bench/results/redis.md). Through the entity they queue in the cart's mailbox and each is
 * applied once, in turn.
 *
 * - **Only when contended**: an edit first makes one compare-and-set round on the store itself
 *   (`Carts.editOnce`); only one that loses it (the cart is being edited right now) goes to the
 *   entity. Most carts are edited by one shopper, one request at a time, and an entity woken for
 *   every edit (a new cart, one edit: a new entity each journey) cost CPU and throughput: with
 *   carts in Redis, 4 shoppers, alternating builds (2026-12-03), 2.2-2.7 against 3.0-3.6 ms of
 *   CPU a journey and 399-483 against 299-367 journeys a second. A lost round wrote nothing, so
 *   the queued edit is still applied once.
 *
 * - **A cache, never the only copy**: the entity holds no state; each edit runs `Carts` against
 *   the store, compare-and-set included. Two owners of one cart during a rebalance (a shard
 *   moving) race exactly as two plain requests would, and the store keeps them correct.
 * - **Passivation**: an entity idle for `maxIdleMs` (5 s) is dropped (its mailbox with it). A live
 *   entity costs ~13-15 KB of heap, no more than a bare cluster entity (bench/results/actors.md), and a
 *   cart's edits come in bursts, so a short idle time bounds how many live at once.
 * - `till start` routes edits through it when carts live in Redis (Start.ts); embedded, edits go
 *   to the one process's store directly.
 * - **Limits**: a full mailbox (`mailboxCapacity`), a shard that is moving or a call that waits
 *   longer than `callTimeoutMs` answers `StoreUnavailable` naming the cart store: a 503 with
 *   `Retry-After`, never a 500, and never an edit applied twice (an edit is not retried here).
 * - Reads, creation, checkout's claim and reopen go to `Carts` directly: they write nothing a
 *   concurrent edit could lose, or are compare-and-sets of their own. So does an edit of an id Till
 *   never mints (the id comes from the request's path): it answers `CartNotFound` from the store
 *   without waking an entity, so junk ids cannot fill the process with entities (well-formed
 *   made-up ids still can, each for 5 s: a per-user limit on edits would close that).
 */
import { Cart, Carts, Errors, Sku } from "@till/core"
import { Effect, Layer, Option, Schema } from "effect"
import { Entity, type Sharding } from "effect/cluster"
import { Rpc } from "effect/rpc"
import * as Entities from "./Entities.js"

/** How the cart entity behaves: its idle passivation, its mailbox and a call's longest wait. */
export type Settings = Entities.Settings

export const defaults: Settings = { maxIdleMs: 5_000, mailboxCapacity: 256, callTimeoutMs: 5_000 }

const ChangeErrors = Schema.Union([
  Errors.CartNotFound,
  Errors.CartNotActive,
  Errors.SkuNotFound,
  Errors.CurrencyMismatch,
  Errors.ValidationError,
  Errors.StoreUnavailable
])

const edit = <const Tag extends string, Fields extends Schema.Struct.Fields>(tag: Tag, fields: Fields) =>
  Rpc.make(tag, {
    payload: { userId: Schema.String, sku: Sku.Sku, ...fields },
    success: Cart.Cart,
    error: ChangeErrors
  })

export const CartEntity = Entity.make("till/cart", [
  edit("addItem", { quantity: Schema.Int }),
  edit("setQuantity", { quantity: Schema.Int }),
  edit("removeItem", {})
])

type ChangeError = typeof ChangeErrors.Type

/**
 * An id Till mints for a cart (`Ids`: `cart_` and 20-26 of `0-9a-z`). Only those wake an entity;
 * any other id, which no cart made through the API has, goes to `Carts` directly.
 */
const isMintedCartId = (cartId: string) => /^cart_[0-9a-z]{20,26}$/.test(cartId)

/**
 * `Carts` whose edits go through the cart entity, and the entity itself, over the `Carts` (the
 * store-backed service) and the cluster in context.
 */
export const layer = (
  settings: Settings = defaults
): Layer.Layer<Carts.Carts, never, Carts.Carts | Sharding.Sharding> => {
  // One handlers object for every cart (the cart is the request's address), built once: a handler
  // built per entity would stay in memory with each live entity (measured: +2.2 KB an entity).
  const entity = Layer.unwrap(
    Effect.map(Carts.Carts, (carts) =>
      Entities.registered(
        CartEntity.toLayer(
          CartEntity.of({
            addItem: ({ address, payload }) =>
              carts.addItem(payload.userId, address.entityId, payload.sku, payload.quantity),
            setQuantity: ({ address, payload }) =>
              carts.setQuantity(payload.userId, address.entityId, payload.sku, payload.quantity),
            removeItem: ({ address, payload }) =>
              carts.removeItem(payload.userId, address.entityId, payload.sku)
          }),
          Entities.options(CartEntity.type, settings)
        )
      )
    )
  )
  const routed = Layer.effect(
    Carts.Carts,
    Effect.gen(function* () {
      const carts = yield* Carts.Carts
      const client = yield* CartEntity.client
      const answering = Entities.answering<Cart.Cart, ChangeError>("cart", settings.callTimeoutMs)
      // One round on the store first; only an edit that lost its compare-and-set (the cart is
      // being edited right now) queues in the cart's entity, where the edits take turns.
      const send = (
        userId: string,
        cartId: string,
        edit: Carts.Edit,
        queued: () => Effect.Effect<Cart.Cart, ChangeError | Entities.ClusterError>
      ) =>
        Effect.flatMap(
          carts.editOnce(userId, cartId, edit),
          Option.match({
            onSome: Effect.succeed,
            onNone: () => answering(`cart ${cartId}`, queued())
          })
        )
      return Carts.Carts.of({
        ...carts,
        addItem: (userId, cartId, sku, quantity) =>
          isMintedCartId(cartId)
            ? send(userId, cartId, { _tag: "addItem", sku, quantity }, () =>
                client(cartId).addItem({ userId, sku, quantity })
              )
            : carts.addItem(userId, cartId, sku, quantity),
        setQuantity: (userId, cartId, sku, quantity) =>
          isMintedCartId(cartId)
            ? send(userId, cartId, { _tag: "setQuantity", sku, quantity }, () =>
                client(cartId).setQuantity({ userId, sku, quantity })
              )
            : carts.setQuantity(userId, cartId, sku, quantity),
        removeItem: (userId, cartId, sku) =>
          isMintedCartId(cartId)
            ? send(userId, cartId, { _tag: "removeItem", sku }, () =>
                client(cartId).removeItem({ userId, sku })
              )
            : carts.removeItem(userId, cartId, sku)
      })
    })
  )
  return Layer.merge(routed, entity)
}
