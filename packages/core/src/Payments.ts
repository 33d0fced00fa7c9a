/**
 * Payments: the gateway's operations under the "payment" policy (10 s timeout, 2 retries at
 * 1 s / 3 s, breaker 100 calls / 50 % / 60 s). A decline is an answer, not a failure: it is
 * never retried and never counts against the breaker; nor does `IdempotencyKeyReused` or
 * `ChargeNotFound` (a caller's bug, final). Charges and refunds always carry an idempotency
 * key, so a retry after a lost response cannot move money twice.
 */
import { Context, Effect, Layer, type Option } from "effect"
import type {
  CallNotPermitted,
  GatewayUnavailable,
  OperationTimedOut,
  PaymentMethodInvalid
} from "./Errors.js"
import {
  type CapturePage,
  type Charge,
  type ChargeLookup,
  type ChargeNotFound,
  type ChargeRequest,
  type GatewayDeclined,
  type IdempotencyKeyReused,
  PaymentGateway,
  type Refund
} from "./PaymentGateway.js"
import type { CardInput, PaymentMethod } from "./PaymentMethod.js"
import { Resilience } from "./Resilience.js"

export type Unavailable = GatewayUnavailable | CallNotPermitted | OperationTimedOut

export class Payments extends Context.Service<
  Payments,
  {
    readonly tokenize: (card: CardInput) => Effect.Effect<PaymentMethod, PaymentMethodInvalid | Unavailable>
    readonly charge: (
      request: ChargeRequest
    ) => Effect.Effect<Charge, GatewayDeclined | IdempotencyKeyReused | Unavailable>
    readonly retrieve: (idempotencyKey: string) => Effect.Effect<Option.Option<ChargeLookup>, Unavailable>
    readonly refund: (
      chargeId: string,
      idempotencyKey: string
    ) => Effect.Effect<Refund, IdempotencyKeyReused | ChargeNotFound | Unavailable>
    readonly captures: (
      sinceMs: number,
      cursor: string | null,
      limit: number
    ) => Effect.Effect<CapturePage, Unavailable>
  }
>()("@till/core/Payments") {}

export const make = Effect.gen(function* () {
  const gateway = yield* PaymentGateway
  const resilience = yield* Resilience
  return Payments.of({
    tokenize: Effect.fn("Payments.tokenize")((card: CardInput) =>
      resilience.withPolicy("payment", gateway.tokenize(card))
    ),
    charge: Effect.fn("Payments.charge")((request: ChargeRequest) =>
      resilience.withPolicy("payment", gateway.charge(request))
    ),
    retrieve: Effect.fn("Payments.retrieve")((key: string) =>
      resilience.withPolicy("payment", gateway.retrieve(key))
    ),
    refund: Effect.fn("Payments.refund")((chargeId: string, idempotencyKey: string) =>
      resilience.withPolicy("payment", gateway.refund(chargeId, idempotencyKey))
    ),
    captures: Effect.fn("Payments.captures")((sinceMs: number, cursor: string | null, limit: number) =>
      resilience.withPolicy("payment", gateway.captures(sinceMs, cursor, limit))
    )
  })
})

export const layer: Layer.Layer<Payments, never, PaymentGateway | Resilience> = Layer.effect(Payments, make)
