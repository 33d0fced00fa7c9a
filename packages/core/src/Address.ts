/** A shipping address with bounded fields and an ISO 3166-1 alpha-2 country. */
import { Schema } from "effect"

const line = (max: number) =>
  Schema.Trim.check(
    Schema.isMinLength(1, { message: "must not be empty" }),
    Schema.isMaxLength(max, { message: `must be at most ${max} characters` })
  )

export const Country = Schema.String.check(
  Schema.isPattern(/^[A-Z]{2}$/, { message: "country must be an ISO 3166-1 alpha-2 code such as US" })
)

export class Address extends Schema.Class<Address>("Address")({
  name: line(200),
  line1: line(200),
  line2: Schema.optional(line(200)),
  city: line(100),
  region: Schema.optional(line(100)),
  postal_code: line(20),
  country: Country
}) {}
