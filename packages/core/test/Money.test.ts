import { describe, expect, it } from "@effect/vitest"
import { Arbitrary, Result, Schema } from "effect"
import { Money } from "@till/core"

const integer = (minimum: number, maximum: number) =>
  Arbitrary.schema(Schema.Int.check(Schema.isBetween({ minimum, maximum })))
const code = Arbitrary.schema(Schema.Literals(["USD", "EUR", "JPY"]))
const amount = integer(-1_000_000_000, 1_000_000_000)
const money = (c?: string) =>
  Arbitrary.all([amount, c ? Arbitrary.Constant(c) : code]).pipe(
    Arbitrary.map(([a, cur]) => Money.make(a, cur))
  )

describe("Money", () => {
  it.prop(
    "add is commutative and associative within one currency",
    [money("USD"), money("USD"), money("USD")],
    ([a, b, c]) => {
      const ab = Result.getOrThrow(Money.add(a, b))
      expect(Money.equals(ab, Result.getOrThrow(Money.add(b, a)))).toBe(true)
      const left = Result.getOrThrow(Money.add(ab, c))
      const right = Result.getOrThrow(Money.add(a, Result.getOrThrow(Money.add(b, c))))
      expect(Money.equals(left, right)).toBe(true)
    }
  )

  it.prop("zero is the identity and subtract undoes add", [money()], ([a]) => {
    expect(Money.equals(Result.getOrThrow(Money.add(a, Money.zero(a.currency))), a)).toBe(true)
    const b = Money.make(12_345, a.currency)
    expect(Money.equals(Result.getOrThrow(Money.subtract(Result.getOrThrow(Money.add(a, b)), b)), a)).toBe(
      true
    )
  })

  it.prop("mixed currencies are refused, never converted", [money("USD"), money("EUR")], ([usd, eur]) => {
    const result = Money.add(usd, eur)
    expect(Result.isFailure(result)).toBe(true)
    if (Result.isFailure(result)) expect(result.failure._tag).toBe("CurrencyMismatch")
    expect(Result.isFailure(Money.sum(Money.currency("USD"), [usd, eur]))).toBe(true)
  })

  it.prop("times is repeated addition and stays an integer", [money(), integer(0, 999)], ([m, q]) => {
    const product = Money.times(m, q)
    expect(Number.isSafeInteger(product.amount)).toBe(true)
    const repeated = Result.getOrThrow(
      Money.sum(
        m.currency,
        Array.from({ length: q }, () => m)
      )
    )
    expect(Money.equals(product, repeated)).toBe(true)
  })

  it.prop("basis points round half away from zero, in integers", [amount, integer(0, 10_000)], ([a, bps]) => {
    const share = Money.basisPoints(Money.make(a, "USD"), bps)
    expect(Number.isInteger(share.amount)).toBe(true)
    expect(Math.abs(share.amount - (a * bps) / 10_000)).toBeLessThanOrEqual(0.5)
  })

  it("computes the seed's example tax exactly", () => {
    expect(Money.basisPoints(Money.make(1999, "USD"), 825).amount).toBe(165)
    expect(Money.basisPoints(Money.make(-1999, "USD"), 825).amount).toBe(-165)
  })

  it("rejects bad currencies, fractional and out-of-range amounts", () => {
    expect(() => Money.make(100, "usd")).toThrow()
    expect(() => Money.make(100, "US")).toThrow()
    expect(() => Money.make(1.5, "USD")).toThrow()
    expect(() => Money.make(Money.maxAmountMinor + 1, "USD")).toThrow()
    expect(() => Money.times(Money.make(Money.maxAmountMinor, "USD"), 2)).toThrow(RangeError)
    expect(() => Money.times(Money.make(1, "USD"), 0.5)).toThrow(RangeError)
  })
})
