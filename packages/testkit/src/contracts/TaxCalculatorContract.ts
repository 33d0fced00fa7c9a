/**
 * The TaxCalculator contract: tax is a whole, non-negative amount in the subtotal's
 * currency, zero on a zero subtotal, and never smaller for a larger subtotal to the same
 * address.
 */
import { expect, layer } from "@effect/vitest"
import { Address, Money, TaxCalculator } from "@till/core"
import { Effect, type Layer } from "effect"

const address = (country: string) =>
  new Address.Address({
    name: "Grace Hopper",
    line1: "1 Main St",
    city: "Arlington",
    postal_code: "22201",
    country
  })

const countries = ["US", "DE", "GB", "JP", "ZZ"] as const

export const taxCalculatorContract = (
  name: string,
  calculatorLayer: Layer.Layer<TaxCalculator.TaxCalculator, unknown>
): void => {
  layer(calculatorLayer)(`TaxCalculator contract: ${name}`, (it) => {
    it.effect("tax is a non-negative whole amount in the subtotal's currency", () =>
      Effect.gen(function* () {
        const calculator = yield* TaxCalculator.TaxCalculator
        for (const country of countries) {
          for (const amount of [1, 1999, 123_457, Money.maxAmountMinor / 10_000]) {
            const tax = yield* calculator.tax(Money.make(amount, "EUR"), address(country))
            expect(tax.currency).toBe("EUR")
            expect(Number.isSafeInteger(tax.amount)).toBe(true)
            expect(tax.amount).toBeGreaterThanOrEqual(0)
          }
        }
      })
    )

    it.effect("no tax on a zero subtotal", () =>
      Effect.gen(function* () {
        const calculator = yield* TaxCalculator.TaxCalculator
        for (const country of countries) {
          expect((yield* calculator.tax(Money.zero("USD"), address(country))).amount).toBe(0)
        }
      })
    )

    it.effect("a larger subtotal never pays less tax", () =>
      Effect.gen(function* () {
        const calculator = yield* TaxCalculator.TaxCalculator
        for (const country of countries) {
          let previous = 0
          for (const amount of [0, 1, 99, 100, 101, 1999, 2000, 10_000, 1_000_000]) {
            const tax = yield* calculator.tax(Money.make(amount, "USD"), address(country))
            expect(tax.amount).toBeGreaterThanOrEqual(previous)
            previous = tax.amount
          }
        }
      })
    )
  })
}
