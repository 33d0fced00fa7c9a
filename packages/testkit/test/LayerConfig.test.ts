/** `layerConfig` of Checkout, Carts and Idempotency: Effect `Config`, decoded with each module's Schema. */
import { describe, expect, it } from "@effect/vitest"
import { Carts, Checkout, Idempotency, Till } from "@till/core"
import { TestTill } from "@till/testkit"
import { Cause, ConfigProvider, Effect, Exit, Layer } from "effect"

const provider = (values: unknown) => ConfigProvider.layer(ConfigProvider.fromUnknown(values))

/** The message a startup failure shows the operator. */
const startupError = <A, E>(layer: Layer.Layer<A, E>) =>
  Effect.map(Effect.exit(Effect.scoped(Layer.build(layer))), (exit) =>
    Exit.isFailure(exit) ? String(Cause.squash(exit.cause)) : "built"
  )

describe("layerConfig", () => {
  it.effect("reads checkout.*, carts.*, idempotency.* (env: CHECKOUT_HOLD_MS ...) over the defaults", () =>
    Effect.gen(function* () {
      expect(yield* Checkout.config()).toEqual({ ...Checkout.defaults, holdMs: 300_000 })
      expect(yield* Carts.config()).toEqual({ ...Carts.defaults, defaultCurrency: "EUR" })
      expect(yield* Idempotency.config()).toEqual({ ...Idempotency.defaults, leaseMs: 240_000 })
    }).pipe(
      Effect.provide(
        ConfigProvider.layer(
          ConfigProvider.fromEnv({
            env: { CHECKOUT_HOLD_MS: "300000", CARTS_DEFAULT_CURRENCY: "EUR", IDEMPOTENCY_LEASE_MS: "240000" }
          }).pipe(ConfigProvider.constantCase)
        )
      )
    )
  )

  it.effect("a bad value fails at startup with a message naming the key", () =>
    Effect.gen(function* () {
      const services = (values: unknown) =>
        Till.layerConfig.pipe(Layer.provide(TestTill.ports()), Layer.provide(provider(values)))
      const hold = yield* startupError(services({ checkout: { holdMs: 0 } }))
      expect(hold).toContain("checkout")
      expect(hold).toContain("holdMs")
      const currency = yield* startupError(services({ carts: { defaultCurrency: "euro" } }))
      expect(currency).toContain("carts")
      expect(currency).toContain("defaultCurrency")
      const lease = yield* startupError(services({ idempotency: { leaseMs: 10, ttlMs: 60_000 } }))
      expect(lease).toContain("idempotency")
      expect(lease).toContain("leaseMs")
      expect(yield* startupError(services({}))).toBe("built")
    })
  )

  it.effect("layerWith takes the settings in code; out of bounds is a defect at build", () =>
    Effect.gen(function* () {
      const exit = yield* Effect.exit(
        Effect.scoped(
          Layer.build(
            Checkout.layerWith({ holdMs: -1 }).pipe(
              Layer.provide(Till.layer),
              Layer.provide(TestTill.ports())
            )
          )
        )
      )
      expect(Exit.isFailure(exit) && Cause.hasDies(exit.cause)).toBe(true)
    })
  )
})
