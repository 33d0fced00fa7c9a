/**
 * Port: the payment gateway (Stripe-like). Every call that moves money carries an idempotency
 * key, and a key means one operation:
 *
 * - `charge` never charges twice for one key: the same request answers the first result again
 *   (success or decline), and concurrent calls with one key make one charge and all answer it.
 *   A key sent again with another amount, currency or payment method is `IdempotencyKeyReused`,
 *   never a silent replay of the first result (a caller that reuses keys has a bug, and
 *   replaying would hide it; Stripe answers such a request 400 `idempotency_error`).
 * - `refund` refunds a charge in full; the same key answers the same refund again, and a key
 *   already used to refund another charge is `IdempotencyKeyReused`. A charge is refunded at most
 *   once: a refund of an already refunded charge (under another key) answers that first refund.
 * - `retrieve` tells what happened to a charge key (the answer the saga needs when a charge's
 *   response was lost); `captures` lists the money that moved since a time, oldest first, so
 *   reconciliation can find a charge that landed after everyone stopped asking.
 *
 * No `void`. DESIGN.md §2 lists one, but Till charges with capture at once: there is never an
 * authorisation without its capture to release, and cancelling a captured charge before it
 * settles is a refund (Stripe reverses an unsettled charge's refund the same way, at no fee).
 * A void would be a second name for `refund` with the same key rules. If Till ever authorises
 * at checkout and captures at shipment, `void(chargeId, idempotencyKey)` of an uncaptured
 * authorisation comes back with that split.
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

/**
 * An idempotency key sent again for another operation: a charge with another amount, currency
 * or payment method, or a refund of another charge. Final (never retried): the caller's keys
 * are wrong, and nothing was done.
 */
export class IdempotencyKeyReused extends Schema.TaggedError<IdempotencyKeyReused>()("IdempotencyKeyReused", {
  idempotencyKey: Schema.String,
  operation: Schema.Literals(["charge", "refund"]),
  /** What differs from the first request under the key (no card data). */
  reason: Schema.String
}) {
  override get message() {
    return `idempotency key ${this.idempotencyKey} was used for another ${this.operation}: ${this.reason}`
  }
}

/** A refund of a charge id the gateway does not know (a caller bug: ids come from the gateway). */
export class ChargeNotFound extends Schema.TaggedError<ChargeNotFound>()("ChargeNotFound", {
  chargeId: Schema.String
}) {
  override get message() {
    return `no charge ${this.chargeId}`
  }
}

export const Charge = Schema.Struct({
  charge_id: Schema.String,
  idempotency_key: Schema.String,
  amount: Money.Money,
  status: Schema.Literals(["succeeded", "refunded"]),
  brand: Schema.String,
  last4: Schema.String,
  /** When the money was captured, epoch ms of the gateway's clock (what `captures` orders by). */
  captured_at_ms: Schema.Int
})
export type Charge = typeof Charge.Type

export const Refund = Schema.Struct({
  refund_id: Schema.String,
  charge_id: Schema.String,
  /** The key of the refund that moved the money (a later refund of the charge answers it). */
  idempotency_key: Schema.String,
  amount: Money.Money
})
export type Refund = typeof Refund.Type

export interface ChargeRequest {
  readonly idempotencyKey: string
  readonly amount: Money.Money
  readonly paymentMethodId: string
}

export type ChargeLookup =
  | { readonly _tag: "Succeeded"; readonly charge: Charge }
  | { readonly _tag: "Declined"; readonly declineCode: string }

/** One page of `captures`: oldest first, and where the next page starts (null at the end). */
export interface CapturePage {
  readonly captures: ReadonlyArray<Charge>
  readonly nextCursor: string | null
}

/** Most captures one `captures` call may ask for (Stripe's list limit). */
export const maxCapturesPerPage = 100

export class PaymentGateway extends Context.Service<
  PaymentGateway,
  {
    readonly tokenize: (
      card: CardInput
    ) => Effect.Effect<PaymentMethod, PaymentMethodInvalid | GatewayUnavailable>
    readonly charge: (
      request: ChargeRequest
    ) => Effect.Effect<Charge, GatewayDeclined | IdempotencyKeyReused | GatewayUnavailable>
    readonly retrieve: (
      idempotencyKey: string
    ) => Effect.Effect<Option.Option<ChargeLookup>, GatewayUnavailable>
    /**
     * Refunds a charge in full, idempotent by `idempotencyKey`, so a retry after a lost answer
     * moves no more money.
     */
    readonly refund: (
      chargeId: string,
      idempotencyKey: string
    ) => Effect.Effect<Refund, IdempotencyKeyReused | ChargeNotFound | GatewayUnavailable>
    /**
     * The charges captured at or after `sinceMs`, oldest first, each with its current status
     * (a refunded one stays listed), at most `limit` (1..`maxCapturesPerPage`) per page, the
     * next page from `cursor` (the previous page's `nextCursor`; null for the first). Modelled on
     * Stripe's list of charges by `created`. A cursor is only good with the `sinceMs` it came from.
     */
    readonly captures: (
      sinceMs: number,
      cursor: string | null,
      limit: number
    ) => Effect.Effect<CapturePage, GatewayUnavailable>
  }
>()("@till/core/PaymentGateway") {}
