/**
 * The Catalog contract: every Catalog (in memory, Postgres) keeps the last upserted product
 * per SKU, price included to the minor unit. The store is shared by every case.
 */
import { expect, layer } from "@effect/vitest"
import { Catalog, Money, Sku } from "@till/core"
import { Effect, type Layer, Option } from "effect"
import { encoded, uniqueId } from "../internal/contract.js"

const encode = encoded(Catalog.Product)

const makeProduct = (name: string, amount: number, currency = "USD") =>
  Effect.map(
    uniqueId("sku"),
    (sku) => new Catalog.Product({ sku: Sku.make(sku), name, price: Money.make(amount, currency) })
  )

export const catalogContract = (name: string, catalogLayer: Layer.Layer<Catalog.Catalog, unknown>): void => {
  layer(catalogLayer)(`Catalog contract: ${name}`, (it) => {
    it.effect("get of an unknown SKU is None", () =>
      Effect.gen(function* () {
        const catalog = yield* Catalog.Catalog
        expect(Option.isNone(yield* catalog.get(Sku.make(yield* uniqueId("sku"))))).toBe(true)
      })
    )

    it.effect("upsert then get returns the product", () =>
      Effect.gen(function* () {
        const catalog = yield* Catalog.Catalog
        const product = yield* makeProduct("Mug — blue, 350 ml", 1250)
        yield* catalog.upsert(product)
        expect(Option.map(yield* catalog.get(product.sku), encode)).toEqual(Option.some(encode(product)))
      })
    )

    it.effect("a second upsert replaces name and price", () =>
      Effect.gen(function* () {
        const catalog = yield* Catalog.Catalog
        const product = yield* makeProduct("Mug", 1250)
        yield* catalog.upsert(product)
        const repriced = new Catalog.Product({
          sku: product.sku,
          name: "Mug (new)",
          price: Money.make(999, "EUR")
        })
        yield* catalog.upsert(repriced)
        expect(Option.map(yield* catalog.get(product.sku), encode)).toEqual(Option.some(encode(repriced)))
      })
    )

    it.effect("edge prices survive: zero and the largest amount", () =>
      Effect.gen(function* () {
        const catalog = yield* Catalog.Catalog
        const free = yield* makeProduct("Sticker", 0)
        const dear = yield* makeProduct("Yacht", Money.maxAmountMinor, "JPY")
        yield* catalog.upsert(free)
        yield* catalog.upsert(dear)
        expect(Option.getOrThrow(yield* catalog.get(free.sku)).price.amount).toBe(0)
        expect(Option.map(yield* catalog.get(dear.sku), encode)).toEqual(Option.some(encode(dear)))
      })
    )

    it.effect("concurrent upserts of distinct SKUs are all kept", () =>
      Effect.gen(function* () {
        const catalog = yield* Catalog.Catalog
        const products = yield* Effect.all(
          Array.from({ length: 20 }, (_, i) => makeProduct(`Item ${i}`, 100 + i))
        )
        yield* Effect.forEach(products, catalog.upsert, { concurrency: "unbounded", discard: true })
        for (const product of products) {
          expect(Option.map(yield* catalog.get(product.sku), encode)).toEqual(Option.some(encode(product)))
        }
      })
    )

    it.effect("concurrent upserts of one SKU leave one of the written products, whole", () =>
      Effect.gen(function* () {
        const catalog = yield* Catalog.Catalog
        const sku = Sku.make(yield* uniqueId("sku"))
        const versions = Array.from(
          { length: 10 },
          (_, i) => new Catalog.Product({ sku, name: `Version ${i}`, price: Money.make(1000 + i, "USD") })
        )
        yield* Effect.forEach(versions, catalog.upsert, { concurrency: "unbounded", discard: true })
        const got = Option.getOrThrow(yield* catalog.get(sku))
        // Name and price come from the same write: never a mix of two.
        expect(versions.map(encode)).toContainEqual(encode(got))
      })
    )
  })
}
