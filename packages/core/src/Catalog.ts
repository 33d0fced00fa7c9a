/** Port: the product catalog, the only source of prices (carts never trust a client price). */
import { Context, type Effect, type Option, Schema } from "effect"
import type { StoreUnavailable } from "./Errors.js"
import * as Money from "./Money.js"
import { Sku } from "./Sku.js"

export class Product extends Schema.Class<Product>("Product")({
  sku: Sku,
  name: Schema.String.check(Schema.isMinLength(1), Schema.isMaxLength(200)),
  price: Money.Money
}) {}

export class Catalog extends Context.Service<
  Catalog,
  {
    readonly get: (sku: Sku) => Effect.Effect<Option.Option<Product>, StoreUnavailable>
    readonly upsert: (product: Product) => Effect.Effect<void, StoreUnavailable>
  }
>()("@till/core/Catalog") {}
