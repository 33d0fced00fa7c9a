import { Schema } from "effect"

/** An integer in `[minimum, maximum]`: the bound every count, size and duration of config takes. */
export const IntBetween = (minimum: number, maximum: number) =>
  Schema.Int.check(Schema.isBetween({ minimum, maximum }))
