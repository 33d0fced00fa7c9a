/** Port: live shipping quotes. Under failure or load the saga falls back to a default cost. */
import { Context, type Effect } from "effect"
import type { Address } from "./Address.js"
import type { GatewayUnavailable } from "./Errors.js"
import type { Money } from "./Money.js"

export interface QuoteRequest {
  readonly address: Address
  readonly units: number
  readonly subtotal: Money
}

export class ShippingQuoter extends Context.Service<
  ShippingQuoter,
  { readonly quote: (request: QuoteRequest) => Effect.Effect<Money, GatewayUnavailable> }
>()("@till/core/ShippingQuoter") {}
