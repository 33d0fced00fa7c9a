import { describe, expect, it } from "@effect/vitest"
import { Money, PaymentGateway, PaymentMethod } from "@till/core"
import { FakePaymentGateway } from "@till/testkit"
import { Duration, Effect, Exit, Fiber, Option, Redacted, References } from "effect"
import { TestClock } from "effect/testing"

const card = (number: string, exp_year = 2099, exp_month = 12) =>
  new PaymentMethod.CardInput({
    number: Redacted.make(number),
    exp_month,
    exp_year,
    cvc: Redacted.make("123")
  })

const amount = Money.make(3305, "USD")

/** A fresh fake with a tokenized card, and a charge request builder for it. */
const setup = (options: FakePaymentGateway.Options = { seed: 7 }, number = FakePaymentGateway.successCard) =>
  Effect.gen(function* () {
    const fake = yield* FakePaymentGateway.make(options)
    const method = yield* fake.tokenize(card(number))
    const request = (idempotencyKey: string): PaymentGateway.ChargeRequest => ({
      idempotencyKey,
      amount,
      paymentMethodId: method.payment_method_id
    })
    return { fake, method, request }
  })

describe("FakePaymentGateway", () => {
  it.effect("a 503 storm fails every call inside its window and moves no money (TestClock)", () =>
    Effect.gen(function* () {
      const { fake, request } = yield* setup()
      yield* fake.unavailableBetween(1_000, 5_000)
      expect((yield* fake.charge(request("before"))).status).toBe("succeeded")
      yield* TestClock.adjust("1 second")
      const during = yield* Effect.flip(fake.charge(request("during")))
      expect(during._tag).toBe("GatewayUnavailable")
      expect((yield* Effect.flip(fake.retrieve("before")))._tag).toBe("GatewayUnavailable")
      yield* TestClock.adjust(Duration.millis(3_999))
      expect((yield* Effect.flip(fake.charge(request("during"))))._tag).toBe("GatewayUnavailable")
      expect(yield* fake.chargesFor("during")).toEqual([])
      yield* TestClock.adjust("1 millis")
      expect((yield* fake.charge(request("during"))).status).toBe("succeeded")
      expect((yield* fake.callCounts).charge).toBe(4)
    })
  )

  it.effect(
    "a lost response: the charge is made, the caller sees GatewayUnavailable, a retry gets the same charge",
    () =>
      Effect.gen(function* () {
        const { fake, request } = yield* setup()
        yield* fake.loseNextResponses(1)
        const lost = yield* Effect.flip(fake.charge(request("ord_1")))
        expect(lost._tag).toBe("GatewayUnavailable")
        const made = yield* fake.chargesFor("ord_1")
        expect(made.length).toBe(1)
        const lookup = Option.getOrThrow(yield* fake.retrieve("ord_1"))
        expect(lookup._tag === "Succeeded" && lookup.charge.charge_id).toBe(made[0]!.charge_id)
        const retried = yield* fake.charge(request("ord_1"))
        expect(retried.charge_id).toBe(made[0]!.charge_id)
        expect((yield* fake.chargesFor("ord_1")).length).toBe(1)
        expect(yield* fake.capturedTotal("USD")).toEqual(amount)
      })
  )

  it.effect("a lost response can hang instead, so the caller's timeout fires after the money moved", () =>
    Effect.gen(function* () {
      const { fake, request } = yield* setup()
      yield* fake.setFaults({ lostResponseAs: "hang", hangMs: "forever" })
      yield* fake.loseNextResponses(1)
      const fiber = yield* Effect.forkChild(Effect.timeout(fake.charge(request("ord_t")), "10 seconds"))
      yield* TestClock.adjust("10 seconds")
      const exit = yield* Fiber.await(fiber)
      expect(Exit.isFailure(exit)).toBe(true)
      expect((yield* fake.chargesFor("ord_t")).length).toBe(1)
    })
  )

  it.effect("a hang before processing moves no money; the caller's timeout cuts it", () =>
    Effect.gen(function* () {
      const { fake, request } = yield* setup()
      yield* fake.hangNextCharges(1)
      const fiber = yield* Effect.forkChild(Effect.timeout(fake.charge(request("ord_h")), "10 seconds"))
      yield* TestClock.adjust("10 seconds")
      expect(Exit.isFailure(yield* Fiber.await(fiber))).toBe(true)
      expect(yield* fake.chargesFor("ord_h")).toEqual([])
      expect((yield* fake.charge(request("ord_h"))).status).toBe("succeeded")
    })
  )

  it.effect(
    "a late capture: the call fails, the key stays silent, and the charge lands lateCaptureMs later",
    () =>
      Effect.gen(function* () {
        const { fake, request } = yield* setup()
        yield* fake.setFaults({ lateCaptureMs: 20 * 60 * 1000 })
        yield* fake.captureNextLate(1)
        expect((yield* Effect.flip(fake.charge(request("ord_late"))))._tag).toBe("GatewayUnavailable")
        expect(yield* fake.lateCaptures).toEqual([{ idempotencyKey: "ord_late", dueMs: 20 * 60 * 1000 }])
        // The next call with another key is made at once (only the next 1 was late).
        expect((yield* fake.charge(request("ord_now"))).status).toBe("succeeded")
        yield* TestClock.adjust(Duration.millis(20 * 60 * 1000 - 1))
        // In flight: silent to retrieve and to captures; a retry is refused, a reused key too.
        expect(yield* fake.retrieve("ord_late")).toEqual(Option.none())
        expect((yield* Effect.flip(fake.charge(request("ord_late"))))._tag).toBe("GatewayUnavailable")
        const reused = { ...request("ord_late"), amount: Money.make(1, "USD") }
        expect((yield* Effect.flip(fake.charge(reused)))._tag).toBe("IdempotencyKeyReused")
        expect((yield* fake.captures(0, null, 100)).captures.map((c) => c.idempotency_key)).toEqual([
          "ord_now"
        ])
        expect(yield* fake.chargesFor("ord_late")).toEqual([])
        yield* TestClock.adjust("1 millis")
        const lookup = Option.getOrThrow(yield* fake.retrieve("ord_late"))
        expect(lookup._tag === "Succeeded" && lookup.charge.captured_at_ms).toBe(20 * 60 * 1000)
        const listed = (yield* fake.captures(1, null, 100)).captures
        expect(listed.map((c) => [c.idempotency_key, c.captured_at_ms])).toEqual([
          ["ord_late", 20 * 60 * 1000]
        ])
        expect(yield* fake.lateCaptures).toEqual([])
        // Charged once, and the key answers its charge from now on.
        expect((yield* fake.charge(request("ord_late"))).charge_id).toBe(
          (yield* fake.chargesFor("ord_late"))[0]!.charge_id
        )
        expect((yield* fake.chargesFor("ord_late")).length).toBe(1)
        expect(yield* fake.capturedTotal("USD")).toEqual(Money.make(2 * amount.amount, "USD"))
      })
  )

  it.effect(
    "a late capture can hang its call instead, so the caller's timeout fires and the money moves later",
    () =>
      Effect.gen(function* () {
        const { fake, request } = yield* setup()
        yield* fake.setFaults({ lateCaptureRate: 1, lateCaptureAs: "hang", lateCaptureMs: 60_000 })
        const fiber = yield* Effect.forkChild(Effect.timeout(fake.charge(request("ord_h")), "10 seconds"))
        yield* TestClock.adjust("10 seconds")
        expect(Exit.isFailure(yield* Fiber.await(fiber))).toBe(true)
        expect(yield* fake.chargesFor("ord_h")).toEqual([])
        yield* TestClock.adjust("50 seconds")
        // A read lands it: the Inspector too sees the money at its time.
        expect((yield* fake.chargesFor("ord_h")).map((c) => c.captured_at_ms)).toEqual([60_000])
      })
  )

  it.effect("a late capture of a declining card declines when it lands", () =>
    Effect.gen(function* () {
      const { fake, request } = yield* setup({ seed: 7 }, FakePaymentGateway.declineCard)
      yield* fake.captureNextLate(1)
      yield* fake.setFaults({ lateCaptureMs: 1_000 })
      expect((yield* Effect.flip(fake.charge(request("ord_d"))))._tag).toBe("GatewayUnavailable")
      yield* TestClock.adjust("1 second")
      expect(yield* fake.retrieve("ord_d")).toEqual(
        Option.some({ _tag: "Declined", declineCode: "card_declined" })
      )
      expect(yield* fake.allCharges).toEqual([])
    })
  )

  it.effect("latency is slept on Effect's clock", () =>
    Effect.gen(function* () {
      const { fake, request } = yield* setup()
      yield* fake.setFaults({ latencyMs: 2_000 })
      const fiber = yield* Effect.forkChild(fake.charge(request("ord_l")))
      yield* TestClock.adjust("1999 millis")
      expect(fiber.pollUnsafe()).toBeUndefined()
      yield* TestClock.adjust("1 millis")
      expect((yield* Fiber.join(fiber)).status).toBe("succeeded")
    })
  )

  it.effect("a decline rate with a seed declines the same charges every run", () =>
    Effect.gen(function* () {
      const outcomes = (seed: number) =>
        Effect.gen(function* () {
          const { fake, request } = yield* setup({ seed, faults: { declineRate: 0.3 } })
          yield* fake.setFaults({ latencyJitterMs: 50 })
          // Jittered latency sleeps on the TestClock: run the charges in a fiber and move time.
          const fiber = yield* Effect.forkChild(
            Effect.forEach(
              Array.from({ length: 60 }, (_, i) => `ord_${i}`),
              (key) =>
                Effect.match(fake.charge(request(key)), { onFailure: (e) => e._tag, onSuccess: () => "ok" })
            )
          )
          yield* TestClock.adjust("1 minute")
          return yield* Fiber.join(fiber)
        })
      const first = yield* outcomes(11)
      expect(yield* outcomes(11)).toEqual(first)
      const declines = first.filter((o) => o === "GatewayDeclined").length
      expect(declines).toBeGreaterThan(5)
      expect(declines).toBeLessThan(35)
      expect(yield* outcomes(12)).not.toEqual(first)
    })
  )

  it.effect("the same seed gives the same tokens and charge ids", () =>
    Effect.gen(function* () {
      const ids = Effect.gen(function* () {
        const { fake, method, request } = yield* setup({ seed: "run-1" })
        return [method.payment_method_id, (yield* fake.charge(request("k"))).charge_id]
      })
      expect(yield* ids).toEqual(yield* ids)
    })
  )

  it.effect("declining test cards decline with their codes; an unknown token declines", () =>
    Effect.gen(function* () {
      const { fake, request } = yield* setup({ seed: 1 }, "4000000000009995")
      expect(yield* Effect.flip(fake.charge(request("a")))).toMatchObject({
        declineCode: "insufficient_funds"
      })
      const unknown = yield* Effect.flip(
        fake.charge({ idempotencyKey: "b", amount, paymentMethodId: "pm_nope" })
      )
      expect(unknown).toMatchObject({ _tag: "GatewayDeclined", declineCode: "payment_method_not_found" })
      expect(yield* fake.allCharges).toEqual([])
    })
  )

  it.effect("an expired card is refused at tokenization, judged on Effect's clock", () =>
    Effect.gen(function* () {
      const fake = yield* FakePaymentGateway.make()
      yield* TestClock.setTime(Date.UTC(2031, 0, 15))
      const error = yield* Effect.flip(fake.tokenize(card(FakePaymentGateway.successCard, 2030, 12)))
      expect(error._tag).toBe("PaymentMethodInvalid")
      expect((yield* fake.tokenize(card(FakePaymentGateway.successCard, 2031, 1))).last4).toBe("4242")
    })
  )

  it.effect("refunds leave the captured total and are counted once, whatever the keys", () =>
    Effect.gen(function* () {
      const { fake, request } = yield* setup()
      const a = yield* fake.charge(request("a"))
      const b = yield* fake.charge(request("b"))
      const first = yield* fake.refund(a.charge_id, "r-1")
      expect(yield* fake.refund(a.charge_id, "r-1")).toEqual(first)
      expect(yield* fake.refund(a.charge_id, "r-3")).toEqual(first)
      expect((yield* Effect.flip(fake.refund(b.charge_id, "r-1")))._tag).toBe("IdempotencyKeyReused")
      expect((yield* Effect.flip(fake.refund("ch_unknown", "r-2")))._tag).toBe("ChargeNotFound")
      expect(yield* fake.refundCount).toBe(1)
      expect(yield* fake.capturedTotal("USD")).toEqual(amount)
      expect(yield* fake.capturedTotal("EUR")).toEqual(Money.zero("EUR"))
      expect((yield* fake.allCharges).map((c) => c.status)).toEqual(["refunded", "succeeded"])
    })
  )

  it.effect("a key reused with another amount fails and moves no money, even under concurrency", () =>
    Effect.gen(function* () {
      const { fake, request } = yield* setup()
      yield* fake.setFaults({ latencyJitterMs: 5 })
      const other = { ...request("ord_1"), amount: Money.make(amount.amount + 1, "USD") }
      // Jittered latency sleeps on the TestClock: both amounts arrive interleaved.
      const fiber = yield* Effect.forkChild(
        Effect.forEach(
          Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? request("ord_1") : other)),
          (r) => Effect.result(fake.charge(r)),
          { concurrency: "unbounded" }
        )
      )
      yield* TestClock.adjust("1 second")
      const answers = yield* Fiber.join(fiber)
      const tags = new Set(answers.map((a) => (a._tag === "Success" ? "ok" : a.failure._tag)))
      expect(tags).toEqual(new Set(["ok", "IdempotencyKeyReused"]))
      expect((yield* fake.chargesFor("ord_1")).length).toBe(1)
      expect((yield* fake.callCounts).charge).toBe(20)
    })
  )

  it.effect(
    "captures pages by capture time; a cursor resumes after its charge; a bad limit is a defect",
    () =>
      Effect.gen(function* () {
        const { fake, request } = yield* setup()
        yield* TestClock.setTime(1_000)
        const a = yield* fake.charge(request("a"))
        yield* TestClock.setTime(2_000)
        const b = yield* fake.charge(request("b"))
        const c = yield* fake.charge(request("c"))
        expect([a, b, c].map((x) => x.captured_at_ms)).toEqual([1_000, 2_000, 2_000])
        expect(yield* fake.captures(0, null, 100)).toEqual({ captures: [a, b, c], nextCursor: null })
        expect(yield* fake.captures(1_001, null, 100)).toEqual({ captures: [b, c], nextCursor: null })
        expect(yield* fake.captures(2_001, null, 100)).toEqual({ captures: [], nextCursor: null })
        const first = yield* fake.captures(0, null, 2)
        expect(first).toEqual({ captures: [a, b], nextCursor: b.charge_id })
        // A charge made between two pages is on the next one.
        const d = yield* fake.charge(request("d"))
        expect(yield* fake.captures(0, first.nextCursor, 2)).toEqual({ captures: [c, d], nextCursor: null })
        expect((yield* fake.callCounts).captures).toBe(5)
        for (const limit of [0, 101, 1.5]) {
          expect(Exit.isFailure(yield* Effect.exit(fake.captures(0, null, limit)))).toBe(true)
        }
        expect(Exit.isFailure(yield* Effect.exit(fake.captures(0, "ch_nope", 10)))).toBe(true)
      })
  )

  it.effect("PLANTED BUG ignoreIdempotencyKey: a retry after a lost response charges again", () =>
    Effect.gen(function* () {
      const { fake, request } = yield* setup({ seed: 3, faults: { ignoreIdempotencyKey: true } })
      yield* fake.loseNextResponses(1)
      yield* Effect.exit(fake.charge(request("ord_x")))
      yield* fake.charge(request("ord_x"))
      expect((yield* fake.chargesFor("ord_x")).length).toBe(2)
      expect((yield* fake.capturedTotal("USD")).amount).toBe(2 * amount.amount)
    })
  )

  it.effect("reset clears the faults and keeps the record", () =>
    Effect.gen(function* () {
      const { fake, request } = yield* setup()
      yield* fake.charge(request("a"))
      yield* fake.setFaults({ unavailableRate: 1 })
      expect((yield* Effect.flip(fake.charge(request("b"))))._tag).toBe("GatewayUnavailable")
      yield* fake.reset
      expect(yield* fake.faults).toEqual(FakePaymentGateway.noFaults)
      expect((yield* fake.allCharges).length).toBe(1)
    })
  )

  it.effect("a fault setting that cannot be meant is a defect", () =>
    Effect.gen(function* () {
      const fake = yield* FakePaymentGateway.make()
      expect(Exit.isFailure(yield* Effect.exit(fake.setFaults({ declineRate: 1.5 })))).toBe(true)
      expect(Exit.isFailure(yield* Effect.exit(fake.unavailableBetween(10, 5)))).toBe(true)
      expect(Exit.isFailure(yield* Effect.exit(fake.setFaults({ latencyMs: -1 })))).toBe(true)
      expect(Exit.isFailure(yield* Effect.exit(fake.setFaults({ lateCaptureRate: 2 })))).toBe(true)
      expect(Exit.isFailure(yield* Effect.exit(fake.setFaults({ lateCaptureMs: -5 })))).toBe(true)
      expect(Exit.isFailure(yield* Effect.exit(fake.captureNextLate(1.5)))).toBe(true)
      expect(yield* fake.faults).toEqual(FakePaymentGateway.noFaults)
    })
  )

  it.effect("no card number is kept anywhere reachable", () =>
    Effect.gen(function* () {
      const { fake, request } = yield* setup({ seed: 5 })
      yield* fake.tokenize(card(FakePaymentGateway.declineCard))
      yield* fake.charge(request("a"))
      const reachable = JSON.stringify({
        charges: yield* fake.allCharges,
        lookup: yield* fake.retrieve("a"),
        faults: yield* fake.faults,
        counts: yield* fake.callCounts,
        fake
      })
      expect(reachable).not.toContain(FakePaymentGateway.successCard)
      expect(reachable).not.toContain(FakePaymentGateway.declineCard)
    })
  )

  it.effect("one key charges once even when the runtime switches fibers every few steps", () =>
    Effect.gen(function* () {
      // 20 concurrent charges of one key, the runtime yielding every `budget` steps, the fibers
      // starting as forked or all after one yield. Recording a charge is a single runtime step on
      // Effect 4, so only some budgets put a yield inside it: without the lock, budgets 3, 5 and 11
      // (as forked) and 3, 4, 7 and 12 (aligned) each let 4 calls past the idempotency check and
      // charge 3 times. Below 3 steps no fiber would ever progress.
      for (const aligned of [false, true]) {
        for (let budget = 3; budget <= 16; budget++) {
          const { fake, request } = yield* setup({ seed: 7, faults: { declineRate: 0.5 } })
          const charge = Effect.result(fake.charge(request("ord_1")))
          const answers = yield* Effect.forEach(
            Array.from({ length: 20 }, () => (aligned ? Effect.andThen(Effect.yieldNow, charge) : charge)),
            (call) => call,
            { concurrency: "unbounded" }
          ).pipe(Effect.provideService(References.MaxOpsBeforeYield, budget))
          const charges = yield* fake.chargesFor("ord_1")
          const scenario = `budget ${budget}${aligned ? ", aligned" : ""}`
          expect(charges.length, scenario).toBeLessThanOrEqual(1)
          expect(new Set(answers.map((a) => JSON.stringify(a))).size, scenario).toBe(1)
        }
      }
    })
  )

  it.effect("the layer provides the port, Inspector and Control over one fake", () =>
    Effect.gen(function* () {
      const gateway = yield* PaymentGateway.PaymentGateway
      const inspector = yield* FakePaymentGateway.Inspector
      const control = yield* FakePaymentGateway.Control
      const method = yield* gateway.tokenize(card(FakePaymentGateway.successCard))
      yield* control.loseNextResponses(1)
      yield* Effect.exit(
        gateway.charge({ idempotencyKey: "k", amount, paymentMethodId: method.payment_method_id })
      )
      expect((yield* inspector.chargesFor("k")).length).toBe(1)
    }).pipe(Effect.provide(FakePaymentGateway.layer(9)))
  )
})
