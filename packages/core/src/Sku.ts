/** Stock-keeping unit ids and line quantities: the two numbers a cart line is made of. */
import { Schema } from "effect"

export const Sku = Schema.String.check(
  Schema.isPattern(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, {
    message: "sku must be 1-64 characters of letters, digits, '.', '_' or '-'"
  })
).pipe(Schema.brand("Sku"))
export type Sku = typeof Sku.Type

export const make = (sku: string): Sku => Schema.decodeUnknownSync(Sku)(sku)

/** Most units of one SKU on one cart line: a bound, so no line can overflow a total. */
export const maxQuantity = 999

/** A positive whole number of units, at most `maxQuantity`. */
export const Quantity = Schema.Int.check(
  Schema.isGreaterThanOrEqualTo(1, { message: "quantity must be at least 1" }),
  Schema.isLessThanOrEqualTo(maxQuantity, { message: `quantity must be at most ${maxQuantity}` })
)
export type Quantity = typeof Quantity.Type
