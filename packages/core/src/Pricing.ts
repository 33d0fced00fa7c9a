/**
 * Server-side pricing of a cart: unit prices from the Catalog (never the client's), tax from
 * the TaxCalculator, shipping from the ShippingQuoter under the "shipping" policy with the
 * seed's fallback to a default cost when quotes fail, time out or are shed.
 */
import { Context, Effect, Layer, Option } from "effect"
import type { Address } from "./Address.js"
import type * as Cart from "./Cart.js"
import { Catalog } from "./Catalog.js"
import {
  type CurrencyMismatch,
  type GatewayUnavailable,
  SkuNotFound,
  type StoreUnavailable
} from "./Errors.js"
import * as Money from "./Money.js"
import type { OrderItem } from "./Order.js"
import { Resilience } from "./Resilience.js"
import { ShippingQuoter } from "./ShippingQuoter.js"
import { TaxCalculator } from "./TaxCalculator.js"

export interface Config {
  /** Shipping charged when live quotes are unavailable, in minor units of the cart's currency. */
  readonly defaultShippingMinor: number
}

export const defaults: Config = { defaultShippingMinor: 999 }

export interface Quote {
  readonly items: ReadonlyArray<OrderItem>
  readonly subtotal: Money.Money
  readonly tax: Money.Money
  readonly shipping: Money.Money
  readonly total: Money.Money
}

export class Pricing extends Context.Service<
  Pricing,
  {
    readonly quote: (
      cart: Cart.Cart,
      address: Address
    ) => Effect.Effect<Quote, SkuNotFound | CurrencyMismatch | GatewayUnavailable | StoreUnavailable>
  }
>()("@till/core/Pricing") {}

export const make = (config: Config = defaults) =>
  Effect.gen(function* () {
    const catalog = yield* Catalog
    const taxes = yield* TaxCalculator
    const shipping = yield* ShippingQuoter
    const resilience = yield* Resilience

    const quote = Effect.fn("Pricing.quote")(function* (cart: Cart.Cart, address: Address) {
      const items: Array<OrderItem> = []
      for (const line of cart.items) {
        const product = yield* catalog.get(line.sku)
        if (Option.isNone(product)) return yield* Effect.fail(new SkuNotFound({ sku: line.sku }))
        const unit = product.value.price
        items.push({
          sku: line.sku,
          name: product.value.name,
          quantity: line.quantity,
          unit_price: unit,
          line_total: Money.times(unit, line.quantity)
        })
      }
      const subtotal = yield* Effect.fromResult(
        Money.sum(
          cart.currency,
          items.map((i) => i.line_total)
        )
      )
      const tax = yield* taxes.tax(subtotal, address)
      const units = items.reduce((n, i) => n + i.quantity, 0)
      const fallback = Money.make(config.defaultShippingMinor, cart.currency)
      const ship = yield* resilience.withPolicy("shipping", shipping.quote({ address, units, subtotal }), {
        fallback: () => Effect.succeed(fallback)
      })
      const total = yield* Effect.fromResult(Money.sum(cart.currency, [subtotal, tax, ship]))
      return { items, subtotal, tax, shipping: ship, total }
    })

    return Pricing.of({ quote })
  })

/** What pricing needs: the catalog, tax, shipping quotes and the shipping policy. */
export type Requirements = Catalog | TaxCalculator | ShippingQuoter | Resilience

/**
 * Pricing with the default settings.
 * @category layers
 */
export const layer: Layer.Layer<Pricing, never, Requirements> = Layer.effect(Pricing, make(defaults))

/**
 * Pricing with settings given in code, each defaulting to `defaults`.
 * @example Pricing.layerWith({ defaultShippingMinor: 499 })
 * @category layers
 */
export const layerWith = (settings: Partial<Config>): Layer.Layer<Pricing, never, Requirements> =>
  Layer.effect(Pricing, make({ ...defaults, ...settings }))
