import { describe, expect, it } from "@effect/vitest"
import { Cart, CartStore, Carts, Catalog, InventoryStore, Money, Sku } from "@till/core"
import { Effect, Layer, Option, Result } from "effect"
import { TestClock } from "effect/testing"
import { FakePaymentGateway, InMemoryCartStore, TestTill } from "@till/testkit"

const failure = <A, E>(result: Result.Result<A, E>) => Result.getFailure(result).pipe(Option.getOrThrow)
const day = 24 * 60 * 60 * 1000

describe("Carts", () => {
  it.effect(
    "prices lines on the server, and a later price change does not rewrite the line until it changes",
    () =>
      Effect.gen(function* () {
        yield* TestTill.stock("mug", "Till mug", 1_500, 10)
        const carts = yield* Carts.Carts
        const cart = yield* carts.create("u")
        const one = yield* carts.addItem("u", cart.cart_id, Sku.make("mug"), 2)
        expect(one.items[0]).toMatchObject({
          quantity: 2,
          unit_price: { amount: 1_500 },
          line_total: { amount: 3_000 }
        })
        expect(one.subtotal.amount).toBe(3_000)
        const catalog = yield* Catalog.Catalog
        yield* catalog.upsert(
          new Catalog.Product({ sku: Sku.make("mug"), name: "Till mug", price: Money.make(1_800, "USD") })
        )
        const two = yield* carts.addItem("u", cart.cart_id, Sku.make("mug"), 1)
        expect(two.items[0]).toMatchObject({
          quantity: 3,
          unit_price: { amount: 1_800 },
          line_total: { amount: 5_400 }
        })
        const removed = yield* carts.setQuantity("u", cart.cart_id, Sku.make("mug"), 0)
        expect(removed.items).toEqual([])
        expect(removed.subtotal.amount).toBe(0)
      }).pipe(Effect.provide(TestTill.layer({ seed: 50 })))
  )

  it.effect("a cart lives 30 days after its last change; a change refreshes it", () =>
    Effect.gen(function* () {
      yield* TestTill.stock("mug", "Till mug", 1_500, 10)
      const carts = yield* Carts.Carts
      const cart = yield* carts.create("u")
      yield* TestClock.adjust(29 * day)
      yield* carts.addItem("u", cart.cart_id, Sku.make("mug"), 1) // refreshes the TTL
      yield* TestClock.adjust(29 * day)
      expect((yield* carts.get("u", cart.cart_id)).items).toHaveLength(1)
      yield* TestClock.adjust(2 * day)
      expect(failure(yield* Effect.result(carts.get("u", cart.cart_id)))._tag).toBe("CartNotFound")
    }).pipe(Effect.provide(TestTill.layer({ seed: 51 })))
  )

  it.effect(
    "counts views; another user's cart is not found; bad quantities and unknown SKUs are refused",
    () =>
      Effect.gen(function* () {
        yield* TestTill.stock("mug", "Till mug", 1_500, 10)
        const carts = yield* Carts.Carts
        const cart = yield* carts.create("u")
        yield* carts.view("u", cart.cart_id)
        expect((yield* carts.view("u", cart.cart_id)).views).toBe(2)
        expect(failure(yield* Effect.result(carts.view("other", cart.cart_id)))._tag).toBe("CartNotFound")
        expect(
          failure(yield* Effect.result(carts.addItem("u", cart.cart_id, Sku.make("nope"), 1)))._tag
        ).toBe("SkuNotFound")
        expect(failure(yield* Effect.result(carts.addItem("u", cart.cart_id, Sku.make("mug"), 0)))._tag).toBe(
          "ValidationError"
        )
        expect(
          failure(yield* Effect.result(carts.addItem("u", cart.cart_id, Sku.make("mug"), 1.5)))._tag
        ).toBe("ValidationError")
        yield* carts.addItem("u", cart.cart_id, Sku.make("mug"), Sku.maxQuantity)
        expect(failure(yield* Effect.result(carts.addItem("u", cart.cart_id, Sku.make("mug"), 1)))._tag).toBe(
          "ValidationError"
        )
        expect((yield* carts.get("u", cart.cart_id)).items[0]?.quantity).toBe(Sku.maxQuantity)
      }).pipe(Effect.provide(TestTill.layer({ seed: 52 })))
  )

  it.effect("concurrent adds to one cart lose no update", () =>
    Effect.gen(function* () {
      yield* TestTill.stock("mug", "Till mug", 1_500, 10)
      const carts = yield* Carts.Carts
      const cart = yield* carts.create("u")
      yield* Effect.forEach(
        Array.from({ length: 50 }),
        () => carts.addItem("u", cart.cart_id, Sku.make("mug"), 1),
        {
          concurrency: "unbounded"
        }
      )
      expect((yield* carts.get("u", cart.cart_id)).items[0]?.quantity).toBe(50)
    }).pipe(Effect.provide(TestTill.layer({ seed: 53 })))
  )

  it.effect(
    "editOnce: one compare-and-set round; None, writing nothing, when another writer got in between",
    () => {
      // A store whose next update finds the cart changed by someone else first (as a concurrent edit would).
      const interloper = { armed: false }
      const cartStore = Layer.effect(
        CartStore.CartStore,
        Effect.map(InMemoryCartStore.make(), (s) => ({
          ...s,
          update: (next: Parameters<typeof s.update>[0], expected: number, ttlMs: number) =>
            Effect.gen(function* () {
              if (interloper.armed) {
                interloper.armed = false
                const now = Option.getOrThrow(yield* s.get(next.cart_id))
                yield* s.update(new Cart.Cart({ ...now, updated_at: now.updated_at }), now.version, ttlMs)
              }
              return yield* s.update(next, expected, ttlMs)
            })
        }))
      )
      return Effect.gen(function* () {
        yield* TestTill.stock("mug", "Mug", 1_500, 10)
        const carts = yield* Carts.Carts
        const cart = yield* carts.create("u")
        const mug = Sku.make("mug")
        const added = yield* carts.editOnce("u", cart.cart_id, { _tag: "addItem", sku: mug, quantity: 2 })
        expect(Option.getOrThrow(added).items.map((i) => i.quantity)).toEqual([2])
        interloper.armed = true
        expect(yield* carts.editOnce("u", cart.cart_id, { _tag: "addItem", sku: mug, quantity: 1 })).toEqual(
          Option.none()
        )
        expect((yield* carts.get("u", cart.cart_id)).items.map((i) => i.quantity)).toEqual([2])
        const set = yield* carts.editOnce("u", cart.cart_id, { _tag: "setQuantity", sku: mug, quantity: 5 })
        expect(Option.getOrThrow(set).items.map((i) => i.quantity)).toEqual([5])
        const removed = yield* carts.editOnce("u", cart.cart_id, { _tag: "removeItem", sku: mug })
        expect(Option.getOrThrow(removed).items).toEqual([])
        const bad = yield* Effect.flip(
          carts.editOnce("u", cart.cart_id, { _tag: "addItem", sku: mug, quantity: 0 })
        )
        expect(bad._tag).toBe("ValidationError")
        const foreign = yield* Effect.flip(
          carts.editOnce("v", cart.cart_id, { _tag: "removeItem", sku: mug })
        )
        expect(foreign._tag).toBe("CartNotFound")
      }).pipe(Effect.provide(TestTill.layer({ seed: 51, cartStore })))
    }
  )

  it.effect("an item priced in another currency than the cart's is refused", () =>
    Effect.gen(function* () {
      yield* TestTill.stock("euro-mug", "Euro mug", 1_500, 10, "EUR")
      const carts = yield* Carts.Carts
      const cart = yield* carts.create("u", "USD")
      expect(
        failure(yield* Effect.result(carts.addItem("u", cart.cart_id, Sku.make("euro-mug"), 1)))._tag
      ).toBe("ValidationError")
    }).pipe(Effect.provide(TestTill.layer({ seed: 54 })))
  )
})

describe("TestTill.layer", () => {
  const mugs = Effect.flatMap(InventoryStore.InventoryStore, (store) => store.level(Sku.make("mug")))

  it.effect("every layer provided is a world of its own, even inside another world of the same test", () => {
    const world = TestTill.layer({ seed: 55 })
    return Effect.gen(function* () {
      yield* TestTill.stock("mug", "Till mug", 1_500, 10)
      const carts = yield* Carts.Carts
      const cart = yield* carts.create("u")
      // Effect 4 shares built layers across `Effect.provide`s of one run: the worlds below (one
      // of them the very same layer value, one a new layer with the same seed) must not be.
      for (const inner of [world, TestTill.layer({ seed: 55 })]) {
        const seen = yield* Effect.gen(function* () {
          const before = yield* mugs
          yield* TestTill.stock("mug", "Till mug", 1_500, 3)
          const lost = yield* Effect.result((yield* Carts.Carts).get("u", cart.cart_id))
          const charges = yield* (yield* FakePaymentGateway.Inspector).callCounts
          return { before, cart: lost._tag, tokenized: charges.tokenize }
        }).pipe(Effect.provide(inner))
        expect(seen).toEqual({ before: Option.none(), cart: "Failure", tokenized: 0 })
      }
      expect(Option.getOrThrow(yield* mugs)).toMatchObject({ on_hand: 10 })
      expect((yield* carts.get("u", cart.cart_id)).cart_id).toBe(cart.cart_id)
    }).pipe(Effect.provide(world))
  })
})
