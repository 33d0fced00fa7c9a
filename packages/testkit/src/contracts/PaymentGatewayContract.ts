/**
 * The PaymentGateway contract, in the public test cards every Stripe-like sandbox accepts:
 * `4242424242424242` succeeds, `4000000000000002` declines `card_declined`, a number failing
 * Luhn is refused at tokenization. `charge` is idempotent by key (never two charges for one
 * key, the first answer again), `retrieve` tells what happened to a key, and no answer ever
 * carries the card number. The gateway is shared by every case (fresh keys per case).
 */
import { expect, layer, type Vitest } from "@effect/vitest"
import { Money, PaymentGateway, PaymentMethod } from "@till/core"
import { Effect, type Layer, Option, Redacted } from "effect"
import { uniqueId } from "../internal/contract.js"

type Gateway = PaymentGateway.PaymentGateway["Service"]
type It = Vitest.MethodsNonLive<PaymentGateway.PaymentGateway>

const successCard = "4242424242424242"
const declineCard = "4000000000000002"
const mastercard = "5555555555554444"
const notLuhn = "4242424242424241"

const card = (number: string) =>
  new PaymentMethod.CardInput({
    number: Redacted.make(number),
    exp_month: 12,
    exp_year: 2099,
    cvc: Redacted.make("123")
  })

const amount = Money.make(3305, "USD")

const chargeWith = (gateway: Gateway, number: string) =>
  Effect.gen(function* () {
    const method = yield* gateway.tokenize(card(number))
    const idempotencyKey = yield* uniqueId("ord")
    return {
      method,
      idempotencyKey,
      request: { idempotencyKey, amount, paymentMethodId: method.payment_method_id }
    }
  })

/** Fails the case if a card number shows up anywhere in a value (or its message). */
const expectNoPan = (value: unknown) => {
  const text = `${JSON.stringify(value)} ${value instanceof Error ? value.message : ""}`
  for (const pan of [successCard, declineCard, mastercard, notLuhn]) expect(text).not.toContain(pan)
}

const withGateway = <A, E>(f: (gateway: Gateway) => Effect.Effect<A, E>) =>
  Effect.flatMap(PaymentGateway.PaymentGateway, f)

export const paymentGatewayContract = (
  name: string,
  gatewayLayer: Layer.Layer<PaymentGateway.PaymentGateway, unknown>
): void => {
  layer(gatewayLayer)(`PaymentGateway contract: ${name}`, (it) => {
    describeTokenize(it)
    describeCharge(it)
  })
}

const describeTokenize = (it: It) => {
  it.effect("tokenize keeps a token, the brand and the last four digits", () =>
    withGateway((gateway) =>
      Effect.gen(function* () {
        const visa = yield* gateway.tokenize(card(successCard))
        expect(visa.payment_method_id).toMatch(/^pm_/)
        expect({ brand: visa.brand, last4: visa.last4 }).toEqual({ brand: "visa", last4: "4242" })
        const mc = yield* gateway.tokenize(card(mastercard))
        expect({ brand: mc.brand, last4: mc.last4 }).toEqual({ brand: "mastercard", last4: "4444" })
        expect(mc.payment_method_id).not.toBe(visa.payment_method_id)
        expectNoPan([visa, mc])
      })
    )
  )

  it.effect("tokenize refuses a number that fails the Luhn check, without echoing it", () =>
    withGateway((gateway) =>
      Effect.gen(function* () {
        const error = yield* Effect.flip(gateway.tokenize(card(notLuhn)))
        expect(error._tag).toBe("PaymentMethodInvalid")
        expectNoPan(error)
      })
    )
  )

  it.effect("a declining card tokenizes fine: the decline comes at charge time", () =>
    withGateway((gateway) =>
      Effect.gen(function* () {
        const method = yield* gateway.tokenize(card(declineCard))
        expect(method.last4).toBe("0002")
      })
    )
  )
}

const describeCharge = (it: It) => {
  it.effect("a charge on a good card succeeds with the amount, brand and last4", () =>
    withGateway((gateway) =>
      Effect.gen(function* () {
        const { request, idempotencyKey } = yield* chargeWith(gateway, successCard)
        const charge = yield* gateway.charge(request)
        expect(charge).toMatchObject({
          idempotency_key: idempotencyKey,
          status: "succeeded",
          brand: "visa",
          last4: "4242"
        })
        expect(Money.equals(charge.amount, amount)).toBe(true)
        expectNoPan(charge)
      })
    )
  )

  it.effect("charge is idempotent by key: the same key answers the same charge", () =>
    withGateway((gateway) =>
      Effect.gen(function* () {
        const { request } = yield* chargeWith(gateway, successCard)
        const first = yield* gateway.charge(request)
        const again = yield* gateway.charge(request)
        expect(again.charge_id).toBe(first.charge_id)
        const { request: other } = yield* chargeWith(gateway, successCard)
        expect((yield* gateway.charge(other)).charge_id).not.toBe(first.charge_id)
      })
    )
  )

  it.effect("concurrent charges with one key all answer one charge", () =>
    withGateway((gateway) =>
      Effect.gen(function* () {
        const { request } = yield* chargeWith(gateway, successCard)
        const charges = yield* Effect.all(
          Array.from({ length: 20 }, () => gateway.charge(request)),
          { concurrency: "unbounded" }
        )
        expect(new Set(charges.map((c) => c.charge_id)).size).toBe(1)
      })
    )
  )

  it.effect("retrieve of an unknown key is None; after a charge it is that charge", () =>
    withGateway((gateway) =>
      Effect.gen(function* () {
        expect(Option.isNone(yield* gateway.retrieve(yield* uniqueId("ord")))).toBe(true)
        const { request } = yield* chargeWith(gateway, successCard)
        const charge = yield* gateway.charge(request)
        const lookup = Option.getOrThrow(yield* gateway.retrieve(request.idempotencyKey))
        expect(lookup._tag === "Succeeded" && lookup.charge.charge_id).toBe(charge.charge_id)
        expectNoPan(lookup)
      })
    )
  )

  it.effect("a decline is final for its key: charged again it declines again, and retrieve says so", () =>
    withGateway((gateway) =>
      Effect.gen(function* () {
        const { request } = yield* chargeWith(gateway, declineCard)
        const declined = yield* Effect.flip(gateway.charge(request))
        expect(declined).toMatchObject({ _tag: "GatewayDeclined", declineCode: "card_declined" })
        expect(yield* Effect.flip(gateway.charge(request))).toMatchObject({ declineCode: "card_declined" })
        expect(yield* gateway.retrieve(request.idempotencyKey)).toEqual(
          Option.some({ _tag: "Declined", declineCode: "card_declined" })
        )
        expectNoPan(declined)
      })
    )
  )

  it.effect(
    "refund marks the charge refunded; refunding again is harmless; the key does not charge again",
    () =>
      withGateway((gateway) =>
        Effect.gen(function* () {
          const { request } = yield* chargeWith(gateway, successCard)
          const charge = yield* gateway.charge(request)
          yield* gateway.refund(charge.charge_id, `refund:${charge.charge_id}`)
          yield* gateway.refund(charge.charge_id, `refund:${charge.charge_id}`)
          const lookup = Option.getOrThrow(yield* gateway.retrieve(request.idempotencyKey))
          expect(lookup._tag === "Succeeded" && lookup.charge.status).toBe("refunded")
          const replay = yield* gateway.charge(request)
          expect(replay.charge_id).toBe(charge.charge_id)
          expect(replay.status).toBe("refunded")
        })
      )
  )
}
