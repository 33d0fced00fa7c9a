/**
 * Money as integer minor units plus an ISO 4217 currency. No floats anywhere: every price,
 * tax and total in Till is a `Money`, and arithmetic on two amounts of different currencies
 * is refused (`CurrencyMismatch`), never converted.
 */
import { Result, Schema } from "effect"
import { CurrencyMismatch } from "./Errors.js"

/** Upper bound on any amount: 10^13 minor units keeps every sum a safe integer. */
export const maxAmountMinor = 10_000_000_000_000

/** ISO 4217 alphabetic code (three upper-case letters). */
export const Currency = Schema.String.check(
  Schema.isPattern(/^[A-Z]{3}$/, { message: "currency must be an ISO 4217 code such as USD" })
).pipe(Schema.brand("Currency"))
export type Currency = typeof Currency.Type

export const Amount = Schema.Int.check(
  Schema.isBetween({ minimum: -maxAmountMinor, maximum: maxAmountMinor })
)

export class Money extends Schema.Class<Money>("Money")({
  amount: Amount,
  currency: Currency
}) {}

export const currency = (code: string): Currency => Schema.decodeUnknownSync(Currency)(code)

/** `Money.make(1999, "USD")` is 19.99 USD. */
export const make = (amount: number, code: string): Money => new Money({ amount, currency: currency(code) })

export const zero = (code: Currency | string): Money => make(0, code)

const same = (a: Money, b: Money): Result.Result<Currency, CurrencyMismatch> =>
  a.currency === b.currency
    ? Result.succeed(a.currency)
    : Result.fail(new CurrencyMismatch({ expected: a.currency, actual: b.currency }))

export const add = (a: Money, b: Money): Result.Result<Money, CurrencyMismatch> =>
  Result.map(same(a, b), (c) => unchecked(a.amount + b.amount, c))

export const subtract = (a: Money, b: Money): Result.Result<Money, CurrencyMismatch> =>
  Result.map(same(a, b), (c) => unchecked(a.amount - b.amount, c))

/** Unit price times an integer quantity. */
export const times = (m: Money, quantity: number): Money => {
  if (!Number.isSafeInteger(quantity)) throw new RangeError(`quantity must be an integer, got ${quantity}`)
  return unchecked(m.amount * quantity, m.currency)
}

/** Sum of amounts in one currency; the empty sum is zero of that currency. */
export const sum = (code: Currency, amounts: Iterable<Money>): Result.Result<Money, CurrencyMismatch> => {
  let total = 0
  for (const m of amounts) {
    if (m.currency !== code) return Result.fail(new CurrencyMismatch({ expected: code, actual: m.currency }))
    total = checked(total + m.amount)
  }
  return Result.succeed(unchecked(total, code))
}

/**
 * A share in basis points (1/100 of a percent), rounded half away from zero to a whole minor
 * unit, computed in integers: 8.25 % of 1999 is `basisPoints(m, 825)` = 165.
 */
export const basisPoints = (m: Money, bps: number): Money => {
  if (!Number.isSafeInteger(bps)) throw new RangeError(`basis points must be an integer, got ${bps}`)
  const product = m.amount * bps
  const sign = product < 0 ? -1 : 1
  const rounded = sign * Math.floor((Math.abs(product) + 5_000) / 10_000)
  return unchecked(rounded, m.currency)
}

export const equals = (a: Money, b: Money): boolean => a.amount === b.amount && a.currency === b.currency

export const isNegative = (m: Money): boolean => m.amount < 0

export const format = (m: Money): string => `${m.amount} ${m.currency}`

// Arithmetic results skip Schema's checks (`disableChecks`: the structure is still parsed): the
// inputs are valid Money and `checked` enforces the amount's bounds, so the checks would only cost
// time on the hot path. Measured on Effect 4.1.0 / Node 24 (best of 101 interleaved rounds),
// validated construction makes `add` 25-32 % slower and pricing an order of five lines (five
// `times`, a `sum`, `basisPoints`, two `add`s) 21-27 % slower.
const unchecked = (amount: number, currency: Currency): Money =>
  new Money({ amount: checked(amount), currency }, { disableChecks: true })

const checked = (amount: number): number => {
  if (!Number.isSafeInteger(amount) || Math.abs(amount) > maxAmountMinor) {
    throw new RangeError(`amount ${amount} is outside ±${maxAmountMinor} minor units`)
  }
  return amount
}
