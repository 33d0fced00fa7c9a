import { expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { program } from "../checkout.js"

it.effect("the README example checks out and is confirmed (201)", () =>
  Effect.gen(function* () {
    const { status, order } = yield* program
    expect(status).toBe(201)
    expect(order.status).toBe("confirmed")
    expect(order.subtotal.amount).toBe(3_000)
  })
)
