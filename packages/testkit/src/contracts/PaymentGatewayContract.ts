/**
 * The PaymentGateway contract (PaymentGateway.ts), in the public test cards every Stripe-like
 * sandbox accepts: `4242424242424242` succeeds, `4000000000000002` declines `card_declined`, a
 * number failing Luhn is refused at tokenization. Keys: a charge key is one charge (the same
 * request answers it again, concurrent calls make one money movement, another amount, currency
 * or payment method is `IdempotencyKeyReused`); a refund key is one refund of one charge, and a
 * charge is refunded once. `retrieve` tells what happened to a key, `captures` lists the money
 * that moved since a time, oldest first, and no answer ever carries the card number.
 *
 * Isolation: each case gets a gateway of its own (`Effect.provide(layer, { local: true })`);
 * a real adapter on a shared sandbox account sees other charges in `captures`, so the cases
 * only assert about the charges they made (by key).
 *
 * Time: a gateway stamps captures on its own clock. Each case moves `TestClock` to the wall
 * clock's now first (an in-memory gateway reads Effect's `Clock`, which starts at epoch 0; a
 * real one ignores it) and passes `captures` explicit times taken from the gateway's stamps.
 */
import { describe, expect, it } from "@effect/vitest"
import { Money, PaymentGateway, PaymentMethod } from "@till/core"
import { Effect, Fiber, Latch, type Layer, Option, Redacted, Result } from "effect"
import { TestClock } from "effect/testing"
import { uniqueId } from "../internal/contract.js"

type Gateway = PaymentGateway.PaymentGateway["Service"]

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

/** Most pages a case reads from `captures` before it calls the listing endless. */
const maxPagesRead = 50

interface Case {
  readonly gateway: Gateway
  /** A tokenized card and a charge request on it under a fresh key. */
  readonly chargeWith: (
    number: string,
    charged?: Money.Money
  ) => Effect.Effect<
    { readonly idempotencyKey: string; readonly request: PaymentGateway.ChargeRequest },
    unknown
  >
}

const fresh = (gateway: Gateway) =>
  Effect.gen(function* () {
    yield* TestClock.setTime(yield* Effect.sync(() => Date.now()))
    const chargeWith = (number: string, charged: Money.Money = amount) =>
      Effect.gen(function* () {
        const method = yield* gateway.tokenize(card(number))
        const idempotencyKey = yield* uniqueId("ord")
        return {
          idempotencyKey,
          request: { idempotencyKey, amount: charged, paymentMethodId: method.payment_method_id }
        }
      })
    return { gateway, chargeWith } satisfies Case
  })

/** Fails the case if a card number shows up anywhere in a value (or its message). */
const expectNoPan = (value: unknown) => {
  const text = `${JSON.stringify(value)} ${value instanceof Error ? value.message : ""}`
  for (const pan of [successCard, declineCard, mastercard, notLuhn]) expect(text).not.toContain(pan)
}

/** Every capture from `sinceMs` on, page by page (`limit` per page), checking the pages' order. */
const listAll = (gateway: Gateway, sinceMs: number, limit: number) =>
  Effect.gen(function* () {
    const all: Array<PaymentGateway.Charge> = []
    let cursor: string | null = null
    for (let page = 0; page < maxPagesRead; page++) {
      const listed: PaymentGateway.CapturePage = yield* gateway.captures(sinceMs, cursor, limit)
      expect(listed.captures.length).toBeLessThanOrEqual(limit)
      all.push(...listed.captures)
      cursor = listed.nextCursor
      if (cursor === null) break
    }
    expect(cursor, "captures kept paging").toBeNull()
    for (const capture of all) expect(capture.captured_at_ms).toBeGreaterThanOrEqual(sinceMs)
    for (let i = 1; i < all.length; i++) {
      expect(all[i]!.captured_at_ms).toBeGreaterThanOrEqual(all[i - 1]!.captured_at_ms)
    }
    expect(new Set(all.map((c) => c.charge_id)).size, "a capture listed twice").toBe(all.length)
    return all
  })

/** The captures made under `key` (money movements), as the gateway lists them. */
const capturesOf = (gateway: Gateway, key: string, sinceMs: number) =>
  Effect.map(listAll(gateway, sinceMs, PaymentGateway.maxCapturesPerPage), (all) =>
    all.filter((c) => c.idempotency_key === key)
  )

export const paymentGatewayContract = (
  name: string,
  gatewayLayer: Layer.Layer<PaymentGateway.PaymentGateway, unknown>
): void => {
  /** A case on a gateway of its own. */
  const test = (title: string, body: (c: Case) => Effect.Effect<void, unknown>) =>
    it.effect(title, () =>
      Effect.flatMap(PaymentGateway.PaymentGateway, (gateway) => Effect.flatMap(fresh(gateway), body)).pipe(
        Effect.provide(gatewayLayer, { local: true })
      )
    )

  describe(`PaymentGateway contract: ${name}`, () => {
    describe("tokenize", () => describeTokenize(test))
    describe("charge", () => describeCharge(test))
    describe("charge keys", () => describeChargeKeys(test))
    describe("refund", () => describeRefund(test))
    describe("captures", () => describeCaptures(test))
  })
}

type Test = (title: string, body: (c: Case) => Effect.Effect<void, unknown>) => void

const describeTokenize = (test: Test) => {
  test("tokenize keeps a token, the brand and the last four digits", ({ gateway }) =>
    Effect.gen(function* () {
      const visa = yield* gateway.tokenize(card(successCard))
      expect(visa.payment_method_id).toMatch(/^pm_/)
      expect({ brand: visa.brand, last4: visa.last4 }).toEqual({ brand: "visa", last4: "4242" })
      const mc = yield* gateway.tokenize(card(mastercard))
      expect({ brand: mc.brand, last4: mc.last4 }).toEqual({ brand: "mastercard", last4: "4444" })
      expect(mc.payment_method_id).not.toBe(visa.payment_method_id)
      expectNoPan([visa, mc])
    }))

  test("tokenize refuses a number that fails the Luhn check, without echoing it", ({ gateway }) =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(gateway.tokenize(card(notLuhn)))
      expect(error._tag).toBe("PaymentMethodInvalid")
      expectNoPan(error)
    }))

  test("a declining card tokenizes fine: the decline comes at charge time", ({ gateway }) =>
    Effect.gen(function* () {
      const method = yield* gateway.tokenize(card(declineCard))
      expect(method.last4).toBe("0002")
    }))
}

const describeCharge = (test: Test) => {
  test("a charge on a good card succeeds with the amount, brand, last4 and its capture time", (c) =>
    Effect.gen(function* () {
      const { request, idempotencyKey } = yield* c.chargeWith(successCard)
      const charge = yield* c.gateway.charge(request)
      expect(charge).toMatchObject({
        idempotency_key: idempotencyKey,
        status: "succeeded",
        brand: "visa",
        last4: "4242"
      })
      expect(Number.isSafeInteger(charge.captured_at_ms)).toBe(true)
      expect(Money.equals(charge.amount, amount)).toBe(true)
      expectNoPan(charge)
    }))

  test("charge is idempotent by key: the same key answers the same charge", (c) =>
    Effect.gen(function* () {
      const { request } = yield* c.chargeWith(successCard)
      const first = yield* c.gateway.charge(request)
      const again = yield* c.gateway.charge(request)
      expect(again).toEqual(first)
      const { request: other } = yield* c.chargeWith(successCard)
      expect((yield* c.gateway.charge(other)).charge_id).not.toBe(first.charge_id)
    }))

  test("retrieve of an unknown key is None; after a charge it is that charge", (c) =>
    Effect.gen(function* () {
      expect(Option.isNone(yield* c.gateway.retrieve(yield* uniqueId("ord")))).toBe(true)
      const { request } = yield* c.chargeWith(successCard)
      const charge = yield* c.gateway.charge(request)
      const lookup = Option.getOrThrow(yield* c.gateway.retrieve(request.idempotencyKey))
      expect(lookup._tag === "Succeeded" && lookup.charge.charge_id).toBe(charge.charge_id)
      expectNoPan(lookup)
    }))

  test("a decline is final for its key: charged again it declines again, and retrieve says so", (c) =>
    Effect.gen(function* () {
      const { request } = yield* c.chargeWith(declineCard)
      const declined = yield* Effect.flip(c.gateway.charge(request))
      expect(declined).toMatchObject({ _tag: "GatewayDeclined", declineCode: "card_declined" })
      expect(yield* Effect.flip(c.gateway.charge(request))).toMatchObject({ declineCode: "card_declined" })
      expect(yield* c.gateway.retrieve(request.idempotencyKey)).toEqual(
        Option.some({ _tag: "Declined", declineCode: "card_declined" })
      )
      expectNoPan(declined)
    }))
}

const describeChargeKeys = (test: Test) => {
  test("a key sent again with another amount, currency or card is IdempotencyKeyReused; nothing moves", (c) =>
    Effect.gen(function* () {
      const { request, idempotencyKey } = yield* c.chargeWith(successCard)
      const first = yield* c.gateway.charge(request)
      const otherCard = yield* c.gateway.tokenize(card(mastercard))
      const variants: ReadonlyArray<PaymentGateway.ChargeRequest> = [
        { ...request, amount: Money.make(amount.amount + 1, "USD") },
        { ...request, amount: Money.make(amount.amount, "EUR") },
        { ...request, paymentMethodId: otherCard.payment_method_id }
      ]
      for (const variant of variants) {
        const error = yield* Effect.flip(c.gateway.charge(variant))
        expect(error).toMatchObject({ _tag: "IdempotencyKeyReused", idempotencyKey, operation: "charge" })
        expectNoPan(error)
      }
      // The key still answers its own request, and moved money once.
      expect(yield* c.gateway.charge(request)).toEqual(first)
      expect(yield* capturesOf(c.gateway, idempotencyKey, first.captured_at_ms)).toHaveLength(1)
    }))

  test("a declined key sent again with another card is IdempotencyKeyReused, not a new charge", (c) =>
    Effect.gen(function* () {
      const { request, idempotencyKey } = yield* c.chargeWith(declineCard)
      yield* Effect.flip(c.gateway.charge(request))
      const good = yield* c.gateway.tokenize(card(successCard))
      const error = yield* Effect.flip(
        c.gateway.charge({ ...request, paymentMethodId: good.payment_method_id })
      )
      expect(error._tag).toBe("IdempotencyKeyReused")
      expect(yield* c.gateway.retrieve(idempotencyKey)).toEqual(
        Option.some({ _tag: "Declined", declineCode: "card_declined" })
      )
    }))

  test("20 charges with one key released at once: one money movement, one answer for all", (c) =>
    Effect.gen(function* () {
      const { request, idempotencyKey } = yield* c.chargeWith(successCard)
      const start = yield* Latch.make()
      const calls = yield* Effect.forEach(
        Array.from({ length: 20 }, () => Effect.andThen(start.await, c.gateway.charge(request))),
        (call) => Effect.forkChild(call)
      )
      yield* start.open
      const charges = yield* Effect.forEach(calls, Fiber.join)
      expect(new Set(charges.map((charge) => charge.charge_id)).size).toBe(1)
      const moved = yield* capturesOf(c.gateway, idempotencyKey, charges[0]!.captured_at_ms)
      expect(moved.map((m) => m.charge_id)).toEqual([charges[0]!.charge_id])
    }))

  test("concurrent charges with one key and two amounts: one money movement, the other amount refused", (c) =>
    Effect.gen(function* () {
      const { request, idempotencyKey } = yield* c.chargeWith(successCard)
      const other = { ...request, amount: Money.make(amount.amount * 2, "USD") }
      const start = yield* Latch.make()
      const calls = yield* Effect.forEach(
        Array.from({ length: 20 }, (_, i) =>
          Effect.andThen(start.await, Effect.result(c.gateway.charge(i % 2 === 0 ? request : other)))
        ),
        (call) => Effect.forkChild(call)
      )
      yield* start.open
      const answers = yield* Effect.forEach(calls, Fiber.join)
      const charged = answers.filter(Result.isSuccess).map((a) => a.success)
      const refused = answers.filter(Result.isFailure).map((a) => a.failure._tag)
      expect(charged.length).toBeGreaterThan(0)
      expect(new Set(charged.map((charge) => charge.charge_id)).size).toBe(1)
      expect(new Set(refused)).toEqual(new Set(refused.length > 0 ? ["IdempotencyKeyReused"] : []))
      // Every call with the winning amount got the charge; every call with the other was refused.
      expect(charged.length).toBe(10)
      const moved = yield* capturesOf(c.gateway, idempotencyKey, charged[0]!.captured_at_ms)
      expect(moved.map((m) => m.charge_id)).toEqual([charged[0]!.charge_id])
    }))
}

const describeRefund = (test: Test) => {
  test("refund marks the charge refunded; the same key answers the same refund; the key does not charge again", (c) =>
    Effect.gen(function* () {
      const { request } = yield* c.chargeWith(successCard)
      const charge = yield* c.gateway.charge(request)
      const refund = yield* c.gateway.refund(charge.charge_id, `refund:${charge.charge_id}`)
      expect(refund).toMatchObject({
        charge_id: charge.charge_id,
        idempotency_key: `refund:${charge.charge_id}`
      })
      expect(Money.equals(refund.amount, charge.amount)).toBe(true)
      expect(yield* c.gateway.refund(charge.charge_id, `refund:${charge.charge_id}`)).toEqual(refund)
      const lookup = Option.getOrThrow(yield* c.gateway.retrieve(request.idempotencyKey))
      expect(lookup._tag === "Succeeded" && lookup.charge.status).toBe("refunded")
      const replay = yield* c.gateway.charge(request)
      expect(replay.charge_id).toBe(charge.charge_id)
      expect(replay.status).toBe("refunded")
    }))

  test("a refund key used for another charge is IdempotencyKeyReused; that charge stays captured", (c) =>
    Effect.gen(function* () {
      const a = yield* c.gateway.charge((yield* c.chargeWith(successCard)).request)
      const { request: requestB } = yield* c.chargeWith(successCard)
      const b = yield* c.gateway.charge(requestB)
      const key = yield* uniqueId("refund")
      yield* c.gateway.refund(a.charge_id, key)
      const error = yield* Effect.flip(c.gateway.refund(b.charge_id, key))
      expect(error).toMatchObject({ _tag: "IdempotencyKeyReused", idempotencyKey: key, operation: "refund" })
      const lookup = Option.getOrThrow(yield* c.gateway.retrieve(requestB.idempotencyKey))
      expect(lookup._tag === "Succeeded" && lookup.charge.status).toBe("succeeded")
    }))

  test("a charge is refunded once: a refund under another key answers the first refund", (c) =>
    Effect.gen(function* () {
      const charge = yield* c.gateway.charge((yield* c.chargeWith(successCard)).request)
      const first = yield* c.gateway.refund(charge.charge_id, yield* uniqueId("refund"))
      expect(yield* c.gateway.refund(charge.charge_id, yield* uniqueId("refund"))).toEqual(first)
    }))

  test("a refund of a charge the gateway never made is ChargeNotFound", (c) =>
    Effect.gen(function* () {
      const chargeId = yield* uniqueId("ch")
      const error = yield* Effect.flip(c.gateway.refund(chargeId, yield* uniqueId("refund")))
      expect(error).toMatchObject({ _tag: "ChargeNotFound", chargeId })
    }))

  test("10 refunds with one key released at once: one refund, one answer for all", (c) =>
    Effect.gen(function* () {
      const charge = yield* c.gateway.charge((yield* c.chargeWith(successCard)).request)
      const key = yield* uniqueId("refund")
      const start = yield* Latch.make()
      const calls = yield* Effect.forEach(
        Array.from({ length: 10 }, () =>
          Effect.andThen(start.await, c.gateway.refund(charge.charge_id, key))
        ),
        (call) => Effect.forkChild(call)
      )
      yield* start.open
      const refunds = yield* Effect.forEach(calls, Fiber.join)
      expect(new Set(refunds.map((r) => r.refund_id)).size).toBe(1)
    }))
}

const describeCaptures = (test: Test) => {
  test("captures lists the money moved since a time, oldest first, in pages, with its status", (c) =>
    Effect.gen(function* () {
      const keys: Array<string> = []
      const made: Array<PaymentGateway.Charge> = []
      for (let i = 0; i < 5; i++) {
        const { request, idempotencyKey } = yield* c.chargeWith(successCard)
        keys.push(idempotencyKey)
        made.push(yield* c.gateway.charge(request))
      }
      // A decline moves no money: not a capture.
      const { request: declined, idempotencyKey: declinedKey } = yield* c.chargeWith(declineCard)
      yield* Effect.flip(c.gateway.charge(declined))
      yield* c.gateway.refund(made[1]!.charge_id, yield* uniqueId("refund"))

      const sinceMs = made[0]!.captured_at_ms
      const mine = (all: ReadonlyArray<PaymentGateway.Charge>) =>
        all.filter(
          (capture) => keys.includes(capture.idempotency_key) || capture.idempotency_key === declinedKey
        )
      for (const limit of [1, 2, PaymentGateway.maxCapturesPerPage]) {
        // Oldest first is checked by `listAll`; charges made within one tick may list in any order.
        const listed = mine(yield* listAll(c.gateway, sinceMs, limit))
        const statusById = new Map(listed.map((capture) => [capture.charge_id, capture.status]))
        expect(listed).toHaveLength(made.length)
        expect(made.map((charge) => statusById.get(charge.charge_id))).toEqual([
          "succeeded",
          "refunded",
          "succeeded",
          "succeeded",
          "succeeded"
        ])
        expectNoPan(listed)
      }
      const after = made.at(-1)!.captured_at_ms + 1
      expect(mine(yield* listAll(c.gateway, after, PaymentGateway.maxCapturesPerPage))).toEqual([])
    }))
}
