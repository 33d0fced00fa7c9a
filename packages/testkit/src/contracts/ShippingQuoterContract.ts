/**
 * The ShippingQuoter contract: a quote is a non-negative amount in the subtotal's currency,
 * for any valid address, currency and number of units.
 */
import { expect, layer } from "@effect/vitest"
import { Address, Money, ShippingQuoter } from "@till/core"
import { Effect, type Layer } from "effect"

const address = (country: string) =>
  new Address.Address({
    name: "Grace Hopper",
    line1: "1 Main St",
    city: "Arlington",
    postal_code: "22201",
    country
  })

export const shippingQuoterContract = (
  name: string,
  quoterLayer: Layer.Layer<ShippingQuoter.ShippingQuoter, unknown>
): void => {
  layer(quoterLayer)(`ShippingQuoter contract: ${name}`, (it) => {
    it.effect("a quote is a non-negative amount in the subtotal's currency", () =>
      Effect.gen(function* () {
        const quoter = yield* ShippingQuoter.ShippingQuoter
        for (const [country, currency] of [
          ["US", "USD"],
          ["DE", "EUR"],
          ["JP", "JPY"]
        ] as const) {
          for (const units of [1, 3, 999]) {
            const quote = yield* quoter.quote({
              address: address(country),
              units,
              subtotal: Money.make(2500 * units, currency)
            })
            expect(quote.currency).toBe(currency)
            expect(Number.isSafeInteger(quote.amount)).toBe(true)
            expect(quote.amount).toBeGreaterThanOrEqual(0)
          }
        }
      })
    )

    it.effect("a free order still gets a quote", () =>
      Effect.gen(function* () {
        const quoter = yield* ShippingQuoter.ShippingQuoter
        const quote = yield* quoter.quote({ address: address("US"), units: 1, subtotal: Money.zero("USD") })
        expect(quote.currency).toBe("USD")
        expect(quote.amount).toBeGreaterThanOrEqual(0)
      })
    )
  })
}
