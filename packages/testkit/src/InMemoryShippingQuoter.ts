/**
 * The ShippingQuoter port in memory: a flat quote (599 minor units by default) or one per
 * destination country, always in the subtotal's currency. `Control` switches the quoter
 * down or slow at runtime, so tests can drive the saga's shipping timeout and fallback.
 */
import { Errors, Money, ShippingQuoter } from "@till/core"
import { Context, Duration, Effect, Layer } from "effect"

export interface Options {
  /** Quote for a country not listed in `minorByCountry`, in minor units. */
  readonly defaultMinor?: number
  readonly minorByCountry?: Readonly<Record<string, number>>
  readonly unavailable?: boolean
  /** Added to every quote with `Effect.sleep`, so `TestClock` drives it. */
  readonly latencyMs?: number
}

export const defaultMinor = 599

export class Control extends Context.Service<
  Control,
  {
    /** While true every quote fails `GatewayUnavailable`. */
    readonly setUnavailable: (unavailable: boolean) => Effect.Effect<void>
    readonly setLatencyMs: (latencyMs: number) => Effect.Effect<void>
    /** Quotes asked for so far (answered or not). */
    readonly quoteCount: Effect.Effect<number>
  }
>()("@till/testkit/InMemoryShippingQuoter/Control") {}

const requireMinor = (name: string, minor: number): number => {
  if (!Number.isSafeInteger(minor) || minor < 0)
    throw new RangeError(`${name} must be a non-negative integer`)
  return minor
}

export const make = (
  options: Options = {}
): Effect.Effect<ShippingQuoter.ShippingQuoter["Service"] & Control["Service"]> =>
  Effect.sync(() => {
    const fallback = requireMinor("defaultMinor", options.defaultMinor ?? defaultMinor)
    const byCountry = new Map<string, number>()
    for (const [country, minor] of Object.entries(options.minorByCountry ?? {})) {
      byCountry.set(country, requireMinor(`minorByCountry.${country}`, minor))
    }
    let unavailable = options.unavailable ?? false
    let latencyMs = requireMinor("latencyMs", options.latencyMs ?? 0)
    let quoteCount = 0

    return {
      quote: (request) =>
        Effect.gen(function* () {
          quoteCount++
          if (latencyMs > 0) yield* Effect.sleep(Duration.millis(latencyMs))
          if (unavailable) {
            return yield* new Errors.GatewayUnavailable({ reason: "shipping quoter unavailable (injected)" })
          }
          const minor = byCountry.get(request.address.country) ?? fallback
          return Money.make(minor, request.subtotal.currency)
        }),
      setUnavailable: (value) =>
        Effect.sync(() => {
          unavailable = value
        }),
      setLatencyMs: (ms) =>
        Effect.sync(() => {
          latencyMs = requireMinor("latencyMs", ms)
        }),
      quoteCount: Effect.sync(() => quoteCount)
    }
  })

const context = (options: Options) =>
  Layer.effectContext(
    Effect.map(make(options), (quoter) =>
      Context.make(ShippingQuoter.ShippingQuoter, quoter).pipe(Context.add(Control, quoter))
    )
  )

/** A flat 599 minor-unit quote, with its `Control`. */
export const layer: Layer.Layer<ShippingQuoter.ShippingQuoter | Control> = context({})

export const layerWith = (options: Options): Layer.Layer<ShippingQuoter.ShippingQuoter | Control> =>
  context(options)
