/** Port: sales tax for a subtotal shipped to an address. */
import { Context, type Effect } from "effect"
import type { Address } from "./Address.js"
import type { GatewayUnavailable } from "./Errors.js"
import type { Money } from "./Money.js"

export class TaxCalculator extends Context.Service<
  TaxCalculator,
  { readonly tax: (subtotal: Money, address: Address) => Effect.Effect<Money, GatewayUnavailable> }
>()("@till/core/TaxCalculator") {}
