/**
 * Port: the payment gateway (Stripe-like). `charge` is idempotent by key: the same key never
 * charges twice and answers the first result again; `retrieve` tells what happened to a key
 * (the answer the saga needs when a charge's response was lost).
 */
import { Context, type Effect, type Option, Schema } from "effect"
import { fieldsMessage, type GatewayUnavailable, type PaymentMethodInvalid } from "./Errors.js"
import * as Money from "./Money.js"
import type { CardInput, PaymentMethod } from "./PaymentMethod.js"

/** The gateway declined the card: final for this attempt, not a gateway failure. */
export class GatewayDeclined extends Schema.TaggedError<GatewayDeclined>()("GatewayDeclined", {
  declineCode: Schema.String
}) {
  override get message() {
    return fieldsMessage(this, ["declineCode"])
  }
}

export const Charge = Schema.Struct({
  charge_id: Schema.String,
  idempotency_key: Schema.String,
  amount: Money.Money,
  status: Schema.Literals(["succeeded", "refunded"]),
  brand: Schema.String,
  last4: Schema.String
})
export type Charge = typeof Charge.Type

export interface ChargeRequest {
  readonly idempotencyKey: string
  readonly amount: Money.Money
  readonly paymentMethodId: string
}

export type ChargeLookup =
  | { readonly _tag: "Succeeded"; readonly charge: Charge }
  | { readonly _tag: "Declined"; readonly declineCode: string }

export class PaymentGateway extends Context.Service<
  PaymentGateway,
  {
    readonly tokenize: (
      card: CardInput
    ) => Effect.Effect<PaymentMethod, PaymentMethodInvalid | GatewayUnavailable>
    readonly charge: (request: ChargeRequest) => Effect.Effect<Charge, GatewayDeclined | GatewayUnavailable>
    readonly retrieve: (
      idempotencyKey: string
    ) => Effect.Effect<Option.Option<ChargeLookup>, GatewayUnavailable>
    /**
     * Refunds a charge in full. Idempotent by `idempotencyKey` (and a refunded charge is never
     * refunded again), so a retry after a lost answer moves no more money.
     */
    readonly refund: (chargeId: string, idempotencyKey: string) => Effect.Effect<void, GatewayUnavailable>
  }
>()("@till/core/PaymentGateway") {}
