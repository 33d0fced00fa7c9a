import { describe, expect, it } from "@effect/vitest"
import { Address, Errors, Money, ShippingQuoter } from "@till/core"
import { InMemoryShippingQuoter } from "@till/testkit"
import { shippingQuoterContract } from "@till/testkit/contracts"
import { Effect, Fiber } from "effect"
import { TestClock } from "effect/testing"

shippingQuoterContract("in-memory (flat)", InMemoryShippingQuoter.layer)
shippingQuoterContract(
  "in-memory (per country)",
  InMemoryShippingQuoter.layerWith({ defaultMinor: 1500, minorByCountry: { US: 0, DE: 899 } })
)

const address = (country: string) =>
  new Address.Address({ name: "A", line1: "1 Main St", city: "X", postal_code: "1", country })

describe("InMemoryShippingQuoter", () => {
  it.effect("quotes 599 flat by default, per country when configured", () =>
    Effect.gen(function* () {
      const flat = yield* InMemoryShippingQuoter.make()
      expect(
        yield* flat.quote({ address: address("FR"), units: 2, subtotal: Money.make(100, "EUR") })
      ).toEqual(Money.make(599, "EUR"))
      const byCountry = yield* InMemoryShippingQuoter.make({ defaultMinor: 1500, minorByCountry: { US: 0 } })
      const quote = (country: string) =>
        byCountry.quote({ address: address(country), units: 1, subtotal: Money.make(100, "USD") })
      expect((yield* quote("US")).amount).toBe(0)
      expect((yield* quote("CA")).amount).toBe(1500)
    })
  )

  it.effect("Control takes it down and slows it (TestClock drives the latency)", () =>
    Effect.gen(function* () {
      const quoter = yield* ShippingQuoter.ShippingQuoter
      const control = yield* InMemoryShippingQuoter.Control
      const request = { address: address("US"), units: 1, subtotal: Money.make(100, "USD") }
      yield* control.setUnavailable(true)
      expect(yield* Effect.flip(quoter.quote(request))).toBeInstanceOf(Errors.GatewayUnavailable)
      yield* control.setUnavailable(false)
      yield* control.setLatencyMs(3_000)
      const fiber = yield* Effect.forkChild(quoter.quote(request))
      yield* TestClock.adjust("2999 millis")
      expect(fiber.pollUnsafe()).toBeUndefined()
      yield* TestClock.adjust("1 millis")
      expect((yield* Fiber.join(fiber)).amount).toBe(599)
      expect(yield* control.quoteCount).toBe(2)
      // local: a quoter of this case's own, never one an enclosing provide already built.
    }).pipe(Effect.provide(InMemoryShippingQuoter.layer, { local: true }))
  )

  it.effect("a negative quote is refused at construction", () =>
    Effect.gen(function* () {
      const exit = yield* Effect.exit(InMemoryShippingQuoter.make({ defaultMinor: -1 }))
      expect(exit._tag).toBe("Failure")
    })
  )
})
