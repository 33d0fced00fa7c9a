/**
 * Payments: the gateway's operations under the "payment" policy (10 s timeout, 2 retries at
 * 1 s / 3 s, breaker 100 calls / 50 % / 60 s). A decline is an answer, not a failure: it is
 * never retried and never counts against the breaker. Charges always carry an idempotency
 * key, so a retry after a lost response cannot charge twice.
 */
import { Context, Effect, Layer, type Option } from "effect"
import type {
  CallNotPermitted,
  GatewayUnavailable,
  OperationTimedOut,
  PaymentMethodInvalid
} from "./Errors.js"
import {
  type Charge,
  type ChargeLookup,
  type ChargeRequest,
  type GatewayDeclined,
  PaymentGateway
} from "./PaymentGateway.js"
import type { CardInput, PaymentMethod } from "./PaymentMethod.js"
import { Resilience } from "./Resilience.js"
import { traced } from "./internal/traced.js"

export type Unavailable = GatewayUnavailable | CallNotPermitted | OperationTimedOut

export class Payments extends Context.Tag("@till/core/Payments")<
  Payments,
  {
    readonly tokenize: (card: CardInput) => Effect.Effect<PaymentMethod, PaymentMethodInvalid | Unavailable>
    readonly charge: (request: ChargeRequest) => Effect.Effect<Charge, GatewayDeclined | Unavailable>
    readonly retrieve: (idempotencyKey: string) => Effect.Effect<Option.Option<ChargeLookup>, Unavailable>
    readonly refund: (chargeId: string) => Effect.Effect<void, Unavailable>
  }
>() {}

export const make = Effect.gen(function* () {
  const gateway = yield* PaymentGateway
  const resilience = yield* Resilience
  return Payments.of({
    tokenize: (card) =>
      resilience.withPolicy("payment", gateway.tokenize(card)).pipe(traced("Payments.tokenize")),
    charge: (request) =>
      resilience.withPolicy("payment", gateway.charge(request)).pipe(traced("Payments.charge")),
    retrieve: (key) =>
      resilience.withPolicy("payment", gateway.retrieve(key)).pipe(traced("Payments.retrieve")),
    refund: (chargeId) =>
      resilience.withPolicy("payment", gateway.refund(chargeId)).pipe(traced("Payments.refund"))
  })
})

export const layer: Layer.Layer<Payments, never, PaymentGateway | Resilience> = Layer.effect(Payments, make)
