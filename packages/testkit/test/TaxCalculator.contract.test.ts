import { describe, expect, it } from "@effect/vitest"
import { Address, Money } from "@till/core"
import { InMemoryTaxCalculator } from "@till/testkit"
import { taxCalculatorContract } from "@till/testkit/contracts"
import { Effect } from "effect"

taxCalculatorContract("in-memory (no tax)", InMemoryTaxCalculator.layer)
taxCalculatorContract(
  "in-memory (per country)",
  InMemoryTaxCalculator.layerWith({ defaultBps: 500, bpsByCountry: { US: 825, DE: 1900 } })
)

const address = (country: string) =>
  new Address.Address({ name: "A", line1: "1 Main St", city: "X", postal_code: "1", country })

describe("InMemoryTaxCalculator", () => {
  it.effect("applies the country's basis points, rounding half away from zero", () =>
    Effect.gen(function* () {
      const calculator = yield* InMemoryTaxCalculator.make({ defaultBps: 500, bpsByCountry: { US: 825 } })
      expect(yield* calculator.tax(Money.make(1999, "USD"), address("US"))).toEqual(Money.make(165, "USD"))
      expect(yield* calculator.tax(Money.make(1999, "USD"), address("FR"))).toEqual(Money.make(100, "USD"))
      const none = yield* InMemoryTaxCalculator.make()
      expect(yield* none.tax(Money.make(1999, "USD"), address("US"))).toEqual(Money.make(0, "USD"))
    })
  )

  it.effect("a rate outside 0..10,000 bps is refused at construction", () =>
    Effect.gen(function* () {
      expect((yield* Effect.exit(InMemoryTaxCalculator.make({ defaultBps: -1 })))._tag).toBe("Failure")
      expect((yield* Effect.exit(InMemoryTaxCalculator.make({ bpsByCountry: { US: 10_001 } })))._tag).toBe(
        "Failure"
      )
    })
  )
})
