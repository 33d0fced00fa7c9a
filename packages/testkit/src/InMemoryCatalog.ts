/**
 * The Catalog port in memory: a map from SKU to product. Upsert replaces the whole product,
 * as the admin `PUT /v1/admin/products/{sku}` does.
 */
import { Catalog } from "@till/core"
import { Effect, Layer, Option } from "effect"
import { full, requireCapacity } from "./internal/limits.js"

export interface Options {
  /** Products seeded at construction. */
  readonly products?: Iterable<Catalog.Product>
  /** Most distinct SKUs held; an upsert of a new SKU beyond it fails `StoreUnavailable`. */
  readonly maxProducts?: number
}

export const defaultMaxProducts = 100_000

/** `yield* InMemoryCatalog.make({ products: [product] })` */
export const make = (options: Options = {}): Effect.Effect<Catalog.Catalog["Service"]> =>
  Effect.sync(() => {
    const maxProducts = requireCapacity("maxProducts", options.maxProducts ?? defaultMaxProducts)
    const products = new Map<string, Catalog.Product>()
    for (const product of options.products ?? []) products.set(product.sku, product)

    return Catalog.Catalog.of({
      get: (sku) => Effect.sync(() => Option.fromNullishOr(products.get(sku))),
      upsert: (product) =>
        Effect.suspend(() => {
          if (!products.has(product.sku) && products.size >= maxProducts) return full("catalog", maxProducts)
          products.set(product.sku, product)
          return Effect.void
        })
    })
  })

/** An empty catalog. */
export const layer: Layer.Layer<Catalog.Catalog> = Layer.effect(Catalog.Catalog, make())

export const layerWith = (options: Options): Layer.Layer<Catalog.Catalog> =>
  Layer.effect(Catalog.Catalog, make(options))
