/**
 * Cards. A card number exists only inside `Redacted` on its way to the gateway's tokenizer;
 * what Till keeps is the token (`payment_method_id`), the brand and the last four digits.
 */
import { Schema } from "effect"

// Custom messages on purpose: neither a card number nor a CVC may appear in an error. Schema's
// default messages leave the input out only while nobody decodes with `reportInput: true`.
export const CardNumber = Schema.RedactedFromValue(
  Schema.String.check(Schema.isPattern(/^[0-9]{12,19}$/, { message: "card number must be 12-19 digits" }))
)

export class CardInput extends Schema.Class<CardInput>("CardInput")({
  number: CardNumber,
  exp_month: Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 12 })),
  exp_year: Schema.Int.check(Schema.isBetween({ minimum: 2000, maximum: 2100 })),
  cvc: Schema.RedactedFromValue(
    Schema.String.check(Schema.isPattern(/^[0-9]{3,4}$/, { message: "cvc must be 3 or 4 digits" }))
  )
}) {}

export const PaymentMethodId = Schema.String.check(Schema.isMinLength(1), Schema.isMaxLength(255))

/** What is kept of a card: never the number. */
export class PaymentMethod extends Schema.Class<PaymentMethod>("PaymentMethod")({
  payment_method_id: PaymentMethodId,
  brand: Schema.String,
  last4: Schema.String.check(Schema.isPattern(/^[0-9]{4}$/))
}) {}

/** Luhn checksum over a digit string. */
export const luhnValid = (digits: string): boolean => {
  if (!/^[0-9]+$/.test(digits)) return false
  let total = 0
  for (let i = 0; i < digits.length; i++) {
    let d = digits.charCodeAt(digits.length - 1 - i) - 48
    if (i % 2 === 1) {
      d *= 2
      if (d > 9) d -= 9
    }
    total += d
  }
  return total % 10 === 0
}

/** Brand from the number's prefix (the common public ranges). */
export const brandOf = (digits: string): string => {
  if (/^4/.test(digits)) return "visa"
  if (/^(5[1-5]|2[2-7])/.test(digits)) return "mastercard"
  if (/^3[47]/.test(digits)) return "amex"
  if (/^6(011|5)/.test(digits)) return "discover"
  return "unknown"
}
