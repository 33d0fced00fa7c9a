import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit } from "effect"
import * as Cart from "../src/Cart.js"
import { traced } from "../src/internal/traced.js"
import * as Money from "../src/Money.js"

describe("traced", () => {
  it.effect("opens the named span when the tracer is on (Effect's default)", () =>
    Effect.gen(function* () {
      const span = yield* traced("Carts.create")(Effect.currentSpan)
      expect(span.name).toBe("Carts.create")
    })
  )

  it.effect("opens none when the tracer is off", () =>
    Effect.gen(function* () {
      const exit = yield* Effect.exit(traced("Carts.create")(Effect.currentSpan))
      expect(Exit.isFailure(exit)).toBe(true)
    }).pipe(Effect.withTracerEnabled(false))
  )
})

describe("Cart constructors without validation still refuse bad ids", () => {
  it("an empty cart for an over-long user id throws the ParseError", () => {
    const usd = Money.currency("USD")
    expect(Cart.empty("cart_1", "u1", usd, "2025-01-01T00:00:00.000Z").user_id).toBe("u1")
    expect(() => Cart.empty("cart_1", "u".repeat(256), usd, "2025-01-01T00:00:00.000Z")).toThrow(/user_id/)
    expect(() => Cart.empty("", "u1", usd, "2025-01-01T00:00:00.000Z")).toThrow(/cart_id/)
  })
})
