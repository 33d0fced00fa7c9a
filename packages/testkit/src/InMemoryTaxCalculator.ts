/**
 * The TaxCalculator port in memory: a flat rate in basis points per destination country
 * (`Money.basisPoints`, integer rounding half away from zero), `defaultBps` elsewhere.
 * `layer` charges no tax at all, so totals in tests are easy to read.
 */
import { Money, TaxCalculator } from "@till/core"
import { Effect, Layer } from "effect"

export interface Options {
  /** Rate for a country not listed in `bpsByCountry`; 0 by default. */
  readonly defaultBps?: number
  /** e.g. `{ US: 825, DE: 1900 }` (8.25 %, 19 %). */
  readonly bpsByCountry?: Readonly<Record<string, number>>
}

/** A rate above 100 % is certainly a typo in a test setup. */
export const maxBps = 10_000

const requireBps = (name: string, bps: number): number => {
  if (!Number.isSafeInteger(bps) || bps < 0 || bps > maxBps) {
    throw new RangeError(`${name} must be an integer between 0 and ${maxBps} basis points`)
  }
  return bps
}

export const make = (options: Options = {}): Effect.Effect<TaxCalculator.TaxCalculator["Service"]> =>
  Effect.sync(() => {
    const fallback = requireBps("defaultBps", options.defaultBps ?? 0)
    const byCountry = new Map<string, number>()
    for (const [country, bps] of Object.entries(options.bpsByCountry ?? {})) {
      byCountry.set(country, requireBps(`bpsByCountry.${country}`, bps))
    }
    return TaxCalculator.TaxCalculator.of({
      tax: (subtotal, address) =>
        Effect.sync(() => Money.basisPoints(subtotal, byCountry.get(address.country) ?? fallback))
    })
  })

/** No tax anywhere. */
export const layer: Layer.Layer<TaxCalculator.TaxCalculator> = Layer.effect(
  TaxCalculator.TaxCalculator,
  make()
)

export const layerWith = (options: Options): Layer.Layer<TaxCalculator.TaxCalculator> =>
  Layer.effect(TaxCalculator.TaxCalculator, make(options))
