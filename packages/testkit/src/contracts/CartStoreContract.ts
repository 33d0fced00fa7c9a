/**
 * The CartStore contract: what every CartStore (in memory, Redis) must do. Register it from
 * an implementation's test file:
 * `cartStoreContract("redis", RedisCartStore.layer, { supportsTestClock: false, realClockTtl: { ttlMs: 1_000, marginMs: 250 } })`.
 * What it guards (CartStore.ts): every write is a compare-and-set on the cart's version, so no
 * write is lost; views are counted apart, so a view never conflicts with an edit nor is lost to
 * one; a write renews the TTL, a view does not; active carts are listed by their last change for
 * the abandonment job. The layer is built afresh for every case.
 */
import { describe, expect, it } from "@effect/vitest"
import { Cart, CartStore, Money, Sku } from "@till/core"
import { Arbitrary, Cause, Clock, Duration, Effect, type Layer, Option, Result, Schema } from "effect"
import { TestClock } from "effect/testing"
import { encoded, uniqueId } from "../internal/contract.js"

export interface CartStoreContractOptions {
  /**
   * Whether TTLs follow Effect's `Clock` (so `TestClock` can expire a cart). Redis expires
   * keys on its own wall clock: pass false there, and `realClockTtl` to run the TTL cases on the
   * real clock (they are skipped without it).
   */
  readonly supportsTestClock?: boolean
  /**
   * The TTL cases on the real clock, for a store that expires carts on its server's clock: carts
   * live `ttlMs`, and each check keeps `marginMs` from the deadline on the side it asserts (a
   * cart is read alive `marginMs` before it, and gone `marginMs` after it), for the sleeps'
   * overshoot and the server's expiry resolution. Ignored when `supportsTestClock` is true.
   */
  readonly realClockTtl?: { readonly ttlMs: number; readonly marginMs: number }
}

/**
 * How the TTL cases pass time. On `TestClock` the boundaries are exact (alive 1 ms before the
 * deadline, gone at it); on the real clock they keep a margin each side.
 */
interface TtlClock {
  readonly test: typeof it.effect
  readonly advance: (ms: number) => Effect.Effect<void>
  readonly ttlMs: number
  /** How far before the deadline a cart is still read alive. */
  readonly marginMs: number
  /** How far past the deadline it is read gone (0: at the deadline). */
  readonly slackMs: number
  /** A TTL short enough to wait out in a case. */
  readonly shortTtlMs: number
}

const ttlClock = (options: CartStoreContractOptions): TtlClock | undefined => {
  if (options.supportsTestClock ?? true)
    return {
      test: it.effect,
      advance: (ms) => TestClock.adjust(Duration.millis(ms)),
      ttlMs: 1_000,
      marginMs: 1,
      slackMs: 0,
      shortTtlMs: 10
    }
  const real = options.realClockTtl
  if (real === undefined) return undefined
  if (!(real.marginMs >= 1 && real.ttlMs >= 4 * real.marginMs))
    throw new Error("cartStoreContract: realClockTtl needs marginMs >= 1 and ttlMs >= 4 * marginMs")
  return {
    test: it.live,
    advance: (ms) => Effect.sleep(Duration.millis(ms)),
    ttlMs: real.ttlMs,
    marginMs: real.marginMs,
    slackMs: real.marginMs,
    shortTtlMs: Math.max(1, Math.floor(real.marginMs / 5))
  }
}

type Store = CartStore.CartStore["Service"]

const hourMs = 60 * 60 * 1000
const encode = encoded(Cart.Cart)

const makeCart = Effect.gen(function* () {
  const usd = Money.currency("USD")
  const empty = Cart.empty(yield* uniqueId("cart"), yield* uniqueId("user"), usd, "2030-01-01T00:00:00.000Z")
  const items = [
    Cart.line(Sku.make(yield* uniqueId("sku")), "Mug", 2, Money.make(1250, "USD")),
    Cart.line(Sku.make(yield* uniqueId("sku")), "Tea, 100 g", 1, Money.make(899, "USD"))
  ]
  return Result.getOrThrow(Cart.withItems(empty, items, "2030-01-01T00:01:00.000Z"))
})

/** `cart` edited: its lines after the first removed, `n` seconds later. */
const edited = (cart: Cart.Cart, n = 1) =>
  Result.getOrThrow(
    Cart.withItems(cart, cart.items.slice(0, 1), `2030-01-01T00:02:${String(n % 60).padStart(2, "0")}.000Z`)
  )

const stored = (store: Store, cartId: string) => Effect.map(store.get(cartId), Option.getOrThrow)

/** An inserted cart. */
const inserted = (store: Store, ttlMs = hourMs) =>
  Effect.gen(function* () {
    const cart = yield* makeCart
    expect(yield* store.insert(cart, ttlMs)).toBe(true)
    return cart
  })

export const cartStoreContract = (
  name: string,
  storeLayer: Layer.Layer<CartStore.CartStore, unknown>,
  options: CartStoreContractOptions = {}
): void => {
  const clock = ttlClock(options)
  const ttlCase = clock?.test ?? it.effect.skip
  const { advance, ttlMs, marginMs, slackMs, shortTtlMs } = clock ?? ttlClock({ supportsTestClock: true })!
  const clockName = (options.supportsTestClock ?? true) ? "TestClock" : "real clock"
  /** Runs `body` against a store built for it alone. */
  const run = <A, E>(body: (store: Store) => Effect.Effect<A, E, CartStore.CartStore>) =>
    Effect.flatMap(CartStore.CartStore, body).pipe(Effect.provide(storeLayer, { local: true }))

  describe(`CartStore contract: ${name}`, () => {
    it.effect("get of an unknown cart is None", () =>
      run((store) =>
        Effect.gen(function* () {
          expect(Option.isNone(yield* store.get(yield* uniqueId("cart")))).toBe(true)
        })
      )
    )

    it.effect("insert then get returns the cart at version 1, items and money intact", () =>
      run((store) =>
        Effect.gen(function* () {
          const cart = yield* inserted(store)
          expect(encode(yield* stored(store, cart.cart_id))).toEqual(encode(cart))
          expect(cart.version).toBe(1)
        })
      )
    )

    it.effect("insert of an existing id is false and writes nothing", () =>
      run((store) =>
        Effect.gen(function* () {
          const cart = yield* inserted(store)
          expect(yield* store.insert(edited(cart), hourMs)).toBe(false)
          expect(encode(yield* stored(store, cart.cart_id))).toEqual(encode(cart))
        })
      )
    )

    it.effect(
      "update is a compare-and-set: stored at expectedVersion + 1; a stale version writes nothing",
      () =>
        run((store) =>
          Effect.gen(function* () {
            const cart = yield* inserted(store)
            const next = edited(cart)
            const updated = Option.getOrThrow(yield* store.update(next, 1, hourMs))
            expect(encode(updated)).toEqual(encode(new Cart.Cart({ ...next, version: 2 })))
            expect(encode(yield* stored(store, cart.cart_id))).toEqual(encode(updated))
            // A writer that read version 1 (or guesses ahead) loses.
            expect(yield* store.update(edited(cart, 2), 1, hourMs)).toEqual(Option.none())
            expect(yield* store.update(edited(cart, 3), 3, hourMs)).toEqual(Option.none())
            expect(encode(yield* stored(store, cart.cart_id))).toEqual(encode(updated))
            // Checkout's claim is an update too.
            const claimed = new Cart.Cart({ ...updated, status: "checked_out", order_id: "ord_1" })
            expect(
              Option.map(yield* store.update(claimed, 2, hourMs), (c) => [c.status, c.order_id, c.version])
            ).toEqual(Option.some(["checked_out", "ord_1", 3]))
            // An unknown cart: None, nothing created.
            const ghost = yield* makeCart
            expect(yield* store.update(ghost, 1, hourMs)).toEqual(Option.none())
            expect(Option.isNone(yield* store.get(ghost.cart_id))).toBe(true)
          })
        )
    )

    it.effect("concurrent updates from one version: exactly one wins", () =>
      run((store) =>
        Effect.gen(function* () {
          const cart = yield* inserted(store)
          const attempts = Array.from({ length: 30 }, (_, i) => edited(cart, i))
          const results = yield* Effect.forEach(attempts, (next) => store.update(next, 1, hourMs), {
            concurrency: "unbounded"
          })
          const winners = attempts.filter((_, i) => Option.isSome(results[i]!))
          expect(winners.length).toBe(1)
          expect(encode(yield* stored(store, cart.cart_id))).toEqual(
            encode(new Cart.Cart({ ...winners[0]!, version: 2 }))
          )
        })
      )
    )

    it.effect("incrementViews counts up and get sees it; an unknown cart is None", () =>
      run((store) =>
        Effect.gen(function* () {
          const cart = yield* inserted(store)
          expect(yield* store.incrementViews(cart.cart_id)).toEqual(Option.some(1))
          expect(yield* store.incrementViews(cart.cart_id)).toEqual(Option.some(2))
          const seen = yield* stored(store, cart.cart_id)
          expect([seen.views, seen.version]).toEqual([2, 1])
          expect(yield* store.incrementViews(yield* uniqueId("cart"))).toEqual(Option.none())
        })
      )
    )

    it.effect("concurrent incrementViews lose no view", () =>
      run((store) =>
        Effect.gen(function* () {
          const cart = yield* inserted(store)
          const seen = yield* Effect.all(
            Array.from({ length: 50 }, () => store.incrementViews(cart.cart_id)),
            { concurrency: "unbounded" }
          )
          expect(seen.map(Option.getOrThrow).sort((a, b) => a - b)).toEqual(
            Array.from({ length: 50 }, (_, i) => i + 1)
          )
          expect((yield* stored(store, cart.cart_id)).views).toBe(50)
        })
      )
    )

    const op = Arbitrary.schema(Schema.Literals(["view", "edit"]))

    it.effect.prop(
      "views are never lost to concurrent updates, and no update is lost either",
      { ops: Arbitrary.array(op, { maxLength: 40 }) },
      ({ ops }) =>
        run((store) =>
          Effect.gen(function* () {
            const cart = yield* inserted(store)
            // An edit reads, then writes what it read (its stale view count included) at that version.
            const edit = (n: number) =>
              Effect.gen(function* () {
                for (let tries = 0; tries < 200; tries++) {
                  const current = yield* stored(store, cart.cart_id)
                  yield* Effect.yieldNow // let views and other edits in between the read and the write
                  const next = Result.getOrThrow(
                    Cart.withItems(
                      current,
                      current.items,
                      `2030-01-02T00:00:${String(n % 60).padStart(2, "0")}.000Z`
                    )
                  )
                  if (Option.isSome(yield* store.update(next, current.version, hourMs))) return
                }
                return yield* Effect.die(new Error("an edit lost 200 times in a row"))
              })
            yield* Effect.forEach(
              ops,
              (o, i) => (o === "view" ? Effect.asVoid(store.incrementViews(cart.cart_id)) : edit(i)),
              { concurrency: "unbounded", discard: true }
            )
            const final = yield* stored(store, cart.cart_id)
            expect(final.views).toBe(ops.filter((o) => o === "view").length)
            expect(final.version).toBe(1 + ops.filter((o) => o === "edit").length)
          })
        ),
      { arbitrary: { size: 40, runs: 50 } }
    )

    it.effect(
      "idleSince lists active carts idle past the threshold, oldest first; forgetIdle drops one only if unchanged",
      () =>
        run((store) =>
          Effect.gen(function* () {
            const minuteMs = 60_000
            const longTtl = 30 * 24 * hourMs
            // Another case's carts may share the store's index (a Redis prefix): look at ours only.
            const ours: Array<string> = []
            const idle = Effect.map(store.idleSince(hourMs, CartStore.maxIdlePage), (list) =>
              list.filter((i) => ours.includes(i.cartId))
            )
            const t0 = yield* Clock.currentTimeMillis
            const a = yield* inserted(store, longTtl)
            yield* TestClock.adjust(Duration.millis(10 * minuteMs))
            const b = yield* inserted(store, longTtl)
            const c = yield* inserted(store, longTtl)
            ours.push(a.cart_id, b.cart_id, c.cart_id)
            // Checked out: never idle.
            yield* store.update(
              new Cart.Cart({ ...c, status: "checked_out", order_id: "ord_idle" }),
              1,
              longTtl
            )
            yield* TestClock.adjust(Duration.millis(55 * minuteMs)) // a idle 65 min, b 55 min
            expect(yield* idle).toEqual([{ cartId: a.cart_id, lastChangeMs: t0 }])
            yield* TestClock.adjust(Duration.millis(10 * minuteMs))
            const listed = yield* idle
            expect(listed).toEqual([
              { cartId: a.cart_id, lastChangeMs: t0 },
              { cartId: b.cart_id, lastChangeMs: t0 + 10 * minuteMs }
            ])
            expect(yield* store.forgetIdle(listed[0]!)).toBe(true)
            expect(yield* store.forgetIdle(listed[0]!)).toBe(false)
            // b changed after it was listed: it stays, active again, with its new time.
            yield* store.update(edited(b), 1, longTtl)
            expect(yield* store.forgetIdle(listed[1]!)).toBe(false)
            expect(yield* idle).toEqual([])
            // A view is not a change.
            yield* store.incrementViews(b.cart_id)
            yield* TestClock.adjust(Duration.millis(61 * minuteMs))
            expect(yield* idle).toEqual([{ cartId: b.cart_id, lastChangeMs: t0 + 75 * minuteMs }])
            // Bad arguments are defects, never a listing.
            for (const [idleForMs, limit] of [
              [-1, 10],
              [hourMs, 0],
              [hourMs, CartStore.maxIdlePage + 1],
              [0.5, 10]
            ] as const) {
              const exit = yield* Effect.exit(store.idleSince(idleForMs, limit))
              expect(exit._tag === "Failure" && Cause.hasDies(exit.cause)).toBe(true)
            }
          })
        )
    )

    it.effect("a non-positive TTL never leaves a readable cart", () =>
      run((store) =>
        Effect.gen(function* () {
          const cart = yield* makeCart
          // Refusing the write or storing an already-expired cart are both fine; a live cart is not.
          yield* Effect.exit(store.insert(cart, 0))
          yield* Effect.exit(store.insert(cart, -1))
          expect(Option.isNone(yield* store.get(cart.cart_id))).toBe(true)
          const live = yield* inserted(store)
          yield* Effect.exit(store.update(edited(live), 1, 0))
          expect(Option.isNone(yield* store.get(live.cart_id))).toBe(true)
        })
      )
    )

    ttlCase(`a cart expires ttlMs after its insert (${clockName})`, () =>
      run((store) =>
        Effect.gen(function* () {
          const cart = yield* inserted(store, ttlMs)
          yield* advance(ttlMs - marginMs)
          expect(Option.isSome(yield* store.get(cart.cart_id))).toBe(true)
          yield* advance(marginMs + slackMs)
          expect(Option.isNone(yield* store.get(cart.cart_id))).toBe(true)
          expect(yield* store.incrementViews(cart.cart_id)).toEqual(Option.none())
          expect(yield* store.update(edited(cart), 1, hourMs)).toEqual(Option.none())
        })
      )
    )

    ttlCase(`an update renews the TTL; a view does not (${clockName})`, () =>
      run((store) =>
        Effect.gen(function* () {
          const cart = yield* inserted(store, ttlMs)
          const step = (ttlMs * 3) / 5
          yield* advance(step)
          yield* store.update(edited(cart), 1, ttlMs)
          // Past the insert's deadline: alive only because the update renewed it.
          yield* advance(step)
          yield* store.incrementViews(cart.cart_id)
          expect((yield* stored(store, cart.cart_id)).views).toBe(1)
          yield* advance(ttlMs - step - marginMs)
          expect(Option.isSome(yield* store.get(cart.cart_id))).toBe(true)
          // Gone at the update's deadline: the view did not renew it.
          yield* advance(marginMs + slackMs)
          expect(Option.isNone(yield* store.get(cart.cart_id))).toBe(true)
        })
      )
    )

    ttlCase(`an expired cart can be inserted again, with no views (${clockName})`, () =>
      run((store) =>
        Effect.gen(function* () {
          const cart = yield* inserted(store, shortTtlMs)
          yield* store.incrementViews(cart.cart_id)
          yield* advance(shortTtlMs + slackMs)
          expect(Option.isNone(yield* store.get(cart.cart_id))).toBe(true)
          expect(yield* store.insert(cart, hourMs)).toBe(true)
          const again = yield* stored(store, cart.cart_id)
          expect([again.views, again.version]).toEqual([0, 1])
        })
      )
    )
  })
}
