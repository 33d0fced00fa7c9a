/**
 * The ports `till start` builds from its settings (src/Ports.ts), embedded: the fake payment
 * gateway answers after `TILL_GATEWAY_LATENCY_MS` (rehearsing the seed's ~1 s gateway), and at
 * once without it.
 */
import { it } from "@effect/vitest"
import { PaymentGateway } from "@till/core"
import { FakePaymentGateway } from "@till/testkit"
import { ConfigProvider, Effect, Fiber, Layer } from "effect"
import { TestClock } from "effect/testing"
import { expect } from "vitest"
import * as Ports from "../src/Ports.js"
import * as Settings from "../src/Settings.js"

const portsOf = (env: Record<string, string>) =>
  Layer.unwrap(
    Effect.map(
      Effect.gen(function* () {
        return yield* Settings.config
      }),
      Ports.layer
    ).pipe(Effect.provide(ConfigProvider.layer(Settings.provider(env))))
  )

/** Whether a tokenize is answered before `ms` of (test) time have passed, and after. */
const answeredWithin = (ms: number) =>
  Effect.gen(function* () {
    const gateway = yield* PaymentGateway.PaymentGateway
    const fiber = yield* Effect.forkChild(
      gateway.tokenize(FakePaymentGateway.card(FakePaymentGateway.successCard))
    )
    yield* TestClock.adjust(ms - 1)
    const early = fiber.pollUnsafe() !== undefined
    yield* TestClock.adjust(1)
    yield* Fiber.join(fiber)
    return early
  })

it.effect("TILL_GATEWAY_LATENCY_MS=200: the fake gateway answers after 200 ms, not before", () =>
  Effect.gen(function* () {
    expect(yield* answeredWithin(200)).toBe(false)
  }).pipe(Effect.provide(portsOf({ TILL_GATEWAY_LATENCY_MS: "200" })))
)

it.effect("by default the fake gateway answers at once", () =>
  Effect.gen(function* () {
    expect(yield* answeredWithin(200)).toBe(true)
  }).pipe(Effect.provide(portsOf({})))
)
